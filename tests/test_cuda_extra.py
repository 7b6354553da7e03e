"""``pip install -e ".[cuda]"`` resolves to versions that work together."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_cuda_extra_keeps_numpy_below_2_5():
    # Why: numba-cuda registers a typing overload of np.row_stack unconditionally for numpy >= 2
    # (numba_cuda/numba/cuda/np/arrayobj.py; checked in the wheels of 0.21.3, 0.22.0, 0.26.0,
    # 0.28.0 and 0.30.4, the latest release). numpy 2.5 removed np.row_stack, so with numpy 2.5
    # numba-cuda compiles no kernel ("AttributeError: module 'numpy' has no attribute
    # 'row_stack'"). numba itself guards the overload since 0.67, but the same guard for
    # numba-cuda (NVIDIA/numba-cuda#916) was declined and its issue (#907) closed: numba-cuda is
    # in maintenance mode. So no numba-cuda minimum can fix it; the extra caps numpy instead.
    # Lift the cap only together with a minimum numba-cuda that guards the overload.
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    from packaging.requirements import Requirement

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["cuda"]
    reqs = {r.name.lower(): r for r in map(Requirement, extra)}
    assert "numba-cuda" in reqs, extra
    numpy = reqs.get("numpy")
    assert numpy is not None, f"the cuda extra must constrain numpy: {extra}"
    assert numpy.marker is None  # on every platform and Python
    for bad in ("2.5.0", "2.5.2", "2.6.0"):
        assert not numpy.specifier.contains(bad), (numpy, bad)
    for good in ("2.4.6", "2.0.2", "1.26.4"):  # what the project runs with today
        assert numpy.specifier.contains(good), (numpy, good)
    # the core dependency still allows what the cap allows (no unsatisfiable combination)
    core = {Requirement(r).name.lower(): Requirement(r) for r in tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    assert core["numpy"].specifier.contains("2.4.6")
