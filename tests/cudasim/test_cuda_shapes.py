"""The CUDA engine at the shapes users need: wide layers, big batches, launch limits.

- dW_rec comes from the Ī tape through ``grad_rec`` in sample chunks (no B·H² buffer): every
  chunking gives the CPU's gradients (float64 ≤ 1e-12), one chunk and one sample per chunk
  included;
- the shared memory of every model's kernels at H = 2048 (SHD inputs and classes) fits a block
  without opt-in in float32 and float64, computed from the engine's own sizes without running;
  a layer too wide is refused in one line;
- no device buffer grows with B·H²;
- launches are clamped to what a kernel can run with (``config.clamp``, ``kernel_limit``);
- the event arrays have one type whatever their source (one compiled kernel per process).
"""

from __future__ import annotations

import numpy as np
import pytest

from resonet.errors import ConfigError
from resonet.network import NetworkSpec
from resonet.neurons import NEURONS
from tests.cudasim.cases import make_case, rel


@pytest.mark.parametrize("target", [1, 6, 10_000], ids=["one-chunk", "chunks", "per-sample"])
def test_grad_rec_chunks_give_the_cpu_gradient(host_backend, monkeypatch, target):
    from resonet.kernels.cuda import CudaBackend, network

    monkeypatch.setattr(network, "REC_TARGET_BLOCKS", target)
    spec, params, x, y = make_case("brf", H=12, B=5, T=10, seed=41)
    be = CudaBackend()  # a fresh workspace: the chunking is fixed when it is made
    res = be.run(spec, params, x, y)
    ws = next(v for k, v in be._cache.items() if k[0] == "ws")
    n_chunks = {1: 1, 6: 2, 10_000: 5}[target]  # H=12, 4 threads: 1 word x 3 tiles per chunk
    assert (ws.n_chunks, ws.part.shape) == (n_chunks, (n_chunks, 12, 12))
    ref = host_backend.run(spec, params, x, y)
    assert ref.num_spikes.sum() > 0
    for k, g in ref.grads.items():
        assert rel(res.grads[k], g) <= 1e-12, k


