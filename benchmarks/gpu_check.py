"""One command that checks the CUDA engine on a GPU: compile, parity, training, speed, width.

    bash benchmarks/gpu_check.sh OUT            # the same as: python benchmarks/gpu_check.py OUT
    python benchmarks/gpu_check.py OUT [--only compile,verify,train,bench,width] [--golden DIR]
                                       [--time-limit S] [--simulate | --dry-run]

Made for a lent GPU machine that gives one command a few minutes and brings back a handful of
files: the whole check ends within ``--time-limit`` seconds (default 400, i.e. under 7 minutes)
counted from its start, and writes exactly five files directly under OUT (a new or empty
folder), whatever happens:

==================  ===========================================================================
file                content
==================  ===========================================================================
gpu_check.json      every step: command, status, seconds, timeout, numbers; the device and the
                    versions; rewritten after every step (a hard kill keeps what was measured)
summary.txt         the table printed at the end
logs.txt            every step's output, one after the other
bench.json          the raw JSON of the compile, benchmark and width steps
runs.tar.gz         the run directories of the two training runs
==================  ===========================================================================

Everything else (the steps' logs and outputs, the synthetic data, numba's kernel cache) lives in
a temporary folder that is removed at the end. The steps, in the order they start (steps on one
line run at the same time; the CPU ones run beside the GPU ones):

==================  ===========================================================================
step                what passes
==================  ===========================================================================
device              numba.cuda finds a GPU and compiles and runs a one-line kernel (GPU, driver,
                    numba, numba-cuda, numpy versions; with numpy ≥ 2.5 through resonet's fix)
compile,            ``benchmarks/cuda_compile.py``: one BRF float32 training step of a tiny
synthetic-data      network compiles every kernel (cold; numba's cache starts empty), with each
                    kernel's registers, spills and launch limit; and the synthetic SHD-format
                    data set (CPU). If compiling fails with the cache on but works without it
                    (step ``compile-nocache``), the rest of the check runs with the cache off.
compile-cached      the same in a new process: the kernels load from the cache (its time is the
                    per-process start-up cost every later step pays)
verify-float64,     ``python -m resonet.verify --backend cuda --json`` on the golden files
verify-float32,     (float64: 1e-9, spikes identical; float32: TOLERANCE_F32);
train-cpu           ``python -m resonet.train shd`` for 2 epochs on the synthetic data in float64
                    on the cpu backend (in the background, all but two cores)
train-cuda          the same on the cuda backend
bench-shd-b32, …    ``benchmarks/train_step.py --backend cuda`` at the SHD (b32, b256), ECG (b16)
                    and S-MNIST (b256) sizes: training step, inference and device-resident
                    epochs; passes when it runs; the speed targets are reported (met/missed)
width               ``benchmarks/cuda_width.py``: H = 1024 and 2048, parity with the cpu
                    backend in float64, the memory of a full SHD batch (B = 256), inference and
                    training-step times
train-agree         the two training runs' test accuracy after epoch 2 differs by ≤ 1 point
==================  ===========================================================================

The two training runs use float64: there the CPU and CUDA engines agree to rounding, so two
correct engines give the same accuracy and the 1-point margin only absorbs a rare spike flip late
in training. In float32 they would drift apart like two seeds (float32 is what the verify and
benchmark steps run).

Time: every step has a timeout (its own, cut to what is left of the check's); a step that would
start with less than a few seconds left fails as "not started". A watchdog ends the check just
before the limit whatever a step does. On exit (normal, timeout, Ctrl-C, SIGTERM, SIGHUP, an
error in this script) every running step's process group is killed and the five files are
written; on Linux a step also receives SIGTERM if the check is killed outright (SIGKILL).

Exit code 0 if every step passed; 1 if any failed or timed out; 2 (one line, nothing written)
without numba-cuda or a CUDA GPU, or for a bad OUT or option; 130 on Ctrl-C or SIGTERM.

``--simulate`` runs the same flow under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) on
tiny sizes, so that the test suite can check the script without a GPU; its numbers mean nothing.
``--dry-run`` runs nothing: it prints the plan (each step's command, timeout and estimated time,
and the estimated total against the limit) and writes the five files with the steps marked
"planned" (no GPU needed).
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # resonet from this checkout (as the steps, see step_env)

TIME_LIMIT_S = 400.0  # default: the check, start to end (the lent machine allows 10 minutes)
SIM_TIME_LIMIT_S = 2400.0  # --simulate on a loaded 2-core machine
RESERVE_S = 15.0  # kept at the end: stopping the steps still running and writing the files
WATCHDOG_S = 2.0  # the watchdog fires this long before the limit (the files take < 1 s)
MIN_START_S = 3.0  # a step is not started with less than this left
OUT_FILES = ("gpu_check.json", "summary.txt", "logs.txt", "bench.json", "runs.tar.gz")

# The speed targets of benchmarks/README.md ("GPU"): training-epoch seconds on the device.
TARGET_EPOCH_S = {"bench-shd-b32": 0.5, "bench-shd-b256": 0.1, "bench-ecg-b16": 2.0,
                  "bench-smnist-b256": 10.0}
MAX_ACC_DIFF = 1.0  # percentage points, train-agree
NEURON = "brf"  # the benchmarks' model: the paper's (its targets are BRF epochs)
EPOCHS = 2

# Per step: timeout (s) and the time it is expected to take on an H100/H200-class machine with
# 16 cores (the plan's estimate; gpu_check.json records the real ones).
TIMEOUTS = {"device": 60, "synthetic-data": 120, "compile": 180, "compile-nocache": 150,
            "compile-cached": 60, "verify-float64": 180, "verify-float32": 180, "train-cpu": 300,
            "train-cuda": 150, "bench-shd-b32": 90, "bench-shd-b256": 90, "bench-ecg-b16": 90,
            "bench-smnist-b256": 120, "width": 150}
ESTIMATES = {"device": 8, "synthetic-data": 15, "compile": 45, "compile-nocache": 45,
             "compile-cached": 8, "verify-float64": 60, "verify-float32": 60, "train-cpu": 90,
             "train-cuda": 40, "bench-shd-b32": 25, "bench-shd-b256": 25, "bench-ecg-b16": 25,
             "bench-smnist-b256": 45, "width": 45}
SIM_TIMEOUT = 900

GROUPS = {"compile": ("compile", "compile-cached"),
          "verify": ("verify-float64", "verify-float32"),
          "train": ("synthetic-data", "train-cpu", "train-cuda", "train-agree"),
          "bench": ("bench-shd-b32", "bench-shd-b256", "bench-ecg-b16", "bench-smnist-b256"),
          "width": ("width",)}
# The commands of benchmarks/README.md ("GPU"): (task, batch, repeats, epoch samples).
BENCH = {"bench-shd-b32": ("shd", 32, 20, 7341), "bench-shd-b256": ("shd", 256, 20, 7341),
         "bench-ecg-b16": ("ecg", 16, 10, 557), "bench-smnist-b256": ("smnist", 256, 5, 54000)}
WIDTH = ["--hidden", "1024,2048", "--batch", "32", "--steps", "25", "--repeats", "3"]

# --simulate: tiny sizes (the simulator runs every CUDA thread as a Python thread).
SIM_BENCH_SIZE = {"shd": (12, 4, 3, 8), "ecg": (4, 4, 3, 8), "smnist": (1, 4, 3, 8)}  # I H C T
SIM_BENCH_BATCH = {16: 2, 32: 3, 256: 4}
SIM_DATA = ("--n-train", "10", "--n-test", "4")  # 9 train / 1 validation / 4 test samples ...
SIM_TRAIN = ("--subset", "2", "--hidden", "4", "--batch", "2", "--eval-batch", "2")  # ... of which 2/1/2
SIM_WIDTH = ["--hidden", "40", "--inputs", "12", "--batch", "2", "--steps", "4",
             "--full-batch", "2", "--full-steps", "6", "--repeats", "1"]
SIM_ENV = {"NUMBA_ENABLE_CUDASIM": "1", "RESONET_CUDA_TPB": "2", "RESONET_CUDA_TPB_FLAT": "8"}
# Run in front of every simulated command: the short GIL switch interval and the two simulator
# race fixes (resonet.kernels.cuda.simulator), without which the simulator is slow and can compute
# wrong reductions.
SIM_PRELUDE = """\
import sys
sys.setswitchinterval(1e-4)
from resonet.kernels.cuda import simulator
simulator.install()
"""

NO_NUMBA_CUDA = ("numba-cuda is not installed; the GPU check needs it: "
                 "python -m pip install -e '.[cuda]'")
NO_GPU = ("no CUDA GPU found (numba.cuda.is_available() is False); the GPU check needs an NVIDIA "
          "GPU and its driver (--simulate runs the flow under the CUDA simulator instead)")

# Runs in its own process (a hung driver cannot hang the check); prints one JSON line.
PROBE = r"""
import json, os, platform, sys
out = {"python": platform.python_version(), "cores": os.cpu_count()}
import numpy as np
import numba
out["numpy"], out["numba"] = np.__version__, numba.__version__
try:
    from importlib.metadata import version
    out["numba_cuda"] = version("numba-cuda")
