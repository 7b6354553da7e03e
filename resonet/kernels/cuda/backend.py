"""``CudaBackend``: the :class:`resonet.contract.Backend` contract on the fused CUDA kernels, on
top of the device layer (:mod:`.device`).

The class declares what the engine takes and needs without touching a GPU (so that settings can
ask it before a run, :func:`resonet.backends.backend_class`): this module imports ``numba.cuda``
and the device layer only inside the methods that run kernels.

What stays on the host in :meth:`CudaBackend.run` is what the CPU backend also keeps in NumPy:
the reference's parameter checks and derived constants (``check_params``, ``neuron.derive``,
``li.alpha``: invalid parameters raise the same ConfigErrors), label checks, and the conversion
of the input batch to the kernels' per-sample layout (:func:`.device.host_inputs`). Everything
per step runs on the device. :meth:`CudaBackend.session` returns a
:class:`~resonet.kernels.cuda.session.DeviceSession`, the training run resident on the device.
"""

from __future__ import annotations

import numpy as np

from ...contract import Result
from ...loss import step_targets
from ...spec import truncation_cuts
from .. import check_targets, prepare_run


# ------------------------------------------------------------------------------- backend
class CudaBackend:
    """Fused numba.cuda kernels, float32 or float64 (``dtype``); one block per sample.

    :meth:`run` takes parameters and inputs from the host (``resonet.verify --backend cuda``,
    tests, evaluation of a checkpoint); :meth:`session` keeps a whole training run on the
    device.
    """

    name = "cuda"
    accepts_events = True  # the forward walks each sample's event list
    train_dtype = "float32"
    on_device = True

    def __init__(self):
        self._cache: dict = {}

    @staticmethod
    def estimate_memory(spec, *, T: int, batch: int, eval_batch: int, dtype,
                        threads: int | None = None) -> dict[str, int]:
        """Device memory of a training batch: the buffers of a :class:`.device.Workspace` (its
        own count, :func:`.device.workspace_bytes`: tape, Ī tape, per-sample dW_in/dW_o, carries
        and sums, the dW_rec chunk partials; tested equal to what it allocates), the flat gradient
        and the transposed copy of the weights (P each)."""
        from .device import workspace_bytes

        item = np.dtype(dtype).itemsize
        return {"gradients": 2 * spec.n_params() * item,
                "BPTT tape": workspace_bytes(spec, T, batch, item, keep=True),
                "batches": 0}

    @staticmethod
    def free_device_memory() -> int | None:
        """Free memory of the current CUDA device; None if unknown (e.g. the simulator)."""
        try:
            from numba import cuda

            return int(cuda.current_context().get_memory_info()[0])
        except Exception:  # no device, a simulator, an old driver: no check
            return None

    def _engine(self, spec, dtype):
        from .device import Engine

        key = ("engine", spec, np.dtype(dtype))
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            eng = Engine(spec, dtype)
            self._cache[key] = (eng, eng.new_params())
        return self._cache[key]

    def _workspace(self, spec, T, B, dtype, keep, want_dx):
        from .device import Workspace

        key = ("ws", spec, T, B, np.dtype(dtype), keep, want_dx)
        if key not in self._cache:
            for k in [k for k in self._cache if k[0] == "ws"]:
                del self._cache[k]  # keep one workspace: shapes change rarely
            self._cache[key] = Workspace(spec, T, B, dtype, keep, want_dx)
        return self._cache[key]

    def run(self, spec, params, x, y=None, *, grads=True, dtype=np.float64, truncation=None,
            return_states=False, return_dx=False, spike="heaviside") -> Result:
        from numba import cuda

        from .device import host_inputs, pack_params, unpack_params

        dtype, p, consts, a_o = prepare_run("cuda", spec, params, dtype, spike)
        inp, T, B = host_inputs(spec, x, dtype)
        rec = spec.recorded(T)
        r0 = int(rec[0])
        targets = None
        if y is not None:
            targets = step_targets(y, rec, T)
            C = spec.n_out
            check_targets(targets, C)
            y = np.asarray(y, np.int64)
            lab = y.reshape(B, 1) if y.ndim == 1 else np.ascontiguousarray(y.T)
            inp.labels = cuda.to_device(lab)
            inp.per_step = y.ndim == 2
        need_grads = grads and y is not None
        if need_grads:
            truncation_cuts(T, truncation)  # validates truncation >= 1
        eng, dp = self._engine(spec, dtype)
        dp.P.copy_to_device(pack_params(spec, p, dtype))
        eng.prepare(dp, derive=False)
        if eng.cells.NCELL:  # a model without per-neuron constants (IF) has none to upload
            dp.cell.copy_to_device(eng.cells.pack_cell(consts, dtype))
        dp.a_o.copy_to_device(np.ascontiguousarray(a_o, dtype=dtype))
        dp.b_o.copy_to_device(np.ascontiguousarray(1.0 - a_o, dtype=dtype))
        keep = need_grads or return_states
        ws = self._workspace(spec, T, B, dtype, keep, need_grads and return_dx)
        eng.forward(dp, inp, ws, inp.arange, B, keep)
        O = ws.O.copy_to_host()
        res = Result(O[r0:], ws.nspk.copy_to_host().astype(dtype))
        if return_states:
            res.states = eng.states(ws, B)
        if targets is None:
            return res
        eng.loss(inp, ws, inp.arange, r0, ws.stats, accumulate=False)
        res.loss = float(ws.stats.copy_to_host()[0])
        if not need_grads:
            return res
        eng.backward(dp, inp, ws, inp.arange, B, r0, int(truncation or 0), return_dx)
        G = cuda.device_array(eng.n, dtype)
        eng.reduce(dp, ws, G)
        res.grads = unpack_params(spec, G.copy_to_host())
        if return_dx:
            res.dx = ws.dx.copy_to_host()
        return res

    def session(self, spec, params, optimizer, datasets, dtype, *, clip=None, truncation=None,
                masks=None):
        """A :class:`~resonet.kernels.cuda.session.DeviceSession`: training fully on the device
        (a :class:`resonet.contract.Session`)."""
        from .session import DeviceSession

        return DeviceSession(spec, params, optimizer, datasets, dtype, clip=clip,
                             truncation=truncation, masks=masks)
