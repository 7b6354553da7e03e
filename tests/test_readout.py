"""The sigmoid readout (``li_sigmoid``, the official LICellSigmoid, α = σ(τ_o); eqs. (L1s),
(L8s) of resonet/neurons/li.py): its gradient, its spec and settings, and the BHRF ECG preset
that uses it (Table 3). Its parity with the official code is the golden file
tests/golden/bhrf_sigmoid_seed1.npz (tests/test_golden.py, test_cpu_tape.py, cudasim)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from resonet.backends import ReferenceBackend
from resonet.errors import ConfigError
from resonet.gradcheck import build_case
from resonet.neurons import li
from resonet.presets import get_preset
from resonet.settings import resolve
from resonet.spec import NetworkSpec

REF = ReferenceBackend()


def test_tau_gradient_matches_central_differences():
    """dL/dτ_o through (L1s), (L8s) against central differences of the loss (float64; step 1e-6
    gives truncation and rounding errors near 1e-9 relative, hence the 1e-6 bound)."""
    spec, params, x, y, _ = build_case("bhrf", 30, 6, 0, n_in=3, n_out=3, batch=2)
    spec = replace(spec, readout="li_sigmoid")
    params["out.tau_mem"] = np.array([-0.1, 0.05, 0.2])
    g = REF.run(spec, params, x, y).grads["out.tau_mem"]
    eps = 1e-6
    for c in range(3):
        up = {k: v.copy() for k, v in params.items()}
        dn = {k: v.copy() for k, v in params.items()}
        up["out.tau_mem"][c] += eps
        dn["out.tau_mem"][c] -= eps
        fd = (REF.run(spec, up, x, y).loss - REF.run(spec, dn, x, y).loss) / (2 * eps)
        assert abs(g[c] - fd) <= 1e-6 * max(1e-3, abs(fd)), (c, g[c], fd)
    # and it is not the LI readout's gradient
    assert not np.allclose(g, REF.run(replace(spec, readout="li"), params, x, y).grads["out.tau_mem"])


def test_alpha_of_each_readout():
    tau = np.array([-2.0, 0.0, 3.0])
    assert np.allclose(li.alpha(tau, "li_sigmoid"), 1 / (1 + np.exp(-tau)))
    with pytest.raises(ConfigError, match="nonzero"):
        li.alpha(tau, "li")  # τ = 0 has no LI time constant; σ(0) = 0.5 is fine
    with pytest.raises(ConfigError, match="finite"):
        li.alpha(np.array([np.nan]), "li_sigmoid")


def test_spec_names_the_readout_only_when_it_is_not_the_default():
    assert "readout" not in NetworkSpec("bhrf", 4, 8, 6).to_dict()  # older runs' specs still match
    d = NetworkSpec("bhrf", 4, 8, 6, readout="li_sigmoid").to_dict()
    assert d["readout"] == "li_sigmoid" and NetworkSpec(**d).readout == "li_sigmoid"
    with pytest.raises(ConfigError, match="readout must be one of"):
        NetworkSpec("bhrf", 4, 8, 6, readout="sigmoid")


def test_bhrf_ecg_preset_follows_table_3_and_the_flag_overrides_it():
    p = get_preset("ecg", "bhrf")
    assert p.readout == "li_sigmoid" and tuple(p.init["out_tau"]) == (0.0, 0.1)
    assert get_preset("shd", "bhrf").readout == "li" and get_preset("ecg", "brf").readout == "li"
    assert resolve({"task": "ecg", "neuron": "bhrf"}).network.readout == "li_sigmoid"
    s = resolve({"task": "ecg", "neuron": "bhrf", "readout": "li"})
    assert s.network.readout == "li"
    assert resolve({"task": "ecg", "neuron": "brf", "readout": "li_sigmoid"}).network.readout == "li_sigmoid"
    with pytest.raises(ConfigError, match="readout"):
        resolve({"task": "ecg", "readout": "tanh"})
