"""analysis.official: the statistics it puts beside the official results, and its subcommands on
the published networks (where they are present: tests/conftest.py needs_official)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.official import (
    agreement,
    main,
    matching_model,
    resonator_stats,
    surface_stats,
)
from resonet.errors import ConfigError
from resonet.neurons.brf import boundary
from tests.conftest import ECG_DIR, MNIST_DIR, OFFICIAL_DIR, needs_ecg, needs_mnist, needs_official


def _grid(n=25):
    g = np.linspace(-1, 1, n)
    return np.meshgrid(g, g, indexing="ij")


def test_surface_stats_of_a_bowl_and_of_a_bumpy_surface():
    A, B = _grid()
    bowl = 1.0 + A ** 2 + 2 * B ** 2
    st = surface_stats(bowl)
    assert st["local_minima"] == 1 and st["convex_fraction"] == 1.0
    assert st["argmin_from_centre"] == 0.0 and st["min"] == pytest.approx(1.0)
    assert st["range"] == pytest.approx(3.0)
    h = 2 / 24  # the discrete Laplacian of the bowl is (2 + 4)·h² everywhere
    assert st["roughness"] == pytest.approx(6 * h * h / 3.0)
    bumpy = bowl + 0.3 * np.sin(9 * A) * np.sin(9 * B)
    sb = surface_stats(bumpy)
    assert sb["local_minima"] > 1 and sb["roughness"] > 2 * st["roughness"]
    assert sb["convex_fraction"] < 0.7
    # the basin: a broad bowl holds more of the grid near its minimum than a narrow well
    well = 1.0 + 3 * (1 - np.exp(-(A ** 2 + B ** 2) / 0.02))
    assert surface_stats(well)["basin"] < 0.1 < st["basin"]
    assert surface_stats(bowl[::-1] + 0 * A)["local_minima"] == 1


def test_matching_model_and_agreement():
    assert matching_model(np.array([98.91, 98.96, 99.14, 99.05]), 99.15) == 2
    assert matching_model(np.array([98.91, 98.96]), 99.15) is None
    # a 10-image evaluation gives every model 90 %: the clean SOPs pick the network
    acc, sops = np.full(5, 90.0), np.array([33663.4, 32643.6, 32357.8, 30876.8, 31462.1])
    assert matching_model(acc, 90.0) == 0  # accuracy alone cannot tell them apart
    assert matching_model(acc, 90.0, official_sops0=sops, clean_sops=32637.6) == 1
    assert matching_model(acc, 90.0, official_sops0=sops, clean_sops=35000.0) is None
    assert matching_model(acc, 80.0, official_sops0=sops, clean_sops=32637.6) is None
    rng = np.random.default_rng(0)
    off = 90 + rng.normal(0, 0.2, (3, 5, 5))  # levels, models, repetitions
    r = {"levels": [0, 0.1, 0.2], "acc": off[:, 1] + np.array([[0.0], [0.05], [5.0]]),
         "off_acc": off, "sops": np.ones((3, 5)), "off_sops": np.ones((3, 5, 5)), "match": 1}
    ok = [row["ok"] for row in agreement(r)]
    assert ok == [True, True, False]
    r["match"] = None  # then against the mean of the 5 models
    rows = agreement(r)
    assert rows[0]["official"] == pytest.approx(off[0].mean())


def test_resonator_stats():
    w = np.concatenate([np.full(30, 24.5), np.full(20, 41.0), [5.0]])
    st = resonator_stats(w, np.zeros_like(w), "brf")
    assert st["omega_peaks"][:2] == [(24.0, 26.0, 30), (40.0, 42.0, 20)]
    assert st["diverging"] == 0 and st["radius_max"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(st["b_c"], boundary(w))
    rf = resonator_stats(w, np.full_like(w, 0.1), "rf")  # b = −0.1: sustained growth at ω ≥ 5
    assert rf["diverging"] == w.size and np.all(rf["b_c"] == -0.1)
    # stable iff b′ >= −p(ω) (reference-spec §11.3): −p(41) = 8.79, so b′ = 5 leaves the
    # 20 neurons at ω = 41 diverging and b′ = 10 none
    assert resonator_stats(w, np.full_like(w, 5.0), "rf")["diverging"] == 20
    assert resonator_stats(w, np.full_like(w, 10.0), "rf")["diverging"] == 0


@needs_official
@needs_mnist
def test_robustness_units_resume_and_refuse_other_settings(tmp_path, capsys):
    args = ["robustness", "--models", str(OFFICIAL_DIR), "--data-dir", str(MNIST_DIR), "--out",
            str(tmp_path), "--limit", "3", "--repeats", "2", "--kinds", "input_noise,bits",
            "--models-of", "brf"]
    assert main(args) == 0
    units = sorted(p.name for p in (tmp_path / "units").glob("*.json"))
    assert len(units) == 8 * 2 + 7  # input noise: 8 levels x 2 repetitions; bits: 7 levels
    data = json.loads((tmp_path / "robustness_official.json").read_text())
    rows = data["models"]["brf"]["bits"]["rows"]
    assert [r["level"] for r in rows] == [1, 2, 4, 8, 16, 32, 64]
    # f <= 4: the readout's decay rounds to 1 and the output stays 0: class 0 for every image
    assert rows[0]["sops"] > 0 and all(r["official"] == pytest.approx(9.8) for r in rows[:3])
    assert rows[-1]["ours"] == rows[-2]["ours"]  # f = 64 leaves float32 unchanged, as f = 32
    capsys.readouterr()
    assert main(args) == 0  # a run again continues: nothing left to do
    assert "0 work unit(s) to run" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="written with other settings"):
        main(args + ["--seed", "1"])


@needs_official
@needs_mnist
def test_landscape_grid_and_statistics(tmp_path):
    assert main(["landscape", "--models", str(OFFICIAL_DIR), "--data-dir", str(MNIST_DIR), "--out",
                 str(tmp_path), "--limit", "2", "--n", "3", "--models-of", "brf"]) == 0
    d = json.loads((tmp_path / "landscape_official.json").read_text())["models"]["brf"]
    loss = np.array(d["loss"])
    assert loss.shape == (3, 3) and np.all(np.isfinite(loss))
    assert d["official"]["min"] == pytest.approx(0.40038, abs=1e-4)  # the shipped BRF stats
    assert (tmp_path / "landscape_official.png").is_file()


@needs_official
@needs_ecg
def test_table1_rows_and_params(tmp_path):
    assert main(["table1", "--models", str(OFFICIAL_DIR), "--ecg-dir", str(ECG_DIR), "--out",
                 str(tmp_path), "--only", "ecg/brf"]) == 0
    rows = json.loads((tmp_path / "table1_official.json").read_text())
    assert rows[0]["float64"]["acc"] == pytest.approx(86.2188, abs=1e-4)
    assert rows[0]["paper"] == [85.8, 6307.7, 4.85]
    assert main(["params", "--models", str(OFFICIAL_DIR), "--out", str(tmp_path)]) == 0
    p = {r["key"]: r for r in json.loads((tmp_path / "params_official.json").read_text())}
    assert p["smnist/brf"]["omega_peaks"][0][:2] == [22.0, 24.0]  # the paper: 23.3-25.3
    assert p["psmnist/rf"]["diverging"] == 256 and p["smnist/brf"]["diverging"] == 0


def _write_curve(path, val_loss, test_acc):
    rows = [",metric,value,step"]
    i = 0
    for name, values in (("Loss/val", val_loss), ("accuracy/test", test_acc)):
        for step, v in enumerate(values):
            rows.append(f"{i},{name},{v},{float(step)}")
            i += 1
    path.write_text("\n".join(rows) + "\n")


def test_official_curve_statistics(tmp_path, capsys):
    """The best-validation epoch is the last minimum (the scripts' `val_loss <= min_val_loss`),
    the sds are given with both ddofs, Table 2's epochs count from epoch 0."""
    d = tmp_path / "experiments" / "ecg" / "csv_files"
    d.mkdir(parents=True)
    _write_curve(d / "ecg_best_model_run_0.csv", [2.0, 1.0, 1.5, 1.0, 1.2], [10, 50, 60, 70, 80])
    _write_curve(d / "ecg_best_model_run_1.csv", [2.0, 0.5, 0.9, 0.8, 0.7], [10, 76, 78, 79, 84])
    assert main(["curves", "--src", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    st = json.loads((tmp_path / "o" / "official_curves.json").read_text())["brf"]
    assert [r["best_epoch"] for r in st["runs"]] == [3, 1]
    assert [r["best_val"] for r in st["runs"]] == [70.0, 76.0]
    assert st["final"]["mean"] == 82.0
    assert st["final"]["sd0"] == pytest.approx(2.0) and st["final"]["sd1"] == pytest.approx(2 ** 0.5 * 2)
    # 95 % of 80 = 76 first reached at epoch 4; of 84 = 79.8 at epoch 4; 100 %: the last epoch
    assert [r["e95"] for r in st["runs"]] == [4, 4] and [r["e100"] for r in st["runs"]] == [4, 4]
    assert "| BRF | 2 |" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="no experiments/ecg/csv_files"):
        main(["curves", "--src", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
