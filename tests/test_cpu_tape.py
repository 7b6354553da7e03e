"""BPTT memory of the CPU kernels, their spike-bit helpers, and the golden files via verify."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import resonet.kernels.cpu.backend as cpu_backend
from resonet import verify
from resonet.gradcheck import build_case
from resonet.kernels.cpu import CpuBackend, tape_bytes_per_sample
from resonet.kernels.cpu.config import checkpoint_interval, keeps_currents
from resonet.kernels.cpu.spikebits import collect, same_bits, unpack
from resonet.network import NetworkSpec, init_params
from resonet.neurons import NEURONS
from tests.conftest import GOLDEN_DIR, golden_files

SHD = NetworkSpec("brf", 700, 128, 20)
LIMIT = 0.3e6  # bytes per SHD sample (the target; PyTorch's autograd keeps ~1.55 MB)

# continuous state rows kept at checkpoints: u, v, q / u, v / u, a / u / u
CKPT_ROWS = {"brf": 3, "bhrf": 3, "rf": 2, "alif": 2, "lif": 1, "if": 1}


@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tape_per_shd_sample_below_target(neuron, dtype):
    spec = NetworkSpec(neuron, 700, 128, 20)
    nbytes = tape_bytes_per_sample(spec, 250, dtype)
    assert nbytes <= LIMIT, f"{nbytes / 1e6:.3f} MB"
    # spike bits + checkpoints + readout, nothing per step and neuron in the state's dtype
    K = checkpoint_interval(250)
    rows = CKPT_ROWS[neuron]
    item = np.dtype(dtype).itemsize
    assert nbytes == 250 * 16 + -(-250 // K) * rows * 128 * item + 250 * 20 * item


@pytest.mark.parametrize("H", [128, 512])
def test_tape_is_what_the_forward_allocates(monkeypatch, H):
    """The reported size comes from the arrays run() really allocates and fills (H = 512: a wide
    layer, which also keeps its input currents)."""
    seen = []
    real = cpu_backend.allocate_tape

    def spy(*args, **kw):
        tape = real(*args, **kw)
        seen.append(tape)
        return tape

    monkeypatch.setattr(cpu_backend, "allocate_tape", spy)
    spec = NetworkSpec("brf", 70, H, 20)
    rng = np.random.default_rng(0)
    params = init_params(spec, rng)
    x = (rng.random((250, 3, 70)) < 0.04).astype(np.float32)
    CpuBackend().run(spec, params, x, np.array([0, 1, 2]), dtype=np.float32)
    assert len(seen) == 1
    per_sample = seen[0].nbytes / 3
    assert per_sample == tape_bytes_per_sample(spec, 250, np.float32)
    assert (seen[0].cur.size > 0) == keeps_currents(H)
    if H == 128:
        assert per_sample <= LIMIT
    # inference keeps no spike bits or checkpoints, only the readout
    seen.clear()
    CpuBackend().run(spec, params, x, np.array([0, 1, 2]), grads=False, dtype=np.float32)
    assert seen[0].zbits.size == 0 and seen[0].ckpt.size == 0 and seen[0].cur.size == 0


@pytest.mark.parametrize("H", [1, 8, 13, 128])
def test_spike_bits_round_trip(H):
    rng = np.random.default_rng(H)
    for p in (0.0, 0.1, 0.5, 1.0):
        z = (rng.random(H) < p).astype(np.float64)
        idx = np.empty(H, dtype=np.int64)
        bits = np.zeros((H + 7) // 8, dtype=np.uint8)
        n = collect(z, idx, bits)
        assert n == z.sum() and np.array_equal(idx[:n], np.nonzero(z)[0])
        assert np.array_equal(np.unpackbits(bits, bitorder="little")[:H], z.astype(np.uint8))
        idx2 = np.empty(H, dtype=np.int64)
        assert unpack(bits, H, idx2) == n and np.array_equal(idx2[:n], idx[:n])
        assert same_bits(bits, idx, n)
        if H > 1:
            z[0] = 1 - z[0]
            n3 = collect(z, idx2, np.zeros_like(bits))
            assert not same_bits(bits, idx2, n3)


def test_gradients_use_the_tape_not_a_second_forward(monkeypatch):
    """Corrupting a checkpoint after the forward changes the gradient: BPTT reads the tape."""
    spec, params, x, y, _ = build_case("brf", 40, 8, 0, n_in=4, n_out=3, batch=2)
    good = CpuBackend().run(spec, params, x, y)
    mod = cpu_backend.cells(spec)
    real = mod.backward

    def corrupt(ev, net, consts, tape, grad, nchunk):
        K, zbits, ckpt, O, cur = tape
        ckpt = ckpt.copy()
        ckpt[:, 1:, 0] += 1e-3  # the u of every checkpoint but the first
        return real(ev, net, consts, (K, zbits, ckpt, O, cur), grad, nchunk)

    monkeypatch.setattr(mod, "backward", corrupt)
    try:
        bad = CpuBackend().run(spec, params, x, y)
    except Exception as exc:  # a recomputed spike may now differ, which is refused
        assert "recomputed" in str(exc)
    else:
        assert not np.allclose(bad.grads["hidden.omega"], good.grads["hidden.omega"], rtol=1e-9)


# ------------------------------------------------------------------------------ golden
needs_golden = pytest.mark.skipif(not golden_files(), reason=f"no golden files in {GOLDEN_DIR}")


@needs_golden
@pytest.mark.parametrize("path", golden_files(), ids=lambda p: p.name)
def test_cpu_matches_golden(path):
    g = verify.load_golden(str(path))
    rows, mismatches = verify.check(g, "cpu")
    assert mismatches == 0
    for name, err in rows:
        assert err <= verify.TOLERANCE, f"{name}: {err:.3e}"


@needs_golden
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_verify_cli_cpu_passes_all_golden_files(dtype):
    r = subprocess.run([sys.executable, "-m", "resonet.verify", "--backend", "cpu", "--dtype", dtype,
                        *map(str, golden_files())], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("=> PASS") == len(golden_files())
    assert f"[cpu, {dtype}]" in r.stdout