except Exception:
    out["numba_cuda"] = None
out["simulator"] = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
def done(kind, error=None):
    out["kind"] = kind
    if error:
        out["error"] = error
    print(json.dumps(out))
    sys.exit(0)
try:
    from numba import cuda
except ImportError as exc:
    done("no-numba-cuda", str(exc))
try:
    available = bool(cuda.is_available())
except Exception as exc:
    done("no-gpu", f"{type(exc).__name__}: {exc}")
if not available:
    done("no-gpu")
try:
    # resonet's fix for numba-cuda with numpy >= 2.5 (resonet/kernels/cuda/_numpy_compat.py)
    from resonet.kernels.cuda._numpy_compat import ensure
    out["numpy_row_stack_placeholder"] = ensure()
    if out["simulator"]:
        out["device"], out["compute_capability"] = "CUDA simulator", None
    else:
        dev = cuda.get_current_device()
        name = dev.name
        out["device"] = name.decode() if isinstance(name, bytes) else str(name)
        out["compute_capability"] = ".".join(map(str, dev.compute_capability))
        out["multiprocessors"] = dev.MULTIPROCESSOR_COUNT
        free, total = cuda.current_context().get_memory_info()
        out["memory_gib"] = round(total / 2**30, 1)
        try:
            from numba.cuda.cudadrv.driver import driver
            out["driver_cuda_version"] = ".".join(map(str, driver.get_version()))
        except Exception:
            pass
        try:
            out["runtime_cuda_version"] = ".".join(map(str, cuda.runtime.get_version()))
        except Exception:
            pass
    @cuda.jit
    def k(a):
        i = cuda.grid(1)
        if i < a.size:
            a[i] = 2.0 * i
    a = cuda.to_device(np.zeros(8))
    k[1, 8](a)
    if not np.array_equal(a.copy_to_host(), 2.0 * np.arange(8)):
        done("broken", "a one-line test kernel computed a wrong result")
except Exception as exc:
    done("broken", f"{type(exc).__name__}: {exc}".splitlines()[0])
