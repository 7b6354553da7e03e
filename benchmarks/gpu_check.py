"""One command that checks the CUDA engine on a GPU: parity, speed and training, into one JSON file.

    bash benchmarks/gpu_check.sh OUTDIR          # the same as: python benchmarks/gpu_check.py OUTDIR
    python benchmarks/gpu_check.py OUTDIR [--only verify,train,bench] [--golden DIR]
                                          [--time-limit S] [--simulate]

Run it in the repository root's environment, with resonet installed with the CUDA extra
(``pip install -e ".[cuda]"``). It installs nothing and writes only under OUTDIR (a new or empty
folder) and a temporary folder for the synthetic data, removed at the end. Each step is a
subprocess with its own timeout; its output goes to ``OUTDIR/logs/<step>.log``:

==================  ===========================================================================
step                what passes
==================  ===========================================================================
device              numba.cuda finds a GPU and compiles and runs a one-line kernel (records the
                    GPU, driver, numba, numba-cuda and numpy versions)
verify-float64      ``python -m resonet.verify --backend cuda`` on the golden files of the models
                    resonet implements (a file whose model is not implemented yet is listed as
                    skipped): tolerance 1e-9, spikes identical
verify-float32      the same with ``--dtype float32`` (tolerance 1e-4, resonet/verify.py)
synthetic-data      ``python -m resonet.data synth``: the SHD-format synthetic stand-in
train-cpu           ``python -m resonet.train shd`` for 2 epochs on the synthetic data, cpu backend
train-cuda          the same on the cuda backend
train-agree         the two runs' test accuracy after epoch 2 differs by at most 1 point
bench-shd-b32,      ``benchmarks/train_step.py --backend cuda``, the commands of benchmarks/README.md
bench-shd-b256,     ("GPU"): training step, inference and a device-resident training epoch;
bench-smnist-b256   passes when it runs; the speed targets are reported (met/missed), not failed
==================  ===========================================================================

The two training runs use float64: there the CPU and CUDA engines agree to rounding (relative
errors of order 1e-15 to 1e-13 on the golden cases, docs/official-code.md §1), so two correct engines
give the same accuracy and the 1-point margin only absorbs a rare spike flip late in training. In
float32 the runs would drift apart like two seeds and the comparison would test nothing (float32
is what ``verify-float32`` and the benchmarks run). The train-cpu run goes on in the background
during the verify and train-cuda steps (with all but two cores, which the GPU steps' host work
keeps), so the check takes about the time of its GPU steps.

Output: ``OUTDIR/gpu_check.json`` (rewritten after every step, so an interrupted check keeps what
it measured), the run directories ``OUTDIR/runs/shd-{cpu,cuda}``, the benchmark JSON files
``OUTDIR/bench/*.json``, and a summary table on stdout.

Exit code 0 if every step passed; 1 if any failed or timed out; 2 (one line, nothing written)
without numba-cuda or a CUDA GPU, or for a bad OUTDIR or option; 130 on Ctrl-C or SIGTERM. A GPU
that is there but cannot run a kernel (e.g. numba-cuda 0.30.4 with numpy 2.5) fails the device
step, with the reason and the fix in the table (exit code 1).

``--simulate`` runs the same flow under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) on
tiny sizes (a 4-neuron network trained on ``--subset 2`` of 10+4 synthetic samples, 8-step
benchmark networks), so that the test suite can check the script without a GPU; its numbers mean
nothing. It uses the simulator fixes and settings of ``tests/cudasim`` (so it needs the
repository's ``tests`` folder).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # resonet from this checkout (as the steps, see step_env)

# The speed targets of benchmarks/README.md ("GPU"): training-epoch seconds on the device.
TARGET_EPOCH_S = {"bench-shd-b32": 0.5, "bench-shd-b256": 0.1, "bench-smnist-b256": 10.0}
MAX_ACC_DIFF = 1.0  # percentage points, train-agree
EPOCHS = 2
TOTAL_BUDGET_S = 300.0  # what the whole check should take on an H100-class GPU (reported)

# Per-step timeouts in seconds. The comments give estimated times on an H100-class machine with
# 16 cores (not yet measured; the JSON records the real ones): each process compiles its own
# kernels (CUDA: a few seconds per model and dtype; the CPU kernels ≈ 45 s when numba's disk
# cache is cold), the rest is the work itself.
TIMEOUTS = {
    "device": 120,  # ≈ 5 s: driver initialisation and one tiny kernel
    "synthetic-data": 180,  # ≈ 10 s: 8,156 + 2,264 samples
    "verify-float64": 240,  # ≈ 20 s: 4 models' kernels, 5 tiny files
    "verify-float32": 240,  # ≈ 20 s
    "train-cuda": 300,  # ≈ 30 s: compile, 2 epochs of 7,341 samples, 3 evaluations
    "train-cpu": 420,  # ≈ 90 s in the background: cold compile ≈ 45 s, 2 epochs, 3 evaluations
    "bench-shd-b32": 180,  # ≈ 25 s: calibration, 23 steps, inference, 3 device epochs
    "bench-shd-b256": 180,  # ≈ 25 s
    "bench-smnist-b256": 300,  # ≈ 60 s: 3 device epochs of 54,000 samples (target ≤ 10 s each)
}
SIM_TIMEOUT = 600  # the simulator on a loaded 2-core machine: every step gets this much

GROUPS = {"verify": ("verify-float64", "verify-float32"),
          "train": ("synthetic-data", "train-cpu", "train-cuda", "train-agree"),
          "bench": ("bench-shd-b32", "bench-shd-b256", "bench-smnist-b256")}

# The commands of benchmarks/README.md ("GPU"): (task, batch, repeats, epoch samples).
BENCH = {"bench-shd-b32": ("shd", 32, 20, 7341), "bench-shd-b256": ("shd", 256, 20, 7341),
         "bench-smnist-b256": ("smnist", 256, 5, 54000)}

# --simulate: tiny sizes (the simulator runs every CUDA thread as a Python thread).
SIM_BENCH_SIZE = {"shd": (12, 4, 3, 8), "smnist": (1, 4, 3, 8)}  # I, H, C, T
SIM_BENCH_BATCH = {32: 3, 256: 4}
SIM_DATA = ("--n-train", "10", "--n-test", "4")  # 9 train / 1 validation / 4 test samples ...
SIM_TRAIN = ("--subset", "2", "--hidden", "4", "--batch", "2", "--eval-batch", "2")  # ... of which 2/1/2
SIM_ENV = {"NUMBA_ENABLE_CUDASIM": "1", "RESONET_CUDA_TPB": "2", "RESONET_CUDA_TPB_FLAT": "8"}
# Run in front of every simulated command: the short GIL switch interval and the two simulator
# race fixes of tests/cudasim (conftest.py, _simfix.py), without which the simulator is slow and
# can compute wrong reductions.
SIM_PRELUDE = """\
import sys
sys.setswitchinterval(1e-4)
from tests.cudasim import _simfix
_simfix.install()
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
    if out["simulator"]:
        out["device"], out["compute_capability"] = "CUDA simulator", None
    else:
        dev = cuda.get_current_device()
        name = dev.name
        out["device"] = name.decode() if isinstance(name, bytes) else str(name)
        out["compute_capability"] = ".".join(map(str, dev.compute_capability))
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
    # Compiling one kernel initialises numba-cuda's typing registries: this is where numba-cuda
    # 0.30.4 fails with numpy 2.5 (np.row_stack was removed), before any resonet code runs.
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
    msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if "row_stack" in msg:
        msg += (f" -- numba-cuda {out['numba_cuda']} cannot compile kernels with numpy "
                f"{out['numpy']} (numpy 2.5 removed np.row_stack; NVIDIA/numba-cuda#907): "
                "install numpy<2.5, e.g. python -m pip install -e '.[cuda]'")
    done("broken", msg)
