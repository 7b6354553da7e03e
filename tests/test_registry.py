"""The model registry: every model declares the whole contract in its own module
(:class:`resonet.neurons.model.NeuronModel`), and both engines have its kernels under the same
file name (mirrored trees), declaring their contracts (:mod:`resonet.kernels.contract`)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from types import FunctionType

import numpy as np
import pytest

from resonet.kernels.contract import CpuKernels, CudaKernels, members
from resonet.network import NetworkSpec, init_params
from resonet.neurons import NEURONS, get_neuron
from resonet.neurons.model import (
    INITS,
    Bound,
    FrozenJacobian,
    NeuronModel,
    Param,
    Resonator,
    Stability,
    hidden_of,
)
from resonet.presets import TASKS, get_preset
from resonet.spec import RESETS
from resonet.surrogate import Surrogate
from tests.conftest import GOLDEN_DIR, ROOT


def stem(model) -> str:
    return model.__name__.rpartition(".")[2]


@pytest.mark.parametrize("name", list(NEURONS))
def test_model_declares_the_interface(name):
    m = get_neuron(name)
    assert m.NAME == name
    assert all(isinstance(p, Param) and p.init in INITS and len(p.default) == 2 for p in m.PARAMS)
    assert m.PARAM_NAMES == tuple(p.name for p in m.PARAMS)
    assert m.STATE_NAMES[0] == "z" and len(set(m.STATE_NAMES)) == len(m.STATE_NAMES)
    assert "none" in m.RESETS and set(m.RESETS) <= set(RESETS)
    assert isinstance(m.SURROGATE, Surrogate)
    assert all(isinstance(b, Bound) and b.param in m.PARAM_NAMES for b in m.BOUNDS)
    assert isinstance(m.ACC_ROWS, tuple)
    for member in members(NeuronModel):
        assert hasattr(m, member), member
        if callable(getattr(NeuronModel, member, None)):
            assert isinstance(getattr(m, member), FunctionType), member
    assert set(m.SPIKING_INIT) <= set(m.PARAM_NAMES)
    spec = NetworkSpec(name, 2, 3, 2)
    consts = m.derive(hidden_of(m, init_params(spec, np.random.default_rng(0))), spec)
    assert set(m.DECAYS) <= set(consts._fields)  # fields of the Consts that derive returns
    assert m.REFRACTORY is None or m.REFRACTORY in m.STATE_NAMES
    for proto in (FrozenJacobian, Stability, Resonator):  # all of a capability or none of it
        have = [hasattr(m, n) for n in members(proto)]
        assert all(have) or not any(have), (proto.__name__, have)
    assert set(m.PRESETS) == set(TASKS)
    for task in TASKS:
        p = get_preset(task, name)
        assert set(p.init) <= set(m.PARAM_NAMES) | {"out_tau"}, (task, p.init)


@pytest.mark.parametrize("name", list(NEURONS))
def test_cpu_kernels_mirror_the_model(name):
    from resonet.kernels import kernel_module

    m = get_neuron(name)
    k = kernel_module("cpu", m)
    assert stem(k) == stem(m)
    for attr in members(CpuKernels):
        assert hasattr(k, attr), attr
    assert isinstance(k, CpuKernels)
    assert k.NACC == len(m.ACC_ROWS)
    # the first len(STATE_NAMES) rows of the state array are the reference's states, in order
    assert [k.STATE_ROWS[s] for s in m.STATE_NAMES] == list(range(len(m.STATE_NAMES)))
    assert 1 <= k.CKPT_ROWS < k.ROWS


@pytest.mark.parametrize("name", list(NEURONS))
def test_cuda_kernels_mirror_the_model(name):
    """Read with ast: the main test process never imports numba.cuda."""
    m = get_neuron(name)
    path = ROOT / "resonet" / "kernels" / "cuda" / f"{stem(m)}.py"
    tree = ast.parse(path.read_text())
    defined = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defined.add(n.id)
    assert set(members(CudaKernels)) <= defined, set(members(CudaKernels)) - defined


def test_verify_refuses_a_model_it_does_not_implement(tmp_path):
    """A golden file naming an unknown model is refused with one line, not a traceback."""
    src = sorted(GOLDEN_DIR.glob("*.npz"))
    if not src:
        pytest.skip(f"no golden files in {GOLDEN_DIR}")
    d = dict(np.load(src[0]))
    meta = json.loads(str(d["meta_json"]))
    meta["model"] = "izhikevich"
    d["meta_json"] = np.array(json.dumps(meta))
    dst = tmp_path / "izhikevich_seed1.npz"
    np.savez(dst, **d)
    r = subprocess.run([sys.executable, "-m", "resonet.verify", str(dst)], capture_output=True,
                       text=True)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "unknown neuron" in r.stderr and "Traceback" not in r.stderr
