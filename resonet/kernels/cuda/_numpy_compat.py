"""numba-cuda with numpy ≥ 2.5: keep its typing registry loadable.

numpy 2.5 removed ``np.row_stack`` (an alias of ``np.vstack``). numba-cuda (0.21.3 to 0.30.4,
the latest release) registers a typing overload for it unconditionally for numpy ≥ 2 when its
array implementations (``numba.cuda.np.arrayobj``) are first imported — which happens lazily,
at the first kernel compile — so with numpy 2.5 no kernel compiles at all ("module 'numpy' has
no attribute 'row_stack'"). numba's own CPU target guards the same line since 0.67; numba-cuda's
guard was declined upstream.

:func:`ensure` imports that module once, early, while a placeholder ``np.row_stack`` exists, and
removes the placeholder again. The placeholder is a function of its own (not ``np.vstack``), so
the overload numba-cuda registers for it can never be selected for a real call, and numpy's
namespace is left as it was. Where ``np.row_stack`` exists (numpy < 2.5) or the module does not
(numba's built-in CUDA target, the simulator) nothing is done.
"""

from __future__ import annotations

import importlib

import numpy as np

_MODULE = "numba.cuda.np.arrayobj"


def _row_stack_removed(tup):  # pragma: no cover - never called; see the module docstring
    raise AttributeError("np.row_stack was removed in numpy 2.5; use np.vstack")


def ensure() -> bool:
    """Make numba-cuda's array typing importable under this numpy; True if a placeholder was
    needed (numpy without ``row_stack``)."""
    if hasattr(np, "row_stack"):
        return False
    setattr(np, "row_stack", _row_stack_removed)  # noqa: B010 - numpy's stubs declare it
    try:
        importlib.import_module(_MODULE)
    except ImportError:  # no numba-cuda (built-in numba.cuda, or the simulator only)
        pass
    finally:
        delattr(np, "row_stack")
    return True