done("ok")
"""


class Check:
    """Runs the steps, records them in ``gpu_check.json`` and prints progress and the table."""

    def __init__(self, outdir: Path, args, probe: dict):
        self.out = outdir
        self.args = args
        self.sim = args.simulate
        self.steps: list[dict] = []
        self.t0 = time.perf_counter()
        self.deadline = self.t0 + args.time_limit
        self.procs: dict[str, subprocess.Popen] = {}
        self.data_dir: Path | None = None
        self.report = {
            "schema": 1, "mode": "simulate" if self.sim else "gpu",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": "python benchmarks/gpu_check.py " + shlex.join(sys.argv[1:]),
            "device": probe, "versions": {k: probe.get(k) for k in
                                          ("python", "numpy", "numba", "numba_cuda")},
            "time_limit_s": args.time_limit, "budget_s": TOTAL_BUDGET_S,
            "steps": self.steps, "ok": None, "total_s": None,
        }

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
        else:  # benchmarks/train_step.py with the task's network shrunk
            body = ("import importlib.util\n"
                    f"spec = importlib.util.spec_from_file_location('train_step', {target!r})\n"
                    "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"
                    f"m.TASKS[{bench_size[0]!r}]['size'] = {tuple(bench_size[1])!r}\n"
                    "sys.exit(m.main(sys.argv[1:]))\n")
        return [sys.executable, "-c", SIM_PRELUDE + body, *args]

    # -- running ------------------------------------------------------------------------------
    def start(self, name: str, kind: str, target: str, args: list[str], cuda: bool,
              bench_size=None) -> dict:
        """Start a step's process (stdout+stderr to logs/NAME.log); the step, already failed if
        the check's time limit has run out."""
        step = {"name": name, "status": "running", "command": shlex.join(
            ["python", *(["-m"] if kind == "module" else []), target, *map(str, args)]),
            "simulator": self.sim and cuda, "log": f"logs/{name}.log"}
        self.steps.append(step)
        left = self.deadline - time.perf_counter()
        timeout = SIM_TIMEOUT if self.sim else TIMEOUTS[name]
        step["timeout_s"] = timeout = min(timeout, math.floor(left))
        if timeout < 1:
            return self.finish(step, "fail", "not started: the check's --time-limit ran out")
        n = len(self.steps)
        print(f"[{n}] {name}: {step['command']}" + (" (CUDA simulator)" if step["simulator"] else "")
              + f"  [timeout {timeout:.0f} s]", flush=True)
        log = open(self.out / step["log"], "w", encoding="utf-8")
        log.write(f"$ {step['command']}\n")
        log.flush()
        step["_log"] = log
        step["_t0"] = time.perf_counter()
        # own session: a timeout or Ctrl-C ends the step's whole process group
        self.procs[name] = subprocess.Popen(
            self.argv(kind, target, list(map(str, args)), cuda, bench_size), cwd=ROOT,
            env=step_env(self.sim, cuda), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        self.save()
        return step

    def wait(self, step: dict) -> int | None:
        """Wait for a started step; its exit code, or None after a timeout (process killed)."""
        proc = self.procs[step["name"]]  # stays listed while waited for: Ctrl-C must end it too
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
        if step["status"] != "running":
            return step, None
        return step, self.wait(step)

    def finish(self, step: dict, status: str, detail: str, numbers: dict | None = None) -> dict:
        if step.get("exit_code", 0) is None:
            status, detail = "fail", f"timed out after {step['timeout_s']:.0f} s; " + detail
        step["status"], step["detail"] = status, detail
        if numbers is not None:
            step["numbers"] = numbers
        if status == "fail" and "log" in step:
            step["log_tail"] = _tail(self.out / step["log"], 8)
        secs = f"{step['seconds']:.1f} s" if "seconds" in step else ""
        print(f"    {status.upper():<7s} {secs:>8s}  {detail}", flush=True)
        self.save()
        return step

    def why(self, step: dict, rc) -> str:
        """'exit code N: <the log's last line>' (a CLI's one-line error, or a traceback's end)."""
        last = _tail(self.out / step["log"], 1)
        return f"exit code {rc}" + (f": {last[0].strip()[:160]}" if last else "")

    def skip(self, name: str, why: str) -> None:
        self.steps.append({"name": name, "status": "skipped", "detail": why})
        print(f"[-] {name}: skipped ({why})", flush=True)
        self.save()

    def save(self) -> None:
        rep = dict(self.report, total_s=round(time.perf_counter() - self.t0, 1),
                   steps=[{k: v for k, v in s.items() if not k.startswith("_")} for s in self.steps])
        tmp = self.out / "gpu_check.json.tmp"
        tmp.write_text(json.dumps(rep, indent=2) + "\n")
        os.replace(tmp, self.out / "gpu_check.json")

    def kill_all(self) -> None:
        for proc in self.procs.values():
            _kill(proc)
        for s in self.steps:
            if s["status"] == "running":
                s["status"], s["detail"] = "fail", "interrupted"
                if "_log" in s:
                    s.pop("_log").close()

    # -- the steps ----------------------------------------------------------------------------
    def verify(self, dtype: str) -> None:
        name = f"verify-{dtype}"
        files, pending = golden_files(Path(self.args.golden))
        if not files:
            step = {"name": name, "status": "running"}
            self.steps.append(step)
            self.finish(step, "fail", f"no golden files of implemented models in {self.args.golden}")
            return
        step, rc = self.run(name, "module", "resonet.verify",
                            ["--backend", "cuda", "--dtype", dtype, *map(_rel, files)], cuda=True)
        if step["status"] != "running":
            return
        per_file = parse_verify((self.out / step["log"]).read_text(errors="replace"))
        nums = {"files": per_file, "skipped": {p.name: f"model {m} not implemented by resonet"
                                               for p, m in pending}}
        n_pass = sum(f["pass"] for f in per_file)
        worst = max(per_file, key=lambda f: f["max_rel_err"], default=None)
        detail = f"{n_pass}/{len(files)} files pass"
        if worst:
            flips = sum(f["spike_mismatches"] for f in per_file)
            detail += (f"; max rel err {worst['max_rel_err']:.1e} ({worst['model']} "
                       f"{worst['worst']}); {flips} spike flips")
        if pending:
            detail += f"; skipped {', '.join(sorted({m for _, m in pending}))} (no model yet)"
        ok = rc == 0 and n_pass == len(files)
        if rc not in (0, None):
            detail = f"exit code {rc}: {detail}"
        self.finish(step, "pass" if ok else "fail", detail, nums)

    def synthetic_data(self) -> bool:
        self.data_dir = Path(tempfile.mkdtemp(prefix="resonet-gpu-check-"))
        args = ["synth", "--out", self.data_dir] + (list(SIM_DATA) if self.sim else [])
        step, rc = self.run("synthetic-data", "module", "resonet.data", args, cuda=False)
        if step["status"] != "running":
            return False
        ok = rc == 0 and (self.data_dir / "shd_train.h5").is_file()
        step["command"] = step["command"].replace(str(self.data_dir), "TMPDIR")
        self.finish(step, "pass" if ok else "fail",
                    "synthetic SHD-format data (a temporary folder, removed at the end)" if ok
                    else self.why(step, rc))
        return ok

    def train_args(self, backend: str) -> list:
        args = ["shd", "--backend", backend, "--data-dir", self.data_dir, "--epochs", EPOCHS,
                "--dtype", "float64", "--out", self.out / "runs" / f"shd-{backend}"]
        if self.sim:
            args += list(SIM_TRAIN)
        if backend == "cpu":
            args += ["--threads", max(1, _cores() - 2)]
        return args

    def finish_train(self, step: dict, rc) -> dict | None:
        run_dir = self.out / "runs" / step["name"].replace("train-", "shd-")
        step["command"] = step["command"].replace(str(self.data_dir), "TMPDIR")
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
        if cpu is None or cuda is None:
            self.skip("train-agree", "a training run failed")
            return
        step = {"name": "train-agree", "status": "running"}
        self.steps.append(step)
        diff = abs(cuda["test_acc"] - cpu["test_acc"])
        nums = {"test_acc_cpu": cpu["test_acc"], "test_acc_cuda": cuda["test_acc"],
                "abs_diff_points": diff, "max_points": MAX_ACC_DIFF,
                "params_max_rel_diff": param_diff(self.out / "runs" / "shd-cpu",
                                                  self.out / "runs" / "shd-cuda")}
        pd = nums["params_max_rel_diff"]
        detail = (f"test accuracy cuda {cuda['test_acc']:.2f} % vs cpu {cpu['test_acc']:.2f} %: "
                  f"|diff| {diff:.2f} points (limit {MAX_ACC_DIFF:g})"
                  + (f"; final parameters differ by {pd:.1e} (max rel)" if pd is not None else ""))
        self.finish(step, "pass" if diff <= MAX_ACC_DIFF else "fail", detail, nums)

    def bench_args(self, name: str, out: Path) -> tuple[list, tuple | None]:
        """train_step.py's arguments (the README's command) and, under --simulate, the tiny
        network size (task, (I, H, C, T)) that replaces the task's."""
        task, batch, repeats, samples = BENCH[name]
        if self.sim:
            return (["--task", task, "--neuron", "brf", "--backend", "cuda", "--batch",
                     SIM_BENCH_BATCH[batch], "--repeats", 1, "--warmup", 1, "--hidden-rate", 0,
                     "--epoch-samples", 7, "--infer-batch", 4, "--json", out],
                    (task, SIM_BENCH_SIZE[task]))
        return (["--task", task, "--neuron", "brf", "--backend", "cuda", "--batch", batch,
                 "--repeats", repeats, "--epoch-samples", samples, "--json", out], None)

    def bench(self, name: str) -> None:
        out = self.out / "bench" / f"{name.removeprefix('bench-')}.json"
        args, size = self.bench_args(name, out)
        step, rc = self.run(name, "script", "benchmarks/train_step.py", args, cuda=True,
                            bench_size=size)
        if step["status"] != "running":
            return
        nums = read_bench(out)
        if rc != 0 or nums is None:
            self.finish(step, "fail", self.why(step, rc) if rc else
                        f"no complete benchmark JSON {_rel(out)}", nums)
            return
        target = None if self.sim else TARGET_EPOCH_S[name]
        nums["target_epoch_s"] = target
        nums["target_met"] = None if target is None else nums["epoch_s"] <= target
        detail = (f"train {nums['train_ms']:.2f} ms/step, infer {nums['infer_samples_per_s']:,.0f}"
                  f" samples/s; device epoch {nums['epoch_s']:.3f} s of {nums['epoch_samples']}")
        if target is not None:
            detail += f" (target <= {target:g} s: {'met' if nums['target_met'] else 'MISSED'})"
        self.finish(step, "pass", detail, nums)

    def run_all(self, selected: set[str]) -> None:
        train = "train" in selected
        cpu_step = cpu = cuda = None
        if train and self.synthetic_data():
            cpu_step = self.start("train-cpu", "module", "resonet.train", self.train_args("cpu"),
                                  cuda=False)
            if cpu_step["status"] != "running":
                cpu_step = None
        if "verify" in selected:
            self.verify("float64")
            self.verify("float32")
        if train and self.data_dir and (self.data_dir / "shd_train.h5").is_file():
            step, rc = self.run("train-cuda", "module", "resonet.train", self.train_args("cuda"),
                                cuda=True)
            if step["status"] == "running":
                cuda = self.finish_train(step, rc)
            if cpu_step is not None:
                print("    (waiting for train-cpu)", flush=True)
                cpu = self.finish_train(cpu_step, self.wait(cpu_step))
            self.train_agree(cpu, cuda)
        elif train:
            for name in ("train-cpu", "train-cuda", "train-agree"):
                self.skip(name, "no synthetic data")
        if "bench" in selected:
            for name in GROUPS["bench"]:
                self.bench(name)

    def cleanup(self) -> None:
        if self.data_dir is not None:
            import shutil

            shutil.rmtree(self.data_dir, ignore_errors=True)

    def summary(self) -> int:
        failed = [s["name"] for s in self.steps if s["status"] == "fail"]
        total = time.perf_counter() - self.t0
        self.report["ok"] = not failed
        self.save()
        print()
        print(table(self.report["device"], self.steps, total, self.sim))
        print()
        if failed:
            print(f"FAILED: {', '.join(failed)} (logs in {self.out / 'logs'})")
        else:
            print(f"all {sum(s['status'] == 'pass' for s in self.steps)} checks passed")
        print(f"results: {self.out / 'gpu_check.json'}")
        return 1 if failed else 0


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


_HEAD = re.compile(r"^(\S+\.npz): (\w+) .*\[cuda, float\d+\]$")
_ROW = re.compile(r"^\s+(.+?)\s+max rel err\s+(\S+)\s+(ok|FAIL)$")
_SPIKES = re.compile(r"^\s+spike mismatches\s+(\d+)")
_RESULT = re.compile(r"^\s+=> (PASS|FAIL)")


def parse_verify(text: str) -> list[dict]:
    """Per file: model, the largest relative error and its quantity, spike flips, pass."""
    files: list[dict] = []
    for line in text.splitlines():
        if m := _HEAD.match(line):
            files.append({"file": Path(m[1]).name, "model": m[2], "max_rel_err": 0.0,
                          "worst": None, "spike_mismatches": 0, "pass": False})
        elif files and (m := _ROW.match(line)):
            err = float(m[2])
            if files[-1]["worst"] is None or err > files[-1]["max_rel_err"]:
                files[-1]["max_rel_err"], files[-1]["worst"] = err, m[1]
        elif files and (m := _SPIKES.match(line)):
            files[-1]["spike_mismatches"] = int(m[1])
        elif files and (m := _RESULT.match(line)):
            files[-1]["pass"] = m[1] == "PASS"
    return files


def read_run(run_dir: Path) -> dict | None:
    """The last epoch's numbers of a run directory (metrics.jsonl, summary.json)."""
    try:
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                if line.strip()]
        last = rows[-1]
        res = {"epoch": last["epoch"], "test_acc": float(last["test_acc"]),
               "val_acc": float(last["val_acc"]), "test_loss": float(last["test_loss"]),
               "train_loss": last.get("train_loss"),
               # the first epoch includes compiling the kernels; the last one is warm
               "epoch_s": [r.get("epoch_seconds") for r in rows[1:]],
               "eval_s": [r.get("eval_seconds") for r in rows], "run_dir": str(run_dir)}
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    try:
        summ = json.loads((run_dir / "summary.json").read_text())
        res["best_epoch"], res["best_test_acc"] = summ.get("best_epoch"), summ.get("test_acc")
    except (OSError, ValueError):
        pass
    return res if math.isfinite(res["test_acc"]) and math.isfinite(res["test_loss"]) else None


