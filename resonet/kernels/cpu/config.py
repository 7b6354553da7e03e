"""Numerical knobs of the CPU kernels, in one place (stumpy's ``config`` pattern).

- ``FASTMATH = False``: no ``nnan``/``ninf`` (they would let LLVM assume no NaN/Inf and hide a
  diverging network), and no ``contract``/``reassoc`` either: the elementwise state updates then
  round exactly like the NumPy reference (docs/official-code.md §1), which keeps float64 runs equal
  to it to the last ulp or two. The hot loops are axpy's (no reductions), so LLVM vectorises
  them without reassociation; ``{'contract'}`` on the row sums gained <= 2 % (measured,
  docs/cpu-kernels.md), not worth a second set of flags.
- ``CACHE = True``: compiled machine code is cached on disk next to the modules (``__pycache__``),
  so a second process starts without compiling (cold/warm times in docs/cpu-kernels.md).
  Numba keys a cached kernel on the source file that defines it only, not on the modules it
  calls, so :func:`drop_stale_cache` (run at import) empties the cache when any source file of
  this package changed since the cache was written.
- ``checkpoint_interval(T)``: BPTT keeps the continuous states only every K steps and recomputes
  the K steps of a segment before walking it backwards (docs/cpu-kernels.md, "Tape").
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

FASTMATH = False
CACHE = True
K_MIN, K_MAX = 8, 64


def checkpoint_interval(T: int) -> int:
    """Steps per checkpoint segment: ≈ √T (balances checkpoint and segment-buffer memory)."""
    return int(min(K_MAX, max(K_MIN, math.ceil(math.sqrt(T)))))


def drop_stale_cache() -> None:
    """Delete this package's numba cache files if any of its sources changed since they were
    written (numba would otherwise reuse a cached network kernel whose inlined cell or helper
    code is out of date). A no-op when the stamp matches or the folder is not writable."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    # and the files outside it whose code or constants the kernels compile in: the graded
    # spike's count (kernels/graded.py) and MOD_LEVELS (resonet/surrogate.py)
    outside = [here.parent / "graded.py", here.parent.parent / "surrogate.py"]
    for src in sorted(here.glob("*.py")) + outside:
        if src.name in ("__init__.py", "backend.py"):  # no compiled code in these
            continue
        digest.update(src.name.encode() + src.read_bytes())
    stamp_text = digest.hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "resonet-kernels-cpu.stamp"
    try:
        if stamp.is_file() and stamp.read_text() == stamp_text:
            return
        if cache.is_dir():
            for f in cache.iterdir():
                if f.suffix in (".nbi", ".nbc"):
                    f.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(stamp_text)
        os.replace(tmp, stamp)
    except OSError:  # read-only install: numba then caches elsewhere or not at all
        pass


# Wide layers (docs/cpu-kernels.md, "Wide layers"): from this width on, a chunk's tiles walk back
# in lockstep and the dense product of BPTT goes column block by column block, each block of the
# weights at most BLOCK_BYTES (half a core's 1 MB L2: the block, the tiles' operands and outputs
# stay there while every tile passes over it).
LOCKSTEP_MIN_H = 256
BLOCK_BYTES = 512 * 1024


def lockstep(H: int, kdim: int, itemsize: int, tiles: int) -> tuple[int, int]:
    """(group, cols) of the backward's walk (resonet.kernels.cpu.network): ``tiles`` = the tiles
    of a chunk, ``kdim`` the rows of the product's weights. Narrow layers: (1, H), each tile on
    its own, the whole width at once (the order of every result before wide layers existed)."""
    if H < LOCKSTEP_MIN_H:
        return 1, H
    cols = max(64, BLOCK_BYTES // (kdim * itemsize) // 64 * 64)
    return max(1, tiles), min(H, cols)


# From this width on (docs/cpu-kernels.md, "Wide layers"), where W_in and W_rec outgrow the
# caches: the forward keeps every step's input current I_t (T·H per sample) and BPTT's recompute
# of a segment reads it instead of gathering the weight rows of the step's input events and spikes
# again (memory-bound gathers, with which the recompute cost more than the forward itself); and
# the weight-gradient rows of spiking neurons and active inputs are added once per segment, not
# once per spike. Both cost more than they save in narrower layers (measured on ECG, H = 36, and
# S-MNIST, H = 256: 1–15 % slower steps).
WIDE_MIN_H = 512


def keeps_currents(H: int) -> bool:
    """Whether a layer of width H keeps its input currents on the BPTT tape."""
    return H >= WIDE_MIN_H