done("ok")
"""


class Interrupted(Exception):
    """Ctrl-C, SIGTERM/SIGHUP, or the watchdog at the time limit."""


class Check:
    """Runs the steps, records them in ``gpu_check.json`` and writes the five files."""

    def __init__(self, out: Path, work: Path, args, probe: dict, t0: float):
        self.out = out  # the user's folder: the five files only
        self.work = work  # logs, runs, benchmark JSON, synthetic data, numba's cache
        self.args = args
        self.sim = args.simulate
        self.dry = args.dry_run
        self.steps: list[dict] = []
        self.t0 = t0
        self.deadline = t0 + args.time_limit - RESERVE_S
        self.procs: dict[str, subprocess.Popen] = {}
        self.data_dir: Path | None = None
        self.extra_env: dict[str, str] = {}
        mode = "dry-run" if self.dry else ("simulate" if self.sim else "gpu")
        self.report = {
            "schema": 2, "mode": mode, "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": "python benchmarks/gpu_check.py " + shlex.join(sys.argv[1:]),
            "device": probe, "versions": {k: probe.get(k) for k in
                                          ("python", "numpy", "numba", "numba_cuda")},
            "time_limit_s": args.time_limit, "files": list(OUT_FILES),
            "steps": self.steps, "ok": None, "total_s": None, "interrupted": None,
        }
        for d in ("logs", "runs", "bench"):
            (work / d).mkdir(parents=True, exist_ok=True)

    # -- commands -----------------------------------------------------------------------------
    def argv(self, kind: str, target: str, args: list[str], cuda: bool, bench_size=None) -> list:
        """The real argv of ``python -m target`` / ``python target``; under --simulate, for a
        CUDA step, the same behind the simulator prelude (and with a tiny benchmark network)."""
        if not (self.sim and cuda):
            return [sys.executable, "-m", target, *args] if kind == "module" else \
                   [sys.executable, target, *args]
        if kind == "module":
            body = (f"import runpy\nsys.argv[0] = {target!r}\n"
                    f"runpy.run_module({target!r}, run_name='__main__', alter_sys=True)\n")
        else:  # a benchmark script, with the task's network shrunk for train_step.py
            body = (f"import runpy\nsys.argv[0] = {target!r}\n"
                    f"sys.path.insert(0, {str(Path(target).parent)!r})\n")
            if bench_size is not None:
                body += ("import train_step\n"
                         f"train_step.TASKS[{bench_size[0]!r}]['size'] = "
                         f"{tuple(bench_size[1])!r}\n"
                         "sys.exit(train_step.main(sys.argv[1:]))\n")
            else:
                body += f"runpy.run_path({target!r}, run_name='__main__')\n"
        return [sys.executable, "-c", SIM_PRELUDE + body, *args]

    def env(self, cuda: bool) -> dict:
        env = step_env(self.sim, cuda)
        env.setdefault("NUMBA_CACHE_DIR", str(self.work / "numba-cache"))
        env.update(self.extra_env)
        return env

    # -- running ------------------------------------------------------------------------------
    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def new_step(self, name: str, **kw) -> dict:
        step = {"name": name, "status": "running", **kw}
        self.steps.append(step)
        return step

    def start(self, name: str, kind: str, target: str, args: list, cuda: bool,
              bench_size=None) -> dict:
        """Start a step's process (stdout+stderr to the work folder's logs/NAME.log); the step,
        already failed if too little of the check's time is left."""
        args = list(map(str, args))
        shown = shlex.join(["python", *(["-m"] if kind == "module" else []), target, *args])
        if self.data_dir is not None:
            shown = shown.replace(str(self.data_dir), "DATA")
        shown = shown.replace(str(self.work), "WORK")
        step = self.new_step(name, command=shown, simulator=self.sim and cuda,
                             estimate_s=ESTIMATES.get(name))
        timeout = SIM_TIMEOUT if self.sim else TIMEOUTS[name]
        step["timeout_s"] = timeout = min(timeout, math.floor(self.left()))
        if self.dry:
            step["status"] = "planned"
            step["detail"] = f"timeout {timeout} s, estimated {ESTIMATES.get(name, '?')} s"
            return step
        if timeout < MIN_START_S:
            step["timeout_s"] = 0
            return self.finish(step, "fail", "not started: the check's --time-limit ran out")
        n = len(self.steps)
        print(f"[{n}] {name}: {shown}" + (" (CUDA simulator)" if step["simulator"] else "")
              + f"  [timeout {timeout:.0f} s]", flush=True)
        log = open(self.work / "logs" / f"{name}.log", "w", encoding="utf-8")
        log.write(f"$ {shown}\n")
        log.flush()
        step["_log"] = log
        step["_t0"] = time.perf_counter()
        # own session: a timeout or an interrupt ends the step's whole process group
        self.procs[name] = subprocess.Popen(
            self.argv(kind, target, args, cuda, bench_size), cwd=ROOT, env=self.env(cuda),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_die_with_parent)
        self.save()
        return step

    def wait(self, step: dict) -> int | None:
        """Wait for a started step; its exit code, or None after a timeout (process killed)."""
        if step["status"] != "running" or step["name"] not in self.procs:
            return None
        proc = self.procs[step["name"]]  # stays listed while waited for: an interrupt ends it
        left = step["_t0"] + step["timeout_s"] - time.perf_counter()
        try:
            rc = proc.wait(timeout=max(left, 0.1))
        except subprocess.TimeoutExpired:
            _kill(proc)
            rc = None
        del self.procs[step["name"]]
        step["seconds"] = round(time.perf_counter() - step["_t0"], 2)
        step["exit_code"] = rc
        step.pop("_log").close()
        step.pop("_t0")
        return rc

    def run(self, name, kind, target, args, cuda, bench_size=None):
        step = self.start(name, kind, target, args, cuda, bench_size)
        return step, self.wait(step)

    def finish(self, step: dict, status: str, detail: str, numbers: dict | None = None) -> dict:
        if step.get("exit_code", 0) is None:  # wait() killed it
            status, detail = "fail", f"timed out after {step['timeout_s']:.0f} s; " + detail
        step["status"], step["detail"] = status, detail
        if numbers is not None:
            step["numbers"] = numbers
        if status == "fail":
            tail = _tail(self.work / "logs" / f"{step['name']}.log", 8)
            if tail:
                step["log_tail"] = tail
        secs = f"{step['seconds']:.1f} s" if "seconds" in step else ""
        print(f"    {status.upper():<7s} {secs:>8s}  {detail}", flush=True)
        self.save()
        return step

    def why(self, step: dict, rc) -> str:
        """'exit code N: <the log's last line>' (a CLI's one-line error, or a traceback's end)."""
        last = _tail(self.work / "logs" / f"{step['name']}.log", 1)
        return f"exit code {rc}" + (f": {last[0].strip()[:160]}" if last else "")

    def skip(self, name: str, why: str) -> None:
        self.steps.append({"name": name, "status": "skipped", "detail": why})
        print(f"[-] {name}: skipped ({why})", flush=True)
        self.save()

    def save(self) -> None:
        """gpu_check.json in OUT, rewritten atomically (a hard kill keeps the last version)."""
        rep = dict(self.report, total_s=round(time.perf_counter() - self.t0, 1),
                   steps=[{k: v for k, v in s.items() if not k.startswith("_")} for s in self.steps])
        _write(self.out / "gpu_check.json", json.dumps(rep, indent=2) + "\n")

    def kill_all(self, why: str = "interrupted") -> None:
        _kill_all(list(self.procs.values()))
        self.procs.clear()
        for s in self.steps:
            if s["status"] == "running":
                s["status"], s["detail"] = "fail", why
                if "_t0" in s:
                    s["seconds"] = round(time.perf_counter() - s.pop("_t0"), 2)
                if "_log" in s:
                    s.pop("_log").close()

    # -- the steps ----------------------------------------------------------------------------
    def compile_steps(self) -> None:
        """compile (cold), compile-nocache if that failed, compile-cached (a new process)."""
        step, rc = self.run("compile", "script", "benchmarks/cuda_compile.py",
                            ["--json", self.work / "bench" / "compile.json"], cuda=True)
        if self.dry or step["status"] != "running":
            if self.dry:
                self.start("compile-cached", "script", "benchmarks/cuda_compile.py",
                           ["--json", self.work / "bench" / "compile-cached.json"], cuda=True)
            return
        ok = self.finish_compile(step, rc, "compile")
        if not ok:
            self.extra_env["RESONET_CUDA_CACHE"] = "0"
            step, rc = self.run("compile-nocache", "script", "benchmarks/cuda_compile.py",
                                ["--json", self.work / "bench" / "compile-nocache.json"],
                                cuda=True)
            if step["status"] == "running" and self.finish_compile(step, rc, "compile-nocache"):
                self.report["cache"] = "off: compiling with numba-cuda's cache failed, without it"\
                                       " it works; the other steps ran with RESONET_CUDA_CACHE=0"
            else:
                del self.extra_env["RESONET_CUDA_CACHE"]
            return
        step, rc = self.run("compile-cached", "script", "benchmarks/cuda_compile.py",
                            ["--json", self.work / "bench" / "compile-cached.json"], cuda=True)
        if step["status"] == "running":
            self.finish_compile(step, rc, "compile-cached")

    def finish_compile(self, step: dict, rc, name: str) -> bool:
        nums = _read_json(self.work / "bench" / f"{name}.json")
        if rc != 0 or nums is None:
            self.finish(step, "fail", self.why(step, rc) if rc else "no JSON written", nums)
            return False
        regs = {k: v["registers"] for k, v in (nums.get("kernels") or {}).items() if v}
        detail = (f"first step {nums['first_step_s']:.1f} s (compile or cache load), session "
                  f"{nums['session_first_step_s']:.1f} s, warm step "
                  f"{nums['second_step_s'] * 1e3:.1f} ms")
        if regs:
            detail += "; registers " + ", ".join(f"{k} {v}" for k, v in regs.items())
        self.finish(step, "pass", detail, nums)
        return True

    def start_verify(self, dtype: str) -> dict | None:
        name = f"verify-{dtype}"
        files, pending = golden_files(Path(self.args.golden))
        if not files:
            step = self.new_step(name)
            self.finish(step, "fail", f"no golden files of implemented models in {self.args.golden}")
            return None
        step = self.start(name, "module", "resonet.verify",
                          ["--backend", "cuda", "--dtype", dtype, "--json", *map(_rel, files)],
                          cuda=True)
        step["_pending"] = [(p.name, m) for p, m in pending]
        step["_nfiles"] = len(files)
        return step

    def finish_verify(self, step: dict | None) -> None:
        if step is None or step["status"] != "running":
            return
        rc = self.wait(step)
        pending = step.pop("_pending")
        nfiles = step.pop("_nfiles")
        rep = _last_json(self.work / "logs" / f"{step['name']}.log")  # verify --json's object
        per_file = []
        for f in (rep or {}).get("files", []):
            errs = {k: float(v) for k, v in f["errors"].items()}
            worst = max(errs, key=errs.get)
            per_file.append({"file": Path(f["path"]).name, "model": f["model"],
                             "max_rel_err": errs[worst], "worst": worst,
                             "spike_mismatches": f["spike_mismatches"], "pass": f["passed"],
                             "errors": errs})
        nums = {"files": per_file, "tolerance": None if rep is None else rep["tolerance"],
                "skipped": {n: f"model {m} not implemented by resonet" for n, m in pending}}
        n_pass = sum(f["pass"] for f in per_file)
        detail = f"{n_pass}/{nfiles} files pass"
        worst = max(per_file, key=lambda f: float(f["max_rel_err"]), default=None)
        if worst:
            flips = sum(f["spike_mismatches"] for f in per_file)
            detail += (f"; max rel err {float(worst['max_rel_err']):.1e} ({worst['model']} "
                       f"{worst['worst']}); {flips} spike flips")
        if pending:
            detail += f"; skipped {', '.join(sorted({m for _, m in pending}))} (no model yet)"
        ok = rc == 0 and n_pass == nfiles
        if rc not in (0, None):
            detail = self.why(step, rc) + "; " + detail
        self.finish(step, "pass" if ok else "fail", detail, nums)

    def start_synthetic(self) -> dict:
        self.data_dir = self.work / "data"
        self.data_dir.mkdir(exist_ok=True)
        args = ["synth", "--out", self.data_dir] + (list(SIM_DATA) if self.sim else [])
        return self.start("synthetic-data", "module", "resonet.data", args, cuda=False)

    def finish_synthetic(self, step: dict) -> bool:
        if self.dry:
            return True
        if step["status"] != "running":
            return False
        rc = self.wait(step)
        ok = rc == 0 and (self.data_dir / "shd_train.h5").is_file()
        self.finish(step, "pass" if ok else "fail",
                    "synthetic SHD-format data (in the temporary folder)" if ok
                    else self.why(step, rc))
        return ok

    def train_args(self, backend: str) -> list:
        args = ["shd", "--backend", backend, "--data-dir", self.data_dir, "--epochs", EPOCHS,
                "--dtype", "float64", "--out", self.work / "runs" / f"shd-{backend}"]
        if self.sim:
            args += list(SIM_TRAIN)
        if backend == "cpu":
            args += ["--threads", max(1, _cores() - 2)]
        return args

    def finish_train(self, step: dict, rc) -> dict | None:
        if step["status"] != "running":
            return None
        run_dir = self.work / "runs" / step["name"].replace("train-", "shd-")
        res = read_run(run_dir)
        ok = rc == 0 and res is not None and res["epoch"] == EPOCHS
        if ok:
            last = res["epoch_s"][-1] if res["epoch_s"] else None
            detail = (f"{EPOCHS} epochs: test accuracy {res['test_acc']:.2f} % (val "
                      f"{res['val_acc']:.2f} %)"
                      + (f"; epoch {EPOCHS} took {last:.1f} s" if last is not None else ""))
        else:
            detail = self.why(step, rc) if rc else "no complete run directory"
        self.finish(step, "pass" if ok else "fail", detail, res)
        return res if ok else None

    def train_agree(self, cpu: dict | None, cuda: dict | None) -> None:
        if self.dry:
            self.new_step("train-agree", status="planned", detail="compares the two runs")
            return
        if cpu is None or cuda is None:
            self.skip("train-agree", "a training run failed or did not run")
            return
        step = self.new_step("train-agree")
        diff = abs(cuda["test_acc"] - cpu["test_acc"])
        pd = param_diff(self.work / "runs" / "shd-cpu", self.work / "runs" / "shd-cuda")
        nums = {"test_acc_cpu": cpu["test_acc"], "test_acc_cuda": cuda["test_acc"],
                "abs_diff_points": diff, "max_points": MAX_ACC_DIFF, "params_max_rel_diff": pd}
        detail = (f"test accuracy cuda {cuda['test_acc']:.2f} % vs cpu {cpu['test_acc']:.2f} %: "
                  f"|diff| {diff:.2f} points (limit {MAX_ACC_DIFF:g})"
                  + (f"; final parameters differ by {pd:.1e} (max rel)" if pd is not None else ""))
        self.finish(step, "pass" if diff <= MAX_ACC_DIFF else "fail", detail, nums)

    def bench_args(self, name: str, out: Path) -> tuple[list, tuple | None]:
        """train_step.py's arguments (the README's command) and, under --simulate, the tiny
        network size (task, (I, H, C, T)) that replaces the task's."""
        task, batch, repeats, samples = BENCH[name]
        if self.sim:
            return (["--task", task, "--neuron", NEURON, "--backend", "cuda", "--batch",
                     SIM_BENCH_BATCH[batch], "--repeats", 1, "--warmup", 1, "--hidden-rate", 0,
                     "--epoch-samples", 7, "--infer-batch", 4, "--json", out],
                    (task, SIM_BENCH_SIZE[task]))
        return (["--task", task, "--neuron", NEURON, "--backend", "cuda", "--batch", batch,
                 "--repeats", repeats, "--epoch-samples", samples, "--json", out], None)

    def bench(self, name: str) -> None:
        out = self.work / "bench" / f"{name}.json"
        args, size = self.bench_args(name, out)
        step, rc = self.run(name, "script", "benchmarks/train_step.py", args, cuda=True,
                            bench_size=size)
        if step["status"] != "running":
            return
        nums = read_bench(out)
        if rc != 0 or nums is None:
            self.finish(step, "fail", self.why(step, rc) if rc else "no complete benchmark JSON",
                        nums)
            return
        target = None if self.sim else TARGET_EPOCH_S[name]
        nums["target_epoch_s"] = target
        nums["target_met"] = None if target is None else nums["epoch_s"] <= target
        detail = (f"train {nums['train_ms']:.2f} ms/step, infer {nums['infer_samples_per_s']:,.0f}"
                  f" samples/s; device epoch {nums['epoch_s']:.3f} s of {nums['epoch_samples']}")
        if target is not None:
            detail += f" (target <= {target:g} s: {'met' if nums['target_met'] else 'MISSED'})"
        self.finish(step, "pass", detail, nums)

    def width(self) -> None:
        out = self.work / "bench" / "width.json"
        args = (SIM_WIDTH if self.sim else WIDTH) + ["--json", out]
        step, rc = self.run("width", "script", "benchmarks/cuda_width.py", args, cuda=True)
        if step["status"] != "running":
            return
        nums = _read_json(out)
        widths = (nums or {}).get("widths", [])
        parts = []
        for w in widths:
            parts.append(f"H={w['H']}: parity {w['parity']['max_rel_err']:.1e}"
                         f"{'' if w['parity']['pass'] else ' FAIL'}, B={w['memory']['B']} "
                         f"workspace {w['memory']['workspace_bytes'] / 2**30:.2f} GiB, train "
                         f"{w['train']['s_per_sample_step'] * 1e6:.2f} µs/sample-step")
        ok = rc == 0 and bool(widths)
        detail = "; ".join(parts) or "no widths measured"
        if rc != 0:
            detail = self.why(step, rc) + ("; " + detail if parts else "")
        self.finish(step, "pass" if ok else "fail", detail, nums)

    def run_all(self, selected: set[str]) -> None:
        """The plan (module docstring): overlapping CPU and GPU work where it does not disturb
        a measurement."""
        train = "train" in selected
        syn = self.start_synthetic() if train else None
        if "compile" in selected:
            self.compile_steps()
        have_data = syn is not None and self.finish_synthetic(syn)
        cpu_step = None
        if have_data:
            cpu_step = self.start("train-cpu", "module", "resonet.train",
                                  self.train_args("cpu"), cuda=False)
        if "verify" in selected:
            v64 = self.start_verify("float64")
            v32 = self.start_verify("float32")
            self.finish_verify(v64)
            self.finish_verify(v32)
        cuda = self.train_cuda(have_data) if train else None
        if "bench" in selected:
            for name in GROUPS["bench"]:
                self.bench(name)
        if "width" in selected:
            self.width()
        cpu = None
        if cpu_step is not None:
            if cpu_step["status"] == "running":
                print("    (waiting for train-cpu)", flush=True)
            cpu = self.finish_train(cpu_step, self.wait(cpu_step))
        if train:
            self.train_agree(cpu, cuda)

    def train_cuda(self, have_data: bool) -> dict | None:
        if not have_data:
            for name in ("train-cpu", "train-cuda"):
                self.skip(name, "no synthetic data")
            return None
        step, rc = self.run("train-cuda", "module", "resonet.train", self.train_args("cuda"),
                            cuda=True)
        return self.finish_train(step, rc)

    # -- the five files -----------------------------------------------------------------------
    def pack(self) -> None:
        """summary.txt, logs.txt, bench.json, runs.tar.gz and the final gpu_check.json."""
        total = time.perf_counter() - self.t0
        failed = [s["name"] for s in self.steps if s["status"] == "fail"]
        self.report["ok"] = None if self.dry else not failed
        text = table(self.report, self.steps, total, self.sim, self.dry)
        if not self.dry:
            text += "\n\n" + (f"FAILED: {', '.join(failed)} (see logs.txt)" if failed else
                              f"all {sum(s['status'] == 'pass' for s in self.steps)} checks passed")
        _write(self.out / "summary.txt", text + "\n")
        logs = []
        for s in self.steps:
            p = self.work / "logs" / f"{s['name']}.log"
            if p.is_file():
                logs.append(f"===== {s['name']}: {s['status']} "
                            f"(exit code {s.get('exit_code')}, {s.get('seconds', '?')} s) =====\n"
                            + p.read_text(errors="replace"))
        _write(self.out / "logs.txt", "\n".join(logs) if logs else "(no step ran)\n")
        bench = {p.stem: _read_json(p) for p in sorted((self.work / "bench").glob("*.json"))}
        _write(self.out / "bench.json", json.dumps(bench, indent=2) + "\n")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            runs = self.work / "runs"
            for d in sorted(runs.iterdir()) if runs.is_dir() else []:
                tar.add(d, arcname=d.name)
        _write(self.out / "runs.tar.gz", buf.getvalue())
        self.save()
        print()
        print(text)
        print(f"results: {', '.join(str(self.out / f) for f in OUT_FILES)}")