def param_diff(a: Path, b: Path) -> float | None:
    """Largest max|a − b| / max|a| over the parameters of two runs' last checkpoints."""
    try:
        from resonet.checkpoint import load_checkpoint

        pa, pb = load_checkpoint(a / "last.npz").params, load_checkpoint(b / "last.npz").params
        worst = 0.0
        for k, x in pa.items():
            scale = float(abs(x).max()) or 1.0
            worst = max(worst, float(abs(pb[k].astype(float) - x).max()) / scale)
        return worst
    except Exception:  # a number for the report only
        return None


def read_bench(path: Path) -> dict | None:
    try:
        b = json.loads(path.read_text())
        tr, inf, ep = b["train"], b["infer"], b["cuda_epoch"]
        return {"task": b["task"], "network": b["network"], "T": b["T"], "batch": b["batch"],
                "dtype": b["dtype"], "hidden_spike_rate": b["hidden_spike_rate"],
                "train_ms": tr["median_s"] * 1e3, "train_ms_min": tr["min_s"] * 1e3,
                "train_ms_max": tr["max_s"] * 1e3, "train_samples_per_s": tr["samples_per_s"],
                "infer_ms": inf["median_s"] * 1e3, "infer_samples_per_s": inf["samples_per_s"],
                "epoch_s": ep["epoch_median_s"], "epoch_s_all": ep["epoch_s"],
                "epoch_samples": ep["samples"], "eval_epoch_s": ep["eval_epoch_s"],
                "setup_s_incl_compile": b.get("setup_s_incl_compile"),
                "peak_rss_mb": inf.get("peak_rss_mb"), "device": ep.get("device"),
                "json": str(path)}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def table(dev: dict, steps: list[dict], total: float, sim: bool) -> str:
    head = (f"GPU check: {dev.get('device')}"
            + (f" (compute capability {dev['compute_capability']}, {dev.get('memory_gib')} GiB)"
               if dev.get("compute_capability") else "")
            + f"; numba {dev.get('numba')}, numba-cuda {dev.get('numba_cuda') or 'built-in'}, "
              f"numpy {dev.get('numpy')}, Python {dev.get('python')}")
    if sim:
        head += "\n(--simulate: CUDA simulator on tiny sizes; the numbers mean nothing)"
    rows = [("step", "status", "seconds", "result")]
    for s in steps:
        secs = f"{s['seconds']:.1f}" if "seconds" in s else ""
        rows.append((s["name"], s["status"].upper(), secs, s.get("detail", "")))
    within = "within" if total <= TOTAL_BUDGET_S else "OVER"
    rows.append(("total", "", f"{total:.1f}", f"{within} the {TOTAL_BUDGET_S:.0f} s budget"
                 + (" (meant for a GPU)" if sim else "")))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [head, ""]
    for i, r in enumerate(rows):
        lines.append(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:>{w[2]}}  {r[3]}")
        if i == 0:
            lines.append("-" * (sum(w) + 6 + max(len(r[3]) for r in rows)))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------

