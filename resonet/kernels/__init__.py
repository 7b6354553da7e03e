"""Fast engines behind :func:`resonet.backends.get_backend`.

- :mod:`resonet.kernels.cpu`: fused ``@njit(parallel=True)`` forward and BPTT kernels, one module
  per neuron model, event-driven (input and hidden spikes are accumulated as weight rows, zeros
  are skipped). Imported by ``get_backend("cpu")``; design in docs/cpu-kernels.md.
- ``resonet.kernels.cuda``: the GPU engine, imported lazily through ``cuda_loader`` by
  ``get_backend("cuda")`` only, so the CPU path never imports CUDA.

Each engine keeps one kernel module per neuron model, with the file name of the model's module
(``kernels/cpu/brf.py`` and ``kernels/cuda/brf.py`` mirror ``neurons/brf.py``) and the same
contract in every model (:mod:`resonet.kernels.contract`: ``CpuKernels``, ``CudaKernels``);
:func:`kernel_module` finds it, so the model registry never imports an engine. A model
registered from another package is found in that package's mirrored trees
(``pkg/kernels/cpu/x.py`` for ``pkg/neurons/x.py``). Only that lookup and the pure-Python
argument checks shared by the engines live here: importing :mod:`resonet.kernels` compiles
nothing and never imports CUDA.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from ..contract import DTYPES
from ..errors import ConfigError
from ..neurons import li
from ..neurons.model import NeuronModel, derive_layer
from ..spec import check_params


def prepare_run(engine: str, spec, params: dict, dtype, spike: str):
    """The argument checks every fast engine's ``run`` starts with (same errors as the reference).

    Returns ``(dtype, p, consts, a_o)``: the dtype as ``np.dtype``, the parameters cast to it, the
    neuron's derived constants of every hidden layer (a list; ``derive`` refuses e.g.
    |ω|·p_dt ≥ 1) and the readout's α.
    """
    if spike != "heaviside":
        raise ConfigError(
            f"the {engine} backend implements spike='heaviside' only (got {spike!r}); the smooth "
            "spike of the gradient check runs on the reference backend")
    dtype = np.dtype(dtype)
    if dtype.name not in DTYPES:
        raise ConfigError(f"dtype must be {' or '.join(DTYPES)}, got {dtype}")
    check_params(spec, params)
    p = {n: np.asarray(v, dtype=dtype) for n, v in params.items()}
    consts = [derive_layer(spec.model, spec, p, l) for l in range(spec.n_layers)]
    return dtype, p, consts, li.alpha(p["out.tau_mem"], spec.readout)


def kernel_module_name(engine: str, model: NeuronModel) -> str:
    """``<pkg>.kernels.<engine>.<file>`` for the model module ``<pkg>.neurons.<file>``."""
    module = getattr(model, "__name__", "")
    base, _, stem = module.rpartition(".")
    pkg, _, last = base.rpartition(".")
    if last != "neurons" or not pkg:
        raise ConfigError(f"the {model.NAME} neuron's module {module!r} is not in a 'neurons' "
                          "package, so its kernels cannot be found (<pkg>/neurons/<file>.py has "
                          "them in <pkg>/kernels/<engine>/<file>.py)")
    return f"{pkg}.kernels.{engine}.{stem}"


def kernel_module(engine: str, model: NeuronModel) -> ModuleType:
    """The kernels of ``model`` (a registered neuron module) for the engine ``engine``: the module
    with the same file name in the mirrored tree (:func:`kernel_module_name`). ConfigError if the
    engine has none."""
    name = kernel_module_name(engine, model)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise ConfigError(f"the {engine} backend has no kernels for the {model.NAME} neuron "
                          f"({name} is missing); use --backend reference") from None


def check_targets(targets: np.ndarray, n_out: int) -> None:
    """Labels must index a class: one-line ConfigError otherwise."""
    if targets.size and (targets.min() < 0 or targets.max() >= n_out):
        raise ConfigError(f"labels must lie in [0, {n_out}), got range "
                          f"[{targets.min()}, {targets.max()}]")