# ---------------------------------------------------------------------------------------------
# reading the steps' outputs
# ---------------------------------------------------------------------------------------------

def golden_files(folder: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(files of models resonet implements, [(file, model)] of the others), from meta_json."""
    import numpy as np

    from resonet.neurons import NEURONS

    ok, pending = [], []
    for p in sorted(folder.glob("*.npz")):
        try:
            with np.load(p, allow_pickle=False) as d:
                model = json.loads(str(d["meta_json"]))["model"]
        except Exception:  # a broken file: let verify say what is wrong with it
            model = None
        if model is None or model in NEURONS:
            ok.append(p)
        else:
            pending.append((p, model))
    return ok, pending


def read_run(run_dir: Path) -> dict | None:
    """The last epoch's numbers of a run directory (its history and summary, via RunDir)."""
    from resonet.rundir import RunDir

    rd = RunDir(run_dir)
    try:
        rows = rd.history()
        last = rows[-1]
        res = {"epoch": last["epoch"], "test_acc": float(last["test_acc"]),
               "val_acc": float(last["val_acc"]), "test_loss": float(last["test_loss"]),
               "train_loss": last.get("train_loss"),
               # the first epoch includes compiling the kernels; the last one is warm
               "epoch_s": [r.get("epoch_seconds") for r in rows[1:]],
               "eval_s": [r.get("eval_seconds") for r in rows], "run_dir": run_dir.name}
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    summ = rd.summary()
    if summ:
        res["best_epoch"], res["best_test_acc"] = summ.get("best_epoch"), summ.get("test_acc")
    return res if math.isfinite(res["test_acc"]) and math.isfinite(res["test_loss"]) else None


def param_diff(a: Path, b: Path) -> float | None:
    """Largest max|a − b| / max|a| over the parameters of two runs' last checkpoints."""
    try:
        from resonet.checkpoint import load_checkpoint
        from resonet.rundir import RunDir

        pa = load_checkpoint(RunDir(a).last).params
        pb = load_checkpoint(RunDir(b).last).params
        worst = 0.0
        for k, x in pa.items():
            scale = float(abs(x).max()) or 1.0
            worst = max(worst, float(abs(pb[k].astype(float) - x).max()) / scale)
        return worst
    except Exception:  # a number for the report only
        return None


def read_bench(path: Path) -> dict | None:
    b = _read_json(path)
    try:
        tr, inf, ep = b["train"], b["infer"], b["cuda_epoch"]
        return {"task": b["task"], "network": b["network"], "T": b["T"], "batch": b["batch"],
                "dtype": b["dtype"], "hidden_spike_rate": b["hidden_spike_rate"],
                "train_ms": tr["median_s"] * 1e3, "train_ms_min": tr["min_s"] * 1e3,
                "train_ms_max": tr["max_s"] * 1e3, "train_samples_per_s": tr["samples_per_s"],
                "infer_ms": inf["median_s"] * 1e3, "infer_samples_per_s": inf["samples_per_s"],
                "epoch_s": ep["epoch_median_s"], "epoch_s_all": ep["epoch_s"],
                "epoch_samples": ep["samples"], "eval_epoch_s": ep["eval_epoch_s"],
                "setup_s_incl_compile": b.get("setup_s_incl_compile"),
                "peak_rss_mb": inf.get("peak_rss_mb"), "device": ep.get("device")}
    except (KeyError, TypeError):
        return None


def table(report: dict, steps: list[dict], total: float, sim: bool, dry: bool) -> str:
    dev = report["device"]
    head = (f"GPU check: {dev.get('device')}"
            + (f" (compute capability {dev['compute_capability']}, {dev.get('memory_gib')} GiB)"
               if dev.get("compute_capability") else "")
            + f"; numba {dev.get('numba')}, numba-cuda {dev.get('numba_cuda') or 'built-in'}, "
              f"numpy {dev.get('numpy')}, Python {dev.get('python')}")
    if sim:
        head += "\n(--simulate: CUDA simulator on tiny sizes; the numbers mean nothing)"
    if dry:
        head += "\n(--dry-run: nothing ran; timeouts and the estimated times of a GPU run)"
    if report.get("cache"):
        head += f"\nkernel cache: {report['cache']}"
    rows = [("step", "status", "seconds", "result")]
    for s in steps:
        secs = f"{s['seconds']:.1f}" if "seconds" in s else ""
        rows.append((s["name"], s["status"].upper(), secs, s.get("detail", "")))
    limit = report["time_limit_s"]
    if dry:
        est = plan_estimate([s["name"] for s in steps])
        rows.append(("total", "", "", f"estimated {est:.0f} s of the {limit:.0f} s limit"
                     f" ({limit - RESERVE_S:.0f} s for the steps)"))
    else:
        rows.append(("total", "", f"{total:.1f}", f"{'within' if total <= limit else 'OVER'} the "
                     f"{limit:.0f} s limit" + (" (meant for a GPU)" if sim else "")))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [head, ""]
    for i, r in enumerate(rows):
        lines.append(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}  {r[3]}")
        if i == 0:
            lines.append("-" * (sum(w) + 6 + max(len(r[3]) for r in rows)))
    return "\n".join(lines)


def plan_estimate(names: list[str]) -> float:
    """The estimated wall time of a GPU run of these steps: the steps that overlap (module
    docstring) count once, with the longer of the two."""
    est = {n: ESTIMATES.get(n, 0) for n in names}
    par = [("compile", "synthetic-data"), ("verify-float64", "verify-float32")]
    total = sum(est.values()) - est.get("train-cpu", 0) - est.get("compile-nocache", 0)
    for a, b in par:
        total -= min(est.get(a, 0), est.get(b, 0))
    return float(total)


# ---------------------------------------------------------------------------------------------

def _write(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _die_with_parent() -> None:
    """In a step's process, before it runs: on Linux, SIGTERM when the check itself dies, even
    by SIGKILL (which no handler of the check can catch; the step runs in its own session, so
    nothing else would end it)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the check's own handlers still apply
        pass


def _last_json(path: Path):
    """The last line of a log that is a JSON object (a script's ``--json`` output), or None."""
    for line in reversed(_tail(path, 50)):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def _kill(proc: subprocess.Popen) -> None:
    """End a step's process group (started in its own session by us): TERM, then KILL."""
    _kill_all([proc])


def _kill_all(procs: list) -> None:
    """TERM to every process group at once, up to 3 s for them to end (a training run saves a
    checkpoint on SIGTERM), then KILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 3.0
        for p in alive:
            try:
                p.wait(timeout=max(0.01, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


def _tail(path: Path, n: int) -> list[str]:
    try:
        return [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()][-n:]
    except OSError:
        return []


def _rel(p) -> str:
    p = Path(p)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def step_env(sim: bool, cuda: bool) -> dict:
    """The environment of a step: the checkout's code first on the path, whatever an installed
    copy points at (entries already there, e.g. a folder of carried wheels, stay after it); the
    simulator's variables for a CUDA step under --simulate, and never otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in SIM_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get(
        "PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    if sim and cuda:
        env.update(SIM_ENV)
    return env


def probe_device(sim: bool, timeout: float) -> dict:
    """Run PROBE in a subprocess; its JSON (``kind``: ok, no-numba-cuda, no-gpu, broken)."""
    try:
        r = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=step_env(sim, True),
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"kind": "broken",
                "error": f"initialising the GPU took over {timeout:.0f} s (driver hung?)"}
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return {"kind": "broken", "error": f"the device probe failed (exit {r.returncode}): {last}"}


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="python benchmarks/gpu_check.py",
        description="Check resonet's CUDA engine on this machine's GPU: compile and cache, "
                    "golden-vector parity (float64, float32), 2 training epochs on cuda vs cpu, "
                    "the GPU benchmarks and wide layers; five files and a table.")
    ap.add_argument("outdir", metavar="OUT", help="a new or empty folder for the five files")
    ap.add_argument("--only", default=",".join(GROUPS),
                    help=f"comma-separated groups to run: {', '.join(GROUPS)} (default: all)")
    ap.add_argument("--golden", default=str(ROOT / "tests" / "golden"),
                    help="folder of golden .npz files (default: tests/golden)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help=f"seconds for the whole check, from its start (default {TIME_LIMIT_S:g}; "
                         f"{SIM_TIME_LIMIT_S:g} with --simulate)")
    ap.add_argument("--simulate", action="store_true",
                    help="run the flow under the CUDA simulator on tiny sizes (tests the "
                         "script without a GPU; the numbers mean nothing)")
    ap.add_argument("--dry-run", action="store_true",
                    help="run nothing: print the plan and its time budget, write the files")
    return ap.parse_args(argv)


def usage_error(args, selected: set[str]) -> str | None:
    """The one-line error of a bad option or OUT, or None (fills in the default time limit)."""
    if not selected or selected - set(GROUPS):
        return (f"--only takes a comma-separated subset of {', '.join(GROUPS)}, "
                f"got {args.only!r}")
    if args.simulate and args.dry_run:
        return "--simulate and --dry-run exclude each other; give one"
    if args.time_limit is None:
        args.time_limit = SIM_TIME_LIMIT_S if args.simulate else TIME_LIMIT_S
    if not args.time_limit > RESERVE_S + MIN_START_S:
        return (f"--time-limit must be > {RESERVE_S + MIN_START_S:g} seconds ({RESERVE_S:g} s "
                "are kept for ending the check)")
    outdir = Path(args.outdir).resolve()
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        return (f"{args.outdir} exists and is not an empty folder; give a new or empty folder "
                "(nothing is overwritten)")
    if not (ROOT / "resonet").is_dir():
        return f"{ROOT} is not a resonet checkout"
    return None


def first_step(check: Check, args, probe: dict, t0: float, selected: set[str]) -> None:
    """The device step, then the rest (or their skips when the GPU is not usable)."""
    step = check.new_step("device", seconds=round(time.perf_counter() - t0, 2))
    if args.dry_run:
        step.update(status="planned", detail="probe numba.cuda and the GPU (timeout "
                    f"{TIMEOUTS['device']} s, estimated {ESTIMATES['device']} s)")
        check.run_all(selected)
    elif probe.get("kind") != "ok":
        check.finish(step, "fail", probe.get("error", "unknown"))
        for group in (g for g in GROUPS if g in selected):
            for name in GROUPS[group]:
                check.skip(name, "the GPU is not usable (device step)")
    else:
        check.finish(step, "pass", f"{probe['device']}, numba {probe['numba']}, numba-cuda "
                     f"{probe.get('numba_cuda') or 'built-in'}, numpy {probe['numpy']}"
                     + (" (row_stack placeholder)" if probe.get(
                         "numpy_row_stack_placeholder") else ""))
        check.run_all(selected)


def main(argv=None) -> int:
    t0 = time.perf_counter()  # the time limit counts from here, the device probe included
    args = parse_args(argv)
    selected = {g.strip() for g in args.only.split(",") if g.strip()}
    if err := usage_error(args, selected):
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        probe = {"kind": "dry-run", "device": "not probed (--dry-run)"}
    else:
        probe = probe_device(args.simulate, min(TIMEOUTS["device"], args.time_limit - RESERVE_S))
        if probe.get("kind") in ("no-numba-cuda", "no-gpu"):
            print(f"error: {NO_NUMBA_CUDA if probe['kind'] == 'no-numba-cuda' else NO_GPU}",
                  file=sys.stderr)
            return 2

    outdir = Path(args.outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="resonet-gpu-check-"))
    check = Check(outdir, work, args, probe, t0)

    def interrupt(signum, frame):
        raise Interrupted("time limit" if signum == signal.SIGALRM else signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM):
        signal.signal(sig, interrupt)
    atexit.register(check.kill_all)  # whatever happens, no step outlives the check
    # the watchdog: fires just before the limit, leaving the reserve for the files
    signal.setitimer(signal.ITIMER_REAL, max(1.0, args.time_limit - WATCHDOG_S
                                             - (time.perf_counter() - t0)))
    code = 0
    try:
        first_step(check, args, probe, t0, selected)
    except (Interrupted, KeyboardInterrupt) as exc:
        why = str(exc) or "interrupted"
        check.report["interrupted"] = why
        print(f"\n{why}: ending the check", file=sys.stderr, flush=True)
        code = 1 if why == "time limit" else 130
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # finish the files first
            signal.signal(sig, signal.SIG_IGN)
        check.kill_all("stopped at the check's time limit" if code == 1 else "interrupted")
        try:
            check.pack()
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if code == 130:
        print("interrupted", file=sys.stderr)
    if code or args.dry_run:
        return code
    return 0 if check.report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
