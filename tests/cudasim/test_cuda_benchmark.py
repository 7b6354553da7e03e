"""``benchmarks/train_step.py --backend cuda`` (its device-epoch timing) on a shrunken task."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("task,size", [("shd", (12, 6, 3, 8)), ("smnist", (1, 6, 3, 8))])
def test_benchmark_cuda_path_runs(tmp_path, monkeypatch, task, size):
    spec = importlib.util.spec_from_file_location("bench_train_step",
                                                  ROOT / "benchmarks" / "train_step.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setitem(bench.TASKS[task], "size", size)  # tiny network: the simulator is slow
    out = tmp_path / "b.json"
    rc = bench.main(["--task", task, "--backend", "cuda", "--batch", "3", "--repeats", "1",
                     "--warmup", "1", "--hidden-rate", "0", "--epoch-samples", "7",
                     "--infer-batch", "4", "--json", str(out)])
    assert rc == 0
    res = json.loads(out.read_text())["cuda_epoch"]
    assert res["samples"] == 7 and res["batches"] == 3 and res["epoch_median_s"] > 0
