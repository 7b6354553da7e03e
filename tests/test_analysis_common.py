"""analysis.common: checkpoint loading, evaluation data, evaluation, output files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.common import (
    EvalData,
    evaluate,
    load_npz_data,
    load_run,
    to_jsonable,
    unique_path,
    write_checkpoint,
)
from resonet.backends import get_backend
from resonet.checkpoint import save_checkpoint
from resonet.errors import CheckpointError, ConfigError, DataError
from resonet.loss import nll_loss
from resonet.network import NetworkSpec, init_params
from resonet.runlog import write_json


@pytest.fixture
def run(tmp_path):
    spec = NetworkSpec("brf", 3, 5, 2, sub_seq_length=2)
    params = init_params(spec, np.random.default_rng(0))
    write_checkpoint(tmp_path / "run", spec, params, task="toy")
    return tmp_path / "run", spec, params


def test_checkpoint_round_trip_from_dir_and_npz(run):
    d, spec, params = run
    for path in (d, d / "best.npz"):
        s, p, cfg = load_run(path)
        assert s == spec
        assert cfg["task"] == "toy"
        assert set(p) == set(spec.param_shapes())
        for k in p:
            np.testing.assert_array_equal(p[k], params[k])


def test_checkpoint_layout_is_the_trainers(run):
    """param/<name> arrays and meta_json with spec and task (resonet.checkpoint); config.json with
    the training settings."""
    d, spec, _ = run
    with np.load(d / "best.npz") as f:
        assert sorted(k for k in f.files if k.startswith("param/")) == sorted(
            f"param/{k}" for k in spec.param_shapes())
        meta = json.loads(str(f["meta_json"]))
    assert meta["spec"] == spec.to_dict() and meta["task"] == "toy"
    assert json.loads((d / "config.json").read_text())["settings"]["spec"] == spec.to_dict()


def test_spec_from_meta_alone_or_from_config_alone(run, tmp_path):
    d, spec, params = run
    (d / "config.json").unlink()  # meta_json suffices
    s, _, cfg = load_run(d)
    assert s == spec and cfg["task"] == "toy" and cfg["settings"] == {}
    # a bare npz (no meta_json) with a top-level spec in config.json (the minimal layout)
    bare = tmp_path / "bare"
    bare.mkdir()
    np.savez(bare / "best.npz", **{f"param/{k}": v for k, v in params.items()})
    (bare / "config.json").write_text(json.dumps({"spec": spec.to_dict(), "task": "x"}))
    s, p, cfg = load_run(bare / "best.npz")
    assert s == spec and cfg["task"] == "x"
    np.testing.assert_array_equal(p["hidden.omega"], params["hidden.omega"])


def test_other_checkpoints_of_a_run(run):
    d, spec, params = run
    save_checkpoint(d / "init.npz", params, meta={"spec": spec.to_dict(), "task": "toy"})
    s, _, cfg = load_run(d / "init.npz")
    assert s == spec and cfg["path"].endswith("init.npz")


def test_write_checkpoint_refuses_to_overwrite(run):
    d, spec, params = run
    with pytest.raises(CheckpointError, match="refusing"):
        write_checkpoint(d, spec, params)


@pytest.mark.parametrize("breakage, match", [
    ("no_dir", "no best.npz"),
    ("no_npz_file", "no such checkpoint"),
    ("bare_no_config", "config.json missing"),
    ("bare_bad_json", "not readable JSON"),
    ("bare_no_spec", "has no spec"),
    ("bad_meta", "meta_json is not valid JSON"),
    ("bad_spec", "bad spec"),
    ("unknown_field", "unknown spec field"),
    ("missing_param", "hidden.omega is missing"),
    ("wrong_shape", "has shape"),
    ("nan_param", "NaN"),
    ("not_npz", "not a readable .npz"),
    ("no_params", "no 'param/<name>' arrays"),
])
def test_checkpoint_errors_name_the_file(run, tmp_path, breakage, match):
    d, spec, params = run
    path = d
    cfg = d / "config.json"
    npz = d / "best.npz"
    arrays = {f"param/{k}": v for k, v in params.items()}
    meta = {"spec": spec.to_dict(), "task": "toy"}
    if breakage == "no_dir":
        path = tmp_path / "empty"
        path.mkdir()
    elif breakage == "no_npz_file":
        path = tmp_path / "nothing.npz"
    elif breakage.startswith("bare"):
        np.savez(npz, **arrays)  # no meta_json: the spec must come from config.json
        if breakage == "bare_no_config":
            cfg.unlink()
        elif breakage == "bare_bad_json":
            cfg.write_text("{not json")
        else:
            cfg.write_text(json.dumps({"settings": {"task": "toy"}}))
    elif breakage == "bad_meta":
        np.savez(npz, **arrays, meta_json=np.array("{oops"))
    elif breakage in ("bad_spec", "unknown_field"):
        extra = {"n_hidden": -1} if breakage == "bad_spec" else {"colour": 1}
        bad = {**spec.to_dict(), **extra}
        np.savez(npz, **arrays, meta_json=np.array(json.dumps({**meta, "spec": bad})))
    elif breakage in ("missing_param", "wrong_shape", "nan_param", "no_params"):
        if breakage == "missing_param":
            del arrays["param/hidden.omega"]
        elif breakage == "wrong_shape":
            arrays["param/hidden.omega"] = np.zeros(7)
        elif breakage == "nan_param":
            arrays["param/hidden.omega"] = np.full(5, np.nan)
        else:
            arrays = {"weights": np.zeros(3)}
        np.savez(npz, **arrays, meta_json=np.array(json.dumps(meta)))
    elif breakage == "not_npz":
        npz.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=match) as exc:
        load_run(path)
    msg = str(exc.value)
    assert str(tmp_path) in msg  # names the file
    assert "\n" not in msg


def test_unique_path_never_overwrites(tmp_path):
    p = tmp_path / "a.json"
    assert unique_path(p) == p
    first = write_json(p, {"x": 1}, unique=True)
    second = write_json(p, {"x": 2}, unique=True)
    third = write_json(p, to_jsonable({"x": np.float64(np.nan), "y": np.arange(2)}), unique=True)
    assert (first.name, second.name, third.name) == ("a.json", "a-2.json", "a-3.json")
    assert json.loads(first.read_text()) == {"x": 1}
    assert json.loads(third.read_text()) == {"x": None, "y": [0, 1]}


def test_eval_data_validation(tmp_path):
    with pytest.raises(DataError, match="time-major"):
        EvalData(np.zeros((3, 4)), np.zeros(4, int))
    with pytest.raises(DataError, match="y must be"):
        EvalData(np.zeros((3, 4, 2)), np.zeros(5, int))
    with pytest.raises(DataError, match="integers"):
        EvalData(np.zeros((3, 4, 2)), np.zeros(4))
    with pytest.raises(DataError, match="no such data file"):
        load_npz_data(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 4, 2)))
    with pytest.raises(DataError, match="needs arrays"):
        load_npz_data(tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="--limit"):
        EvalData(np.zeros((3, 4, 2)), np.zeros(4, int), limit=0)


@pytest.mark.parametrize("per_step", [False, True])
def test_evaluate_matches_a_direct_computation(per_step):
    """Batched evaluation = one big forward pass scored by hand (loss per recorded step, accuracy,
    SOPs per sample); per-step labels with −1 count as class 0 (official) and are left out of
    the labelled accuracy."""
    rng = np.random.default_rng(1)
    spec = NetworkSpec("brf", 3, 6, 3, sub_seq_length=4)
    params = init_params(spec, rng)
    params["hidden.linear.weight"] *= 40
    T, N = 12, 23
    x = (rng.random((T, N, 3)) < 0.3) * 20.0
    y = rng.integers(-1, 3, (T, N)) if per_step else rng.integers(0, 3, N)
    m = evaluate(spec, params, EvalData(x, y), batch_size=5)
    res = get_backend("reference").run(spec, params, x, grads=False)
    out = res.outputs
    T_rec = T - 4
    if per_step:
        y_rec = y[4:]
        pred = out.argmax(-1)
        acc = (pred == np.where(y_rec < 0, 0, y_rec)).mean() * 100
        lab = y_rec >= 0
        acc_l = (pred == y_rec)[lab].mean() * 100
        loss, _ = nll_loss(out, np.where(y_rec < 0, 0, y_rec))
    else:
        acc = acc_l = (out.mean(0).argmax(-1) == y).mean() * 100
        loss, _ = nll_loss(out, np.broadcast_to(y, (T_rec, N)))
    assert m["accuracy"] == pytest.approx(acc)
    assert m["accuracy_labelled"] == pytest.approx(acc_l)
    assert m["loss"] == pytest.approx(loss / T_rec, rel=1e-12)
    assert m["sops"] == pytest.approx(res.num_spikes.mean())
    assert m["sops"] > 0
    assert m["sops_per_step"] == pytest.approx(res.num_spikes.mean() / T)
