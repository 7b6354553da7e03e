"""Compile every CUDA kernel to PTX for a real GPU (sm_90) without a GPU, and check it.

The simulator runs the kernels as Python, so it cannot catch what only numba's CUDA compiler
sees: typing errors, unsupported functions, or a float32 kernel silently promoted to float64 by
a Python literal. This script types and compiles every kernel (each model, float32 and
float64, event and dense input) with ``numba.cuda.compile_ptx`` (which needs NVVM from a CUDA
toolkit, not a driver) and fails if the float32 recurrent kernels contain float64 arithmetic or
a BPTT kernel lacks its launch bounds (resonet.kernels.cuda.config.BACKWARD_LAUNCH_BOUNDS).
By default the dense-input variants (uint8, int8, float) are compiled for BRF only (the input
code is model-independent; this keeps the check near 30 s); ``--all`` compiles every model with
every input kind. With ``--ptxas`` it also runs ``ptxas -v`` and prints registers and spills.

    python tests/cudasim/ptx_check.py [--all] [--ptxas]     # run WITHOUT NUMBA_ENABLE_CUDASIM

Exit code 0: all compiled and checked; 1: a failure; 77: no NVVM here (skipped).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from numba import cuda, float32, typeof

    def probe(a):
        a[0] = float32(1.0)

    try:  # a CUDA toolkit's compiler (NVVM, and NVRTC for numba-cuda) must be here
        cuda.compile_ptx(probe, (float32[:],), cc=(9, 0))
    except Exception as exc:
        print(f"skipped: no CUDA toolkit to compile with ({type(exc).__name__}: "
              f"{str(exc).splitlines()[0][:200]})")
        return 77
    import numba.cuda.dispatcher as disp

    class _Device:  # device functions compile for the "current" device: pretend an H100
        compute_capability = (9, 0)

    disp.get_current_device = lambda: _Device()

    from resonet.kernels import kernel_module
    from resonet.kernels.cuda.config import BACKWARD_LAUNCH_BOUNDS
    from resonet.kernels.cuda.network import get_kernels
    from resonet.kernels.cuda.optim import get_optim_kernels
    from resonet.neurons import NEURONS

    I, H, C, T, B = 7, 40, 4, 9, 3
    cc = (9, 0)
    f64_op = re.compile(r"^\s*(add|sub|mul|div|fma|sqrt|neg|abs|min|max|setp\.\w+)(\.rn)?\.f64",
                        re.M)
    ptx_out = {}
    failures = []

    def A(shape, dt):
        return np.zeros(shape, dt)

    def compile_one(name, kernel, args, check_f32):
        sig = tuple(typeof(a) for a in args)
        # the kernel's own launch bounds, as its decorator gives them to the real compiler
        bounds = kernel.targetoptions.get("launch_bounds")
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc, launch_bounds=bounds)
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        ptx_out[name] = ptx
        if check_f32 and f64_op.search(ptx):
            failures.append(f"{name}: float64 arithmetic in a float32 kernel")
        if name.startswith("backward_"):  # ≤ 128 registers: 2 blocks of 256 threads per SM
            want = BACKWARD_LAUNCH_BOUNDS
            if not (re.search(rf"\.maxntid\s+{want[0]}\b", ptx)
                    and re.search(rf"\.minnctapersm\s+{want[1]}\b", ptx)):
                failures.append(f"{name}: the PTX lacks the launch bounds {want}")

    for dt in (np.float32, np.float64):
        f32 = dt == np.float32
        oks = get_optim_kernels(dt)
        for mname, model in NEURONS.items():
            cells = kernel_module("cuda", model)
            NP = len(model.PARAM_NAMES)
            ks = get_kernels(dt, cells, NP)
            R, NC, NA = cells.ROWS, max(cells.NCELL, 1), cells.NACC
            W = A((H, I + H), dt)
            WT = A((I + H, H), dt)
            ix = A(B, np.int64)
            inputs = [(0, A(20, np.int32), A(20, np.int32), A((1, 1, 1), dt)),
                      (1, A(1, np.int32), A(1, np.int32), A((5, T, I), np.uint8)),
                      (1, A(1, np.int32), A(1, np.int32), A((5, T, I), np.int8)),
                      (1, A(1, np.int32), A(1, np.int32), A((5, T, I), dt))]
            if mname != "brf" and "--all" not in argv:
                inputs = inputs[:1]
            for mode, steps, chans, xd in inputs:
                # ..., zin: the spike bitmasks of the layer below (stacked layers)
                common = [R, ix, ix, mode, 1, A(B + 1, np.int64), steps, chans, A(1, dt), xd,
                          A(T, np.int64), A(1, dt), A((T, B, 1), np.uint32)]
                # ..., bias, rbias, cell, k, keep, keepz, tape, zmask, O, Rr, nspk, stg, first,
                # graded, zv
                fwd = common + [WT[:I], WT[I:], A((H, C), dt), A(C, dt), A(C, dt), A(H, dt),
                                A(C, dt), A((NC, H), dt), A(8, dt), 1, 1,
                                A((T, B, R - 1, H), dt), A((T, B, 2), np.uint32),
                                A((T, B, C), dt), A((T, B, C), dt), A(B, np.int64),
                                A((B, R * H), dt), 1, 1, A((T, B, H), dt)]
                # ..., r0, trunc, want_dx, dx, ext, dz_ext, gin, dIt, gout, car, acc_b, dao_b,
                # gb, dbo_b, graded, zv
                bwd = common + [W[:, I:], A((C, H), dt), W[:, :I], A(C, dt), A(C, dt),
                                A((NC, H), dt), A(8, dt), A(9, dt), A((T, B, R - 1, H), dt),
                                A((T, B, 2), np.uint32), A((T, B, C), dt), A((T, B, C), dt),
                                A((T, B, C), dt), 0, 0, 0, A((T, B, I), dt), 0,
                                A((T, B, H), dt), A((B, I, H), dt),
                                A((T, B, H), dt), A((B, H, C), dt), A((B, R * H), dt),
                                A((B, max(NA, 1) * H), dt), A((B, C), dt), A((B, H), dt),
                                A((B, C), dt), 1, A((T, B, H), dt)]
                tag = f"{mname}_{np.dtype(dt).name}_{'events' if mode == 0 else xd.dtype}"
                compile_one(f"forward_{tag}", ks.forward, fwd, f32)
                compile_one(f"backward_{tag}", ks.backward, bwd, f32)
            P = A(100, dt)
            compile_one(f"grad_rec_{mname}_{np.dtype(dt).name}", ks.grad_rec,
                        [A((T, B, H), dt), A((T, B, 2), np.uint32), 2, 2, A((2, H, H), dt), 1,
                         A((T, B, H), dt)], f32)
            compile_one(f"reduce_{mname}_{np.dtype(dt).name}", ks.reduce,
                        [H, I, C, P, A((NC, H), dt), A(8, dt), A(4, dt), A(C, dt), A((B, I, H), dt),
                         A((2, H, H), dt), A((B, H, C), dt), A((B, max(NA, 1) * H), dt),
                         A((B, C), dt), A((B, H), dt), A((B, C), dt), 1, P], f32)
            compile_one(f"prepare_{mname}_{np.dtype(dt).name}", ks.prepare,
                        [H, I, C, P, A(4, dt), 1, 1, A((NC, H), dt), A(C, dt), A(C, dt), WT,
                         A((H, C), dt)], f32)
        ks = get_kernels(dt, kernel_module("cuda", NEURONS["brf"]), 2)
        # loss/norm/update hold float64 statistics on purpose (no float32 check)
        compile_one(f"loss_sample_{np.dtype(dt).name}", ks.loss_sample,
                    [A((T, B, C), dt), 0, A(B, np.int64), A((B, 1), np.int64), A((T, B, C), dt),
                     A((T, B), dt), A((T, B), np.int32), A(B, dt), A((B, 4), np.int64)], False)
        compile_one(f"loss_batch_{np.dtype(dt).name}", ks.loss_batch,
                    [T, A(B, dt), A((B, 4), np.int64), A(B, np.int64), A(8, np.float64), 0], False)
        P = A(100, dt)
        compile_one(f"norm_part_{np.dtype(dt).name}", oks.norm_part,
                    [P, A(7, np.int64), A((6, 4), np.float64), A((6, 4), np.int64)], False)
        compile_one(f"norm_final_{np.dtype(dt).name}", oks.norm_final,
                    [A((6, 4), np.float64), A((6, 4), np.int64), 0.0, A(2, np.float64),
                     A(7, np.int64), A(1, dt)], False)
        compile_one(f"update_{np.dtype(dt).name}", oks.update,
                    [0, P, P, P, P, A(8, np.float64), A(7, np.int64), A(2, np.float64), A(1, dt),
                     1] + [0.1] * 9 + [A((1, 2), np.int64), A(1, np.float64)], False)
        compile_one(f"mask_{np.dtype(dt).name}", oks.mask, [P, A(100, np.uint8)], f32)
    print(f"compiled {len(ptx_out)} kernels to PTX for sm_{cc[0]}{cc[1]}")
    ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
    if "--ptxas" in argv and Path(ptxas).exists():
        with tempfile.TemporaryDirectory() as d:
            for name, ptx in sorted(ptx_out.items()):
                f = Path(d) / f"{name}.ptx"
                f.write_text(ptx)
                r = subprocess.run([ptxas, "-arch=sm_90", "-v", str(f), "-o", "/dev/null"],
                                   capture_output=True, text=True)
                info = " ".join(line.split("info    :")[-1].strip() for line in r.stderr.splitlines()
                                if "Used" in line or "spill" in line)
                print(f"  {name:<34s} {info}")
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
