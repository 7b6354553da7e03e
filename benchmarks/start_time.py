"""Cold and warm start of the cpu backend: seconds until the first training step has finished.

    python benchmarks/start_time.py [--dtype float32|float64] [--json FILE]

Each measurement runs in a fresh Python process (``python -c ...``) that imports resonet, builds
a small BRF network and runs one forward + loss + BPTT call on the cpu backend:

- cold: numba's on-disk cache of resonet/kernels/cpu is emptied first, so every kernel the
  call needs (forward, loss, backward, dense→CSR) is compiled;
- warm: the same again with the cache the cold run left behind (kernels are loaded from disk).

Reported: wall seconds of the whole process, and of the first ``run`` call inside it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "resonet" / "kernels" / "cpu" / "__pycache__"

CHILD = """
import time, sys
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
import numpy as np
from resonet.backends import get_backend
from resonet.gradcheck import build_case
from resonet.neurons import DEFAULT_NEURON
backend = get_backend("cpu")
spec, params, x, y, _ = build_case(DEFAULT_NEURON, 20, 8, 0, n_in=4, n_out=3, batch=2)
t1 = time.perf_counter()
backend.run(spec, params, x, y, dtype=np.{dtype})
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def child(dtype: str) -> tuple[float, float, float]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), dtype=dtype)],
                         capture_output=True, text=True, check=True).stdout.split()
    return time.perf_counter() - t, float(out[0]), float(out[1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    removed = 0
    if CACHE.is_dir():
        for f in CACHE.iterdir():
            if f.suffix in (".nbi", ".nbc"):
                f.unlink()
                removed += 1
    res = {}
    for name in ("cold", "warm"):
        total, setup, first = child(args.dtype)
        res[name] = {"process_s": total, "import_and_setup_s": setup, "first_run_s": first}
        print(f"{name}: process {total:6.2f} s  (import+setup {setup:.2f} s, first run() {first:.2f} s)"
              f"  [{args.dtype}]")
    res["cache_files_removed_before_cold"] = removed
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