def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _kill(proc: subprocess.Popen) -> None:
    """End a step's process group (started in its own session by us): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
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
    copy points at (entries already there, e.g. a folder of pinned wheels, stay after it); the
    simulator's variables for a CUDA step under --simulate, and never otherwise."""
    env = {k: v for k, v in os.environ.items() if k not in SIM_ENV}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get(
        "PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    if sim and cuda:
        env.update(SIM_ENV)
    return env


def probe_device(sim: bool) -> dict:
    """Run PROBE in a subprocess; its JSON (``kind``: ok, no-numba-cuda, no-gpu, broken)."""
    try:
        r = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=step_env(sim, True),
                           capture_output=True, text=True, timeout=TIMEOUTS["device"],
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"kind": "broken",
                "error": f"initialising the GPU took over {TIMEOUTS['device']} s (driver hung?)"}
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (r.stderr.strip().splitlines() or ["no output"])[-1]
        return {"kind": "broken", "error": f"the device probe failed (exit {r.returncode}): {last}"}


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="python benchmarks/gpu_check.py",
        description="Check resonet's CUDA engine on this machine's GPU: golden-vector parity "
                    "(float64, float32), 2 training epochs on cuda vs cpu, and the GPU "
                    "benchmarks; one JSON file and a table.")
    ap.add_argument("outdir", metavar="OUTDIR", help="a new or empty folder for the results")
    ap.add_argument("--only", default="verify,train,bench",
                    help="comma-separated groups to run: verify, train, bench (default: all)")
    ap.add_argument("--golden", default=str(ROOT / "tests" / "golden"),
                    help="folder of golden .npz files (default: tests/golden)")
    ap.add_argument("--time-limit", type=float, default=600.0,
                    help="stop starting steps after this many seconds (default 600; the check "
                         "takes about 5 minutes on an H100-class GPU)")
    ap.add_argument("--simulate", action="store_true",
                    help="run the flow under the CUDA simulator on tiny sizes (tests the script "
                         "without a GPU; the numbers mean nothing)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    selected = {g.strip() for g in args.only.split(",") if g.strip()}
    if not selected or selected - set(GROUPS):
        print(f"error: --only takes a comma-separated subset of {', '.join(GROUPS)}, "
              f"got {args.only!r}", file=sys.stderr)
        return 2
    if not args.time_limit > 0:
        print("error: --time-limit must be > 0 seconds", file=sys.stderr)
        return 2
    outdir = Path(args.outdir).resolve()
    if outdir.exists() and (not outdir.is_dir() or any(outdir.iterdir())):
        print(f"error: {args.outdir} exists and is not an empty folder; give a new or empty "
              "folder (nothing is overwritten)", file=sys.stderr)
        return 2
    if not (ROOT / "resonet").is_dir():
        print(f"error: {ROOT} is not a resonet checkout", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    probe = probe_device(args.simulate)
    if probe.get("kind") == "no-numba-cuda":
        print(f"error: {NO_NUMBA_CUDA}", file=sys.stderr)
        return 2
    if probe.get("kind") == "no-gpu":
        print(f"error: {NO_GPU}", file=sys.stderr)
        return 2

    (outdir / "logs").mkdir(parents=True, exist_ok=True)
    check = Check(outdir, args, probe)
    check.t0 = t0
    step = {"name": "device", "status": "running", "seconds": round(time.perf_counter() - t0, 2)}
    check.steps.append(step)
    print(f"[1] device: {probe.get('device') or 'not usable'}", flush=True)
    if probe.get("kind") != "ok":
        check.finish(step, "fail", probe.get("error", "unknown"))
        for group in (g for g in GROUPS if g in selected):
            for name in GROUPS[group]:
                check.skip(name, "the GPU is not usable (device step)")
        return check.summary()
    check.finish(step, "pass", f"{probe['device']}, numba {probe['numba']}, numba-cuda "
                 f"{probe.get('numba_cuda') or 'built-in'}, numpy {probe['numpy']}")
    # SIGTERM (a batch system's time limit, kill PID) ends the check as Ctrl-C does: the steps
    # run in their own sessions and would otherwise outlive it
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        check.run_all(selected)
    except KeyboardInterrupt:
        check.kill_all()
        check.cleanup()
        check.summary()
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        check.cleanup()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
