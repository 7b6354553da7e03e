"""``CudaBackend``: the :class:`resonet.contract.Backend` contract on the fused CUDA kernels, on
top of the device layer (:mod:`.device`).

What stays on the host in :meth:`CudaBackend.run` is what the CPU backend also keeps in NumPy:
the reference's parameter checks and derived constants (``check_params``, ``neuron.derive``,
``li.alpha``: invalid parameters raise the same ConfigErrors), label checks, and the conversion
of the input batch to the kernels' per-sample layout (:func:`.device.host_inputs`). Everything
per step runs on the device. :meth:`CudaBackend.device_session` returns a
:class:`~resonet.kernels.cuda.session.DeviceSession`, the training run resident on the device.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ...contract import Backend, Result
from ...loss import step_targets
from ...spec import truncation_cuts
from .. import check_targets, prepare_run
from .device import DevParams, Engine, Workspace, host_inputs, pack_params, unpack_params
from .session import DeviceSession


# ------------------------------------------------------------------------------- backend
class CudaBackend(Backend):
    """Fused numba.cuda kernels, float32 or float64 (``dtype``); one block per sample.

    :meth:`run` takes parameters and inputs from the host (``resonet.verify --backend cuda``,
    tests, evaluation of a checkpoint); :meth:`device_session` keeps a whole training run on the
    device.
    """

    name = "cuda"

    def __init__(self):
        self._cache: dict = {}

    def _engine(self, spec, dtype) -> tuple[Engine, DevParams]:
        key = ("engine", spec, np.dtype(dtype))
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            eng = Engine(spec, dtype)
            self._cache[key] = (eng, eng.new_params())
        return self._cache[key]

    def _workspace(self, spec, T, B, dtype, keep, want_dx) -> Workspace:
        key = ("ws", spec, T, B, np.dtype(dtype), keep, want_dx)
        if key not in self._cache:
            for k in [k for k in self._cache if k[0] == "ws"]:
                del self._cache[k]  # keep one workspace: shapes change rarely
            self._cache[key] = Workspace(spec, T, B, dtype, keep, want_dx)
        return self._cache[key]

    def run(self, spec, params, x, y=None, *, grads=True, dtype=np.float64, truncation=None,
            return_states=False, return_dx=False, spike="heaviside") -> Result:
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

    def device_session(self, spec, params, optimizer, datasets, dtype, *, clip=None,
                       truncation=None, masks=None) -> DeviceSession:
        """A :class:`~resonet.kernels.cuda.session.DeviceSession`: training fully on the device."""
        return DeviceSession(spec, params, optimizer, datasets, dtype, clip=clip,
                             truncation=truncation, masks=masks)
