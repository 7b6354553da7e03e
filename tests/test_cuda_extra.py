"""``pip install -e ".[cuda]"`` resolves to versions that work together."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _extras() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_cuda_extras_bring_a_toolkit_and_no_numpy_cap():
    # numba-cuda compiles nothing without a CUDA toolkit's NVRTC/NVVM: the extras take its own
    # toolkit variants (wheels); cuda12 for drivers older than CUDA 13's (580). numpy is not
    # capped: resonet's numpy-2.5 fix (tests/test_cuda_numpy.py) makes the cap unnecessary.
    from packaging.requirements import Requirement

    extras = _extras()
    for name, toolkit in (("cuda", "cu13"), ("cuda12", "cu12")):
        reqs = {r.name.lower(): r for r in map(Requirement, extras[name])}
        assert set(reqs) == {"numba-cuda"}, extras[name]
        nc = reqs["numba-cuda"]
        assert nc.extras == {toolkit} and nc.marker is None
        assert not nc.specifier.contains("0.21.3")  # older than what was tested
        assert nc.specifier.contains("0.30.4")  # what ran on the H200
    core = {Requirement(r).name.lower(): Requirement(r) for r in tomllib_loads()["project"][
        "dependencies"]}
    for v in ("2.4.6", "2.5.2"):  # numpy 2.5 allowed (numba 0.68 supports it)
        assert core["numpy"].specifier.contains(v)


def tomllib_loads() -> dict:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())
