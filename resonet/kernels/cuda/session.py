"""Device-resident training: parameters, optimizer state and the data sets live on the GPU.

:class:`DeviceSession` (made by :meth:`CudaBackend.session`) uploads the train/
validation/test splits once (SHD as its event arrays, dense sets as their stored small-int
arrays and scale), keeps the flat parameter vector and the optimizer state (m, v) on the
device, and runs a whole training step there:

    prepare (cell constants, transposed weights) → forward → loss → BPTT → grad_rec (dW_rec)
    → reduce (flat G) → mask (pruned weights' gradients set to 0, only with ``masks``)
    → norm_part, norm_final (finiteness, global norm)
    → update (clip, Adam/RAdam/RMSprop, the model's bounds)

Per batch the host sends only the batch's index array (B int64) and reads back the batch
statistics (8 floats and a few integers), which the trainer needs for its running averages and
for its NaN stop. Nothing else crosses the bus until :meth:`pull` (for a checkpoint).

Semantics are those of the host path of ``resonet.train`` (``backend.run`` + ``clip_grad_norm``
+ ``Optimizer.step`` + the model's ``BOUNDS``, resonet.neurons.model.project): the same
equations in the same association order,
so float64 sessions equal it to rounding (tests/cudasim/test_cuda_session.py), and determinism (no
float atomics, fixed reduction orders) makes a resumed session bit-identical to an
uninterrupted one.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ...errors import ConfigError
from ...spec import NetworkSpec, truncation_cuts
from .device import Engine, Workspace, dataset_inputs, pack_params
from .network import N_STATS
from .optim import OPT_IDS, bounds_layout, flat_keep, launch_mask, launch_step, norm_workspace


class DeviceSession:
    """A training run on the device; see the module docstring.

    ``params`` and ``optimizer`` are the host objects (a params dict and a
    :class:`resonet.optim.Optimizer`); :meth:`pull` writes the device state back into them,
    :meth:`push` uploads them again. ``datasets`` maps split names (``train``, ``val``,
    ``test``) to :class:`resonet.data.Dataset` objects; ``masks`` (parameter name -> bool array,
    False = pruned, :mod:`resonet.pruning`) zeroes those gradients every step.
    """

    def __init__(self, spec: NetworkSpec, params: dict, optimizer, datasets: dict, dtype, *,
                 clip: float | None = None, truncation: int | None = None,
                 masks: dict | None = None):
        self.spec = spec
        self.dtype = np.dtype(dtype)
        if optimizer.name not in OPT_IDS:
            raise ConfigError(f"the cuda session has no kernel for optimizer {optimizer.name!r}")
        self.eng = Engine(spec, self.dtype)
        self.clip = float(clip) if clip else None
        self.truncation = int(truncation) if truncation else 0
        self.params = params
        self.opt = optimizer
        self.dp = self.eng.new_params()
        n = self.eng.n
        self.G = cuda.device_array(n, self.dtype)
        self.M = cuda.device_array(n, self.dtype)
        self.V = cuda.device_array(n, self.dtype)
        self.nout = cuda.to_device(np.zeros(2))  # ‖g‖, clip flag
        self.istat = cuda.to_device(np.zeros(1 + len(self.eng.layout), np.int64))
        self.scal = cuda.to_device(np.ones(1, self.dtype))
        self.eval_stats = cuda.to_device(np.zeros(N_STATS))
        self.bounds = bounds_layout(spec, self.eng.layout)  # the model's BOUNDS on the device
        self.norm_work = norm_workspace([o for _, o, _ in self.eng.layout] + [n])
        keep = flat_keep(spec, self.eng.layout, masks)
        self.keep = None if keep is None else cuda.to_device(keep)  # pruning mask (flat)
        cache: dict = {}
        self.data = {name: dataset_inputs(spec, ds, self.dtype, cache)
                     for name, ds in datasets.items()}
        self._ws: dict = {}
        self.k = 0
        self.push()

    # -- state transfer ----------------------------------------------------------------------
    def push(self, params: dict | None = None, optimizer=None) -> None:
        """Upload parameters and optimizer state (m, v, step count) from the host objects
        (after a resume: pass the freshly loaded ones)."""
        if params is not None:
            self.params = params
        if optimizer is not None:
            self.opt = optimizer
        self.dp.P.copy_to_device(pack_params(self.spec, self.params, self.dtype))
        st = self.opt.state
        zeros = {n: np.zeros_like(np.asarray(v)) for n, v in self.params.items()}
        self.M.copy_to_device(pack_params(self.spec, st.get("m", zeros), self.dtype))
        self.V.copy_to_device(pack_params(self.spec, st.get("v", zeros), self.dtype))
        self.k = int(self.opt.k)

    def pull(self) -> tuple[dict, dict]:
        """Copy parameters and optimizer state back into the host objects (in place) and
        return ``(params, optimizer.state_dict())`` for a checkpoint."""
        flat = self.dp.P.copy_to_host()
        for name, off, shape in self.eng.layout:
            self.params[name][...] = flat[off:off + int(np.prod(shape))].reshape(shape)
        for key, dev in (("m", self.M), ("v", self.V)):
            if key in self.opt.state:
                flat = dev.copy_to_host()
                for name, off, shape in self.eng.layout:
                    self.opt.state[key][name][...] = flat[off:off + int(np.prod(shape))].reshape(shape)
        self.opt.k = self.k
        return self.params, self.opt.state_dict()

    # -- training ----------------------------------------------------------------------------
    def _workspace(self, T: int, B: int, keep: bool) -> Workspace:
        key = (T, B, keep)
        if key not in self._ws:
            if len(self._ws) >= 8:  # train, last partial batch, evaluation batch sizes
                self._ws.clear()
            self._ws[key] = Workspace(self.spec, T, B, self.dtype, keep, False)
        return self._ws[key]

    def train_batch(self, indices, lr: float | None = None, split: str = "train") -> dict:
        """One training step on the samples ``indices`` (positions in the split).

        Returns ``loss`` (summed over recorded steps, eq. (N10)), ``correct``/``total`` (the
        official accuracy counts), ``n`` (B), ``spikes``, ``clamps`` (entries projected onto
        the model's bounds) and ``nonfinite``: None, or ``"loss"`` / the first parameter name
        with a NaN/Inf gradient, in which case nothing was updated (as the trainer stops before
        the update).
        """
        inp = self.data[split]
        idx = np.ascontiguousarray(indices, dtype=np.int64)
        B = idx.shape[0]
        if idx.ndim != 1 or B < 1 or idx.min() < 0 or idx.max() >= inp.N:
            raise ConfigError(f"{split}: batch indices must be a non-empty 1-D array in "
                              f"[0, {inp.N})")
        T = inp.T
        r0 = int(self.spec.recorded(T)[0])
        if self.truncation:
            truncation_cuts(T, self.truncation)
        lr = self.opt.lr if lr is None else float(lr)
        k = self.k + 1
        eng, dp, ws = self.eng, self.dp, self._workspace(T, B, True)
        ws.idx.copy_to_device(idx)  # the only host -> device copy of a step
        eng.prepare(dp, derive=True)
        eng.forward(dp, inp, ws, ws.idx, B, keep=True)
        eng.loss(inp, ws, ws.idx, r0, ws.stats, accumulate=False)
        eng.backward(dp, inp, ws, ws.idx, B, r0, self.truncation, False)
        eng.reduce(dp, ws, self.G)
        if self.keep is not None:
            launch_mask(self.G, self.keep)
        launch_step(self.opt, k, lr, dp.P, self.G, self.M, self.V, eng.seg, ws.stats, self.nout,
                    self.istat, self.scal, self.clip, *self.bounds, work=self.norm_work)
        st = ws.stats.copy_to_host()
        ist = self.istat.copy_to_host()
        bad = None
        if not math.isfinite(st[0]):
            bad = "loss"
        else:
            for (name, _, _), nb in zip(self.eng.layout, ist[1:]):
                if nb:
                    bad = name
                    break
        if bad is None:
            self.k = k
            self.opt.lr = lr
        return {"loss": float(st[0]), "correct": int(st[1]), "total": int(st[2]), "n": B,
                "spikes": float(st[5]), "clamps": int(ist[0]), "nonfinite": bad}

    def evaluate(self, split: str, batch: int, on_batch=None) -> dict:
        """``resonet.evaluation.evaluate`` on the device: loss per recorded step, accuracy (and over
        labelled steps for per-step labels), SOPs per sample and per step. ``on_batch(done,
        total)`` after every batch launch (progress; it may raise to abandon the evaluation)."""
        inp = self.data[split]
        if batch < 1:
            raise ConfigError(f"batch must be >= 1, got {batch}")
        T = inp.T
        r0 = int(self.spec.recorded(T)[0])
        eng, dp = self.eng, self.dp
        eng.prepare(dp, derive=True)
        self.eval_stats.copy_to_device(np.zeros(N_STATS))
        for start in range(0, inp.N, batch):
            B = min(batch, inp.N - start)
            ws = self._workspace(T, B, False)
            idx = inp.arange[start:start + B]
            eng.forward(dp, inp, ws, idx, B, keep=False)
            eng.loss(inp, ws, idx, r0, self.eval_stats, accumulate=True)
            if on_batch is not None:
                on_batch(start // batch + 1, -(-inp.N // batch))
        s = self.eval_stats.copy_to_host()
        n = s[6]
        out = {"loss": s[0] / n, "acc": 100.0 * s[1] / s[2], "sops": s[5] / n,
               "sops_per_step": s[5] / n / T}
        if inp.per_step and s[4]:
            out["acc_labelled"] = 100.0 * s[3] / s[4]
        return out