def test_rec_chunks_bounds():
    from resonet.kernels.cuda.network import REC_TARGET_BLOCKS, rec_chunks

    for H in (1, 4, 31, 33, 128, 256, 1000, 2048, 4096):
        tpb = max(32, min(256, -(-H // 32) * 32))
        for B in (1, 2, 7, 32, 256, 513):
            n, spc = rec_chunks(B, H, tpb)
            assert 1 <= n <= B and (n - 1) * spc < B <= n * spc  # no empty chunk, all samples
            assert n * H * H <= max(H * H, REC_TARGET_BLOCKS * 32 * tpb)  # the partials' bound
    assert rec_chunks(256, 2048, 256) == (1, 256)  # wide layers: one (H, H) partial in all


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("neuron", list(NEURONS))
def test_shared_memory_fits_at_h_2048(neuron, dtype):
    """Computed from the engine (its constructor refuses what does not fit), not run."""
    from resonet.kernels.cuda.device import SHARED_LIMIT, Engine

    eng = Engine(NetworkSpec(neuron, 700, 2048, 20), dtype)
    assert max(eng.shm_f, eng.shm_b) <= SHARED_LIMIT
    # backward: Ī of two steps and five class vectors (r̄ of two steps, ō, dα and the readout
    # bias's db_o; the state lives in global scratch rows)
    assert eng.shm_b == (2 * 2048 + 5 * 20) * np.dtype(dtype).itemsize


def test_a_layer_too_wide_for_shared_memory_is_refused_in_one_line():
    from resonet.kernels.cuda.device import Engine

    with pytest.raises(ConfigError, match=r"H=4096.*float64.*limit 49152") as e:
        Engine(NetworkSpec("brf", 700, 4096, 20), np.float64)
    assert "\n" not in str(e.value)
    Engine(NetworkSpec("brf", 700, 4096, 20), np.float32)  # 2·4096·4 bytes: fits


def test_no_device_buffer_grows_with_batch_times_h_squared():
    """Per added sample every buffer grows by less than H² elements; the dW_rec partials stop
    growing at REC_TARGET_BLOCKS·32·tpb elements (here: at most 13 chunks of H², whatever B
    is)."""
    from resonet.kernels.cuda.device import Workspace, workspace_bytes

    spec = NetworkSpec("brf", 5, 40, 3)
    T, H = 7, 40

    def sizes(B):
        ws = Workspace(spec, T, B, np.float64, True, True)
        return ws, {k: v.size for k, v in vars(ws).items() if hasattr(v, "shape")}

    ws1, s1 = sizes(20)
    ws2, s2 = sizes(40)
    for k in s1:
        assert (s2[k] - s1[k]) / 20 < H * H, k
    # 4 threads (the tests' blocks): 2 words x 10 tiles per chunk -> at most ceil(256 / 20) = 13
    # chunks (10 of equal size here, for 20 and 40 samples alike)
    assert ws1.part.shape == ws2.part.shape and ws1.part.shape[0] <= 13
    # workspace_bytes (the memory estimate) is what the workspace allocates, but five vectors
    small = {"nspk": 8 * 40, "part_loss": 8 * 40, "cnt": 4 * 8 * 40, "stats": 8 * 8, "idx": 8 * 40}
    total = sum(v.nbytes for v in vars(ws2).values() if hasattr(v, "nbytes"))
    assert total - sum(small.values()) == workspace_bytes(spec, T, 40, 8, True, want_dx=True)
    ws3 = Workspace(spec, T, 40, np.float32, False, False)  # inference: no tape
    total = sum(v.nbytes for v in vars(ws3).values() if hasattr(v, "nbytes"))
    small["part_loss"] = small["part_loss"] // 2
    assert total - sum(small.values()) == workspace_bytes(spec, T, 40, 4, False)


class _FakeKernel:
    """What ``config.kernel_limit`` reads of a numba-cuda dispatcher."""

    def __init__(self, limit):
        self.limit = limit
        self.compiled_for = None

    def typeof_pyval(self, v):
        return type(v).__name__

    def compile(self, sig):
        self.compiled_for = sig
        return type("K", (), {"max_threads_per_block": self.limit})()


def test_clamp_and_kernel_limit():
    from resonet.kernels.cuda import config

    assert config.clamp(1024, 384) == 384
    assert config.clamp(1000, 1024) == 992  # whole warps
    assert config.clamp(20, 1024) == 20  # fewer than a warp stays
    assert config.clamp(1024, 384, pow2=True) == 256
    assert config.clamp(0, 64) == 1
    k = _FakeKernel(640)
    assert config.kernel_limit(k, (1, 2.0)) == 640 and k.compiled_for == ("int", "float")
    assert config.kernel_limit(_FakeKernel(4096), ()) == config.MAX_TPB
    assert config.kernel_limit(object(), ()) == config.MAX_TPB  # the simulator's kernels


def test_engine_launches_no_more_threads_than_a_kernel_can_run(host_backend, monkeypatch):
    """A wish of 1024 flat threads (RESONET_CUDA_TPB_FLAT accepts it) on kernels that can only
    launch 96: the engine clamps every launch and the results stay right."""
    from resonet.kernels.cuda import CudaBackend, config

    launched = []
    monkeypatch.setattr(config, "kernel_limit", lambda kernel, args: 96)
    real = config.clamp
    monkeypatch.setattr(config, "clamp", lambda *a, **k: launched.append(real(*a, **k))
                        or launched[-1])
    spec, params, x, y = make_case("alif", seed=43)
    with config.override(flat=1024):
        res = CudaBackend().run(spec, params, x, y)
    assert launched and max(launched) <= 96
    ref = host_backend.run(spec, params, x, y)
    for k, g in ref.grads.items():
        assert rel(res.grads[k], g) <= 1e-12, k


def test_one_event_type_for_host_batches_and_data_sets():
    from resonet.data import EventDataset
    from resonet.kernels.cuda.device import EVENT_DTYPE, dataset_inputs, host_inputs

    spec, params, x, y = make_case("brf", seed=47)
    inp, _, _ = host_inputs(spec, x, np.float32)
    ds = EventDataset(offsets=np.array([0, 2, 3]), steps=np.array([0, 1, 1], np.int16),
                      chans=np.array([1, 0, 4], np.int16), name="t", n_in=spec.n_in,
                      n_out=spec.n_out, T=3, labels=np.array([0, 1]), per_step_labels=False,
                      synthetic=True, source="test")
    dinp = dataset_inputs(spec, ds, np.float32, {})
    for a in (inp, dinp):
        assert a.ev_step.dtype == a.ev_chan.dtype == np.dtype(EVENT_DTYPE) == np.int32
    np.testing.assert_array_equal(dinp.ev_chan.copy_to_host(), [1, 0, 4])


def test_multi_block_norm_matches_the_host(monkeypatch):
    """The gradient norm over several blocks per tensor equals NumPy's to float64 rounding and
    counts the non-finite entries of each tensor."""
    from numba import cuda

    from resonet.kernels.cuda.optim import get_optim_kernels, norm_blocks, norm_workspace

    rng = np.random.default_rng(5)
    sizes = [3, 200, 57, 1]
    G = rng.standard_normal(sum(sizes))
    seg = np.concatenate([[0], np.cumsum(sizes)])
    assert norm_blocks(sizes, 8) > 1  # the tests' 8 flat threads: several blocks per tensor
    psum, pbad = norm_workspace(seg, 8)
    oks = get_optim_kernels(np.float64)
    out, istat, scal = (cuda.to_device(np.zeros(2)), cuda.to_device(np.zeros(5, np.int64)),
                        cuda.to_device(np.ones(1)))
    dG, dseg = cuda.to_device(G), cuda.to_device(seg)
    oks.norm_part[(psum.shape[1], psum.shape[0]), 8](dG, dseg, psum, pbad)
    oks.norm_final[1, 8](psum, pbad, 1.0, out, istat, scal)
    norm = out.copy_to_host()[0]
    assert abs(norm - np.linalg.norm(G)) <= 1e-14 * np.linalg.norm(G)
    assert out.copy_to_host()[1] == 1.0 and abs(scal.copy_to_host()[0] - 1.0 / (norm + 1e-6)) < 1e-15
    G[[5, 100, 250]] = [np.nan, np.inf, -np.inf]
    dG = cuda.to_device(G)
    oks.norm_part[(psum.shape[1], psum.shape[0]), 8](dG, dseg, psum, pbad)
    oks.norm_final[1, 8](psum, pbad, 1.0, out, istat, scal)
    assert list(istat.copy_to_host()[1:]) == [0, 2, 1, 0]
