"""The contracts of an engine's kernel module: what ``kernels/cpu/<model>.py`` and
``kernels/cuda/<model>.py`` declare for each neuron model (PEP 544; the modules are numba code,
so the registry test checks them at run time, :func:`members`).

Both engines keep, per model, the step of one neuron (or one sample) and its VJP under the same
names, ``cell_forward`` and ``cell_backward``, the layout of the state rows (``ROWS``,
``STATE_ROWS``: reference state name → row, row 0 the spike z) and the number of per-neuron
gradient sums (``NACC`` = len(ACC_ROWS) of the model). Importing this module imports no numba.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class CpuKernels(Protocol):
    """A model's CPU kernels (``@njit``; docs/cpu-kernels.md, :mod:`resonet.kernels.cpu.brf` is the
    annotated example).

    - ``cell_forward(cur, old, new, cell, k, kc)``: one step of one sample, ``old``/``new``
      (ROWS, H) state arrays, ``cur`` (H,) the input current;
    - ``cell_backward(old, new, dz, dnew, dold, dI, acc, cell, k, kc)``: its VJP; ``acc``
      (NACC, H) accumulates the per-neuron sums of ACC_ROWS;
    - ``forward(ev, net, consts, tape, nspk, states)`` / ``backward(ev, net, consts, tape, grad,
      nchunk)``: the compiled entry points over a whole batch (the templates of
      :mod:`resonet.kernels.cpu.network` with this model's cell inlined; the argument bundles:
      :func:`resonet.kernels.cpu.backend.kernel_args`);
    - ``pack(consts, dtype) -> (cell, k)``: the constants from the reference's ``derive``;
    - ``CKPT_ROWS``: the continuous state rows 1 … CKPT_ROWS kept at checkpoints;
      ``READS_Z``: whether the cell reads z_{t−1} itself (ALIF's adaptation).
    """

    @property
    def ROWS(self) -> int: ...

    @property
    def CKPT_ROWS(self) -> int: ...

    @property
    def STATE_ROWS(self) -> dict[str, int]: ...

    @property
    def NACC(self) -> int: ...

    @property
    def READS_Z(self) -> bool: ...
    cell_forward: Any
    cell_backward: Any
    forward: Any
    backward: Any

    def pack(self, consts: Any, dtype: Any) -> tuple[Any, Any]: ...


@runtime_checkable
class CudaKernels(Protocol):
    """A model's CUDA device functions for one neuron h (docs/cuda-kernels.md,
    :mod:`resonet.kernels.cuda.common` for the argument conventions).

    - ``cell_forward(h, cur, st, H, cell, k) -> z``: one step, in place on the block's state;
    - ``cell_backward(h, t, b, tape, zt, zp, dz, dcar, acc, H, cell, k, kc) -> Ī_t[h]``: its VJP;
    - ``derive(h, P, H, cell, pk)`` / ``finish(h, s, P, H, cell, k, G)``: the constants from the
      raw parameters and the raw-parameter gradients from the summed ``acc`` rows, on the device;
    - ``consts_k(spec, dtype)``, ``pack_cell(consts, dtype)``: host-side constant arrays;
    - ``NCELL``: rows of ``cell`` (0 for a model without per-neuron constants).
    """

    @property
    def ROWS(self) -> int: ...

    @property
    def STATE_ROWS(self) -> dict[str, int]: ...

    @property
    def NCELL(self) -> int: ...

    @property
    def NACC(self) -> int: ...
    cell_forward: Any
    cell_backward: Any
    derive: Any
    finish: Any

    def consts_k(self, spec: Any, dtype: Any) -> Any: ...

    def pack_cell(self, consts: Any, dtype: Any) -> Any: ...


def members(protocol: type) -> tuple[str, ...]:
    """The names a protocol requires (its annotated attributes, properties and methods)."""
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items()
              if (callable(v) or isinstance(v, property)) and not n.startswith("_")}
    return tuple(sorted(names))
