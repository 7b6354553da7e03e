"""Golden parity: the reference engine against the official PyTorch code's float64 vectors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from resonet import verify
from tests.conftest import (
    GOLDEN_DIR,
    SHARED_GOLDEN_DIR,
    SHARED_GOLDEN_NEXT_DIR,
    golden_files,
    needs_golden_master,
    pending_golden_files,
)

SHIPPED = {"alif_seed1.npz", "bhrf_seed1.npz", "brf_seed1.npz", "brf_seed2.npz", "brf_seed3.npz",
           "lif_seed1.npz", "rf_seed1.npz", "README.md",
           "alif2_seed1.npz",  # from golden-next: two stacked ALIF layers with biases
           "bhrf_sigmoid_seed1.npz"}  # from golden-next: BHRF with the sigmoid readout


def test_golden_files_ship_with_the_project():
    """The golden vectors are part of the repository, so a user's clone can run resonet.verify."""
    assert {p.name for p in GOLDEN_DIR.iterdir()} >= SHIPPED
    assert golden_files(), "no golden file of an implemented model"


@needs_golden_master
def test_shipped_golden_files_equal_the_master_copies():
    """tests/golden holds byte-identical copies of every master golden vector (and their README),
    and of the files of ``golden-next`` whose feature resonet implements (the ``SHIPPED`` ones):
    nothing else, and nothing that differs from its master."""
    master = {p.name: p for p in SHARED_GOLDEN_DIR.iterdir() if p.is_file()}
    nxt = {p.name: p for p in SHARED_GOLDEN_NEXT_DIR.iterdir() if p.is_file()} \
        if SHARED_GOLDEN_NEXT_DIR.is_dir() else {}
    shipped = sorted(p.name for p in GOLDEN_DIR.iterdir() if p.is_file())
    assert set(master) <= set(shipped), sorted(set(master) - set(shipped))
    assert set(shipped) <= set(master) | set(nxt), sorted(set(shipped) - set(master) - set(nxt))
    assert SHIPPED - set(master) <= set(nxt), "golden-next is missing a shipped file's master"
    for name in shipped:
        src = master.get(name) or nxt[name]
        assert (GOLDEN_DIR / name).read_bytes() == src.read_bytes(), name


@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_reference_matches_golden(path):
    g = verify.load_golden(str(path))
    rows, mismatches = verify.check(g, "reference")
    assert mismatches == 0
    for name, err in rows:
        assert err <= verify.TOLERANCE, f"{name}: {err:.3e}"
    # every gradient tensor of the file was compared
    assert {n for n, _ in rows if n.startswith("grad ")} == {f"grad {k}" for k in g.grads}


def _one_layer():
    """A golden file of a network with one hidden layer (the keys ``hidden/i``,
    ``grad/hidden.*``)."""
    return next(p for p in golden_files() if p.name == "alif_seed1.npz")


def run_verify(*args):
    return subprocess.run([sys.executable, "-m", "resonet.verify", *map(str, args)],
                          capture_output=True, text=True)


def test_cli_passes_all_golden_files():
    r = run_verify(*golden_files())
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("=> PASS") == len(golden_files())


def test_json_output_carries_the_tables_numbers(tmp_path):
    """``--json``: one JSON object with every file's errors (as check() computes them), the
    verdict per file and overall; a failing file fails it with exit code 1 and stays strict JSON."""
    src = _one_layer()
    r = run_verify(src, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    assert res["passed"] and res["n_failed"] == 0 and res["backend"] == "reference"
    rows, mism = verify.check(verify.load_golden(str(src)))
    (f,) = res["files"]
    assert f["errors"] == pytest.approx(dict(rows), rel=0, abs=0) and f["spike_mismatches"] == mism
    d = np.load(src)
    bad = d["outputs"].copy()
    bad.reshape(-1)[0] = np.inf  # an infinite error: "inf" in strict JSON
    dst = tmp_path / "perturbed.npz"
    _rewrite(src, dst, outputs=bad)
    r = run_verify(src, dst, "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    res = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert not res["passed"] and res["n_failed"] == 1
    assert [f["passed"] for f in res["files"]] == [True, False]
    assert res["files"][1]["errors"]["outputs"] == "inf"


def _rewrite(src, dst, **changes):
    d = dict(np.load(src))
    d.update(changes)
    np.savez(dst, **d)


def test_cli_refuses_a_model_it_does_not_implement(tmp_path):
    """A golden file of a model resonet does not implement (a file may arrive before its model,
    as lif_seed1.npz once did) is refused with one line, not a traceback."""
    src = _one_layer()
    meta = json.loads(str(np.load(src)["meta_json"]))
    meta["model"] = "qif"
    dst = tmp_path / "qif_seed1.npz"
    _rewrite(src, dst, meta_json=np.array(json.dumps(meta)))
    for path in [dst, *pending_golden_files()]:
        r = run_verify(path)
        assert r.returncode == 2, r.stdout + r.stderr
        assert "unknown neuron" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("key", ["grad/hidden.linear.weight", "outputs", "hidden/1"])
def test_cli_fails_on_perturbed_file(tmp_path, key):
    src = _one_layer()
    d = np.load(src)
    bad = d[key].copy()
    bad.reshape(-1)[3] *= 1 + 1e-6  # a relative change far above the 1e-9 tolerance
    dst = tmp_path / "perturbed.npz"
    _rewrite(src, dst, **{key: bad})
    r = run_verify(dst)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL" in r.stdout


def test_cli_fails_on_flipped_spike(tmp_path):
    src = next(p for p in golden_files() if p.name.startswith("brf"))
    d = np.load(src)
    z = d["hidden/0"].copy()
    z[5, 0, 0] = 1 - z[5, 0, 0]
    dst = tmp_path / "flipped.npz"
    _rewrite(src, dst, **{"hidden/0": z})
    r = run_verify(dst)
    assert r.returncode == 1
    assert "spike mismatches" in r.stdout and "FAIL" in r.stdout


def test_cli_missing_file_exit_2(tmp_path):
    r = run_verify(tmp_path / "nope.npz")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "nope.npz" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("case", ["garbage", "no_meta", "bad_shape", "bad_json"])
def test_cli_malformed_file_exit_2(tmp_path, case):
    dst = tmp_path / f"{case}.npz"
    src = _one_layer()
    if case == "garbage":
        dst.write_bytes(b"this is not a zip archive")
    elif case == "no_meta":
        d = dict(np.load(src))
        del d["meta_json"]
        np.savez(dst, **d)
    elif case == "bad_shape":
        _rewrite(src, dst, **{"param/hidden.linear.weight": np.zeros((3, 3))})
    else:
        _rewrite(src, dst, meta_json=np.array("{not json"))
    r = run_verify(dst)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and dst.name in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
