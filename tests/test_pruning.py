"""Training with pruned recurrent weights (``--prune-recurrent``, resonet.pruning; Fig. 7).

The mask's draw (its own random stream, nested over φ), the optimizers leaving pruned weights at
exactly +0.0 (Adam, RAdam through its rectification switch, RMSprop), the host session zeroing
those gradients before the finiteness check and the clipping norm, the trainer (φ = 0
bit-identical to no option, the same initial network for every φ, exact resume, a checkpoint
that does not fit the mask refused) and the command line.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from resonet.backends import get_backend
from resonet.checkpoint import load_checkpoint, save_checkpoint
from resonet.data import DenseDataset, TaskData
from resonet.errors import CheckpointError, ConfigError
from resonet.network import NetworkSpec, init_params
from resonet.optim import RAdam, make_optimizer
from resonet.pruning import (
    apply_masks,
    check_phi,
    mask_grads,
    mask_rng,
    recurrent_keep,
    weight_masks,
)
from resonet.rundir import RunDir
from resonet.runlog import Log
from resonet.session import HostSession
from resonet.settings import build_parser, resolve_settings
from resonet.train import Trainer
from tests.conftest import ECG_DIR, ROOT, needs_ecg

W = "hidden.linear.weight"


# -- the mask --------------------------------------------------------------------------------

def test_mask_endpoints_nesting_and_fraction():
    H = 120
    assert recurrent_keep(H, 0.0, 3).all()  # φ = 0: nothing removed, exactly
    assert not recurrent_keep(H, 1.0, 3).any()  # φ = 1: no recurrent weight left
    masks = [recurrent_keep(H, phi, 3) for phi in np.linspace(0, 1, 11)]
    for a, b in zip(masks, masks[1:]):
        assert not (b & ~a).any()  # nested: what φ removes, every larger φ removes too
    for phi, keep in zip(np.linspace(0, 1, 11), masks):
        sd = math.sqrt(phi * (1 - phi) / H**2)
        assert abs((1 - keep.mean()) - phi) <= 5 * sd + 1e-12, phi
    np.testing.assert_array_equal(recurrent_keep(H, 0.4, 3), recurrent_keep(H, 0.4, 3))
    assert (recurrent_keep(H, 0.4, 3) != recurrent_keep(H, 0.4, 4)).any()


def test_mask_stream_is_not_the_init_stream():
    """The mask must not consume or mirror default_rng(seed), which draws the parameters."""
    a = mask_rng(5).random(64)
    b = np.random.default_rng(5).random(64)
    assert not np.allclose(a, b)
    assert np.corrcoef(a, b)[0, 1] ** 2 < 0.2


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), float("inf"), "half", True, None])
def test_phi_out_of_range_is_a_named_error(bad):
    with pytest.raises(ConfigError, match="prune-recurrent"):
        check_phi(bad)


def test_weight_masks_touch_only_the_recurrent_block():
    spec = NetworkSpec("brf", 4, 5, 3)
    keep = recurrent_keep(5, 0.5, 0)
    m = weight_masks(spec, keep)[W]
    assert m.shape == (5, 9) and m[:, :4].all()
    np.testing.assert_array_equal(m[:, 4:], keep)
    with pytest.raises(ConfigError, match="shape"):
        weight_masks(spec, np.ones((4, 4), bool))


# -- the optimizers never move a weight whose gradient is always 0 --------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["adam", "radam", "rmsprop"])
def test_optimizers_leave_pruned_weights_at_plus_zero(name, dtype):
    """30 steps of random gradients, the pruned ones zeroed (here NaN before the zeroing, which
    an implementation by multiplication would let through). Pruned weights, m and v stay +0.0
    exactly; the kept ones move. 30 steps take RAdam past its switch to the rectified update
    (ρ_k > 5 from k = 6 on), so both of its branches run."""
    rng = np.random.default_rng(0)
    H, I = 7, 3
    spec = NetworkSpec("brf", I, H, 2)
    masks = weight_masks(spec, recurrent_keep(H, 0.5, 1))
    keep = masks[W]
    p = {W: rng.normal(size=(H, I + H)).astype(dtype)}
    apply_masks(p, masks)
    opt = make_optimizer(name, p, 0.05)
    if name == "radam":
        rho = [opt_rho(opt, k) for k in range(1, 31)]
        assert min(rho) < 5 < max(rho)
    start = p[W].copy()
    for _ in range(30):
        g = {W: rng.normal(size=(H, I + H)).astype(dtype)}
        g[W][~keep] = np.nan
        mask_grads(g, masks)
        assert np.all(np.isfinite(g[W]))
        opt.step(g)
    assert np.all(p[W][~keep] == 0) and not np.signbit(p[W][~keep]).any()
    for s in opt.state.values():
        assert np.all(s[W][~keep] == 0)
    assert np.all(p[W][keep] != start[keep])


def opt_rho(opt: RAdam, k: int) -> float:
    rho_inf = 2.0 / (1.0 - opt.b2) - 1.0
    return rho_inf - 2.0 * k * opt.b2**k / (1.0 - opt.b2**k)


# -- the host session -------------------------------------------------------------------------

# ECG-like: 4 inputs, 6 classes, per-step labels. ALIF, because it spikes within a few steps
# (a BRF at ECG's ω needs far longer sequences), and without spikes the recurrent weights get no
# gradient, so their mask would be kept trivially.
T, I, C = 24, 4, 6


def dense_data(N, seed):
    rng = np.random.default_rng(seed)
    x = (rng.random((N, T, I)) < 0.4).astype(np.int8)
    y = rng.integers(-1, C, (N, T)).astype(np.int8)
    return DenseDataset(x=x, name=f"d{seed}", n_in=I, n_out=C, T=T, labels=y,
                        per_step_labels=True, synthetic=True, source="test")


def task_data():
    full = dense_data(10, 1)
    return TaskData(full.subset(np.arange(7)), full.subset(np.arange(7, 10)), dense_data(4, 2),
                    info={"synthetic": True})


class NaNAtPruned:
    """A backend that returns NaN as the gradient of every pruned weight."""

    def __init__(self, inner, keep):
        self.inner, self.keep = inner, keep
        self.accepts_events = inner.accepts_events  # what the wrapped engine declares

    def run(self, *args, **kw):
        res = self.inner.run(*args, **kw)
        res.grads[W][~self.keep] = np.nan
        return res


@pytest.mark.parametrize("backend", ["reference", "cpu"])
def test_host_session_keeps_pruned_weights_at_zero(backend):
    """A NaN in a pruned weight's gradient neither stops the step nor reaches the clipping norm:
    the session zeroes those gradients first (mutations caught: zeroing after the finiteness
    check, zeroing by multiplication, no zeroing at all)."""
    if backend == "cpu":
        pytest.importorskip("resonet.kernels.cpu")
    spec = NetworkSpec("alif", I, 6, C)
    params = init_params(spec, np.random.default_rng(0))
    masks = weight_masks(spec, recurrent_keep(6, 0.5, 0))
    keep = masks[W]
    apply_masks(params, masks)
    start = {k: v.copy() for k, v in params.items()}
    ds = task_data()
    be = NaNAtPruned(get_backend(backend), keep)
    sess = HostSession(be, spec, params, make_optimizer("radam", params, 0.05),
                       {"train": ds.train, "val": ds.val, "test": ds.test}, np.float64, clip=0.5,
                       masks=masks)
    for k in range(8):
        st = sess.train_batch(np.array([k % 7, (k + 3) % 7, (k + 5) % 7]))
        assert st["nonfinite"] is None
    assert np.all(params[W][~keep] == 0)
    assert np.all(np.isfinite(params[W]))
    moved = params[W][:, I:][keep[:, I:]] != start[W][:, I:][keep[:, I:]]
    assert moved.mean() > 0.9  # the kept recurrent weights do train


# -- the trainer --------------------------------------------------------------------------------

def settings(phi=None, backend="reference", **extra):
    argv = ["ecg", "--neuron", "alif", "--hidden", "6", "--epochs", "2", "--batch", "3", "--eval-batch", "4",
            "--backend", backend, "--dtype", "float64", "--save-every", "1e9"]
    if phi is not None:
        argv += ["--prune-recurrent", str(phi)]
    return resolve_settings(build_parser().parse_args(argv)).replace(**extra)


def trainer(tmp_path, name, s, data, resume=False):
    run_dir = tmp_path / name
    run_dir.mkdir(exist_ok=True)
    tr = Trainer(s, run_dir, data, Log(quiet=True), quiet=True)
    tr.load_last() if resume else tr.init_state()
    return tr


def run(tmp_path, name, s, data, resume=False):
    tr = trainer(tmp_path, name, s, data, resume)
    assert tr.run() == 0
    return tmp_path / name


def same_run(a, b):
    ca, cb = load_checkpoint(a / "last.npz"), load_checkpoint(b / "last.npz")
    for k in ca.params:
        np.testing.assert_array_equal(ca.params[k], cb.params[k], err_msg=k)
    for k in ca.optim:
        np.testing.assert_array_equal(ca.optim[k], cb.optim[k], err_msg=k)
    drop = ("epoch_seconds", "train_samples_per_s", "eval_seconds")  # wall-clock times

    def rows(d):
        return [{k: v for k, v in json.loads(line).items() if k not in drop}
                for line in (d / "metrics.jsonl").read_text().splitlines()]

    assert rows(a) == rows(b) and len(rows(a)) == 3


def test_phi_zero_is_bit_identical_to_no_option(tmp_path):
    data = task_data()
    s0 = settings()
    assert s0.prune_recurrent == 0.0
    a = run(tmp_path, "none", s0, data)
    b = run(tmp_path, "zero", settings(0.0), data)
    same_run(a, b)
    assert not RunDir(a).mask.exists() and not RunDir(b).mask.exists()


def test_every_phi_starts_from_the_same_network(tmp_path):
    data = task_data()
    base = trainer(tmp_path, "p0", settings(0.0), data).params
    for phi in (0.3, 1.0):
        tr = trainer(tmp_path, f"p{phi}", settings(phi), data)
        keep = np.load(RunDir(tmp_path / f"p{phi}").mask)["keep"]
        np.testing.assert_array_equal(keep, recurrent_keep(6, phi, 0))
        for k in base:
            if k != W:
                np.testing.assert_array_equal(tr.params[k], base[k], err_msg=k)
        full = weight_masks(tr.spec, keep)[W]
        np.testing.assert_array_equal(tr.params[W][full], base[W][full])
        assert np.all(tr.params[W][~full] == 0)
        init = load_checkpoint(tmp_path / f"p{phi}" / "init.npz").params[W]
        np.testing.assert_array_equal(init, tr.params[W])


@pytest.mark.parametrize("backend,opt", [("reference", "adam"), ("cpu", "radam")])
def test_pruned_run_resumes_bit_identical(tmp_path, backend, opt):
    if backend == "cpu":
        pytest.importorskip("resonet.kernels.cpu")
    data = task_data()
    s = settings(0.5, backend, optimizer=opt)
    full = run(tmp_path, "full", s, data)
    keep = np.load(RunDir(full).mask)["keep"]
    last = load_checkpoint(full / "last.npz")
    assert np.all(last.params[W][:, I:][~keep] == 0) and keep.mean() < 0.75
    assert np.all(last.optim[f"optim/v/{W}"][:, I:][~keep] == 0)
    init = load_checkpoint(full / "init.npz").params[W][:, I:]
    assert (last.params[W][:, I:][keep] != init[keep]).mean() > 0.9  # the kept ones trained
    for name, drop_file in (("part", False), ("redraw", True)):
        run(tmp_path, name, s.replace(stop_after=1), data)
        if drop_file:  # the mask is drawn again from the seed
            RunDir(tmp_path / name).mask.unlink()
        run(tmp_path, name, s, data, resume=True)
        same_run(full, tmp_path / name)


def test_resume_refuses_a_checkpoint_that_does_not_fit_the_mask(tmp_path):
    data = task_data()
    s = settings(0.5)
    d = run(tmp_path, "r", s.replace(stop_after=1), data)
    ck = load_checkpoint(d / "last.npz")
    keep = np.load(RunDir(d).mask)["keep"]
    i, j = np.argwhere(~keep)[0]
    ck.params[W][i, I + j] = 0.25
    save_checkpoint(d / "last.npz", ck.params, optim_state=ck.optim, train_state=ck.train,
                    meta=ck.meta)
    with pytest.raises(CheckpointError, match="pruned weight"):
        trainer(tmp_path, "r", s, data, resume=True)


# -- the command line ------------------------------------------------------------------------

def _train(*args):
    return subprocess.run([sys.executable, "-m", "resonet.train", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.mark.parametrize("value", ["1.5", "-0.2", "nan"])
def test_cli_rejects_phi_out_of_range(tmp_path, value):
    r = _train("ecg", "--prune-recurrent", value, "--out", tmp_path / "x")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--prune-recurrent" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_config_file_sets_phi(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('task = "ecg"\nprune_recurrent = 0.7\n')
    s = resolve_settings(build_parser().parse_args(["--config", str(cfg)]))
    assert s.prune_recurrent == 0.7
    s = resolve_settings(build_parser().parse_args(["--config", str(cfg), "--prune-recurrent", "0"]))
    assert s.prune_recurrent == 0.0


@needs_ecg
def test_cli_without_recurrent_weights_on_ecg(tmp_path):
    pytest.importorskip("resonet.kernels.cpu")
    out = tmp_path / "run"
    r = _train("ecg", "--data-dir", ECG_DIR, "--subset", "16", "--batch", "8", "--epochs", "1",
               "--eval-batch", "16", "--quiet", "--prune-recurrent", "1", "--out", out)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "removed with probability 1" in r.stdout
    assert json.loads((out / "config.json").read_text())["settings"]["prune_recurrent"] == 1.0
    assert not np.load(RunDir(out).mask)["keep"].any()
    for f in ("init", "last", "best"):
        w = load_checkpoint(out / f"{f}.npz").params[W]
        assert np.all(w[:, 4:] == 0) and np.all(w[:, :4] != 0), f
