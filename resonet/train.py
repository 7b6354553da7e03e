"""``python -m resonet.train shd|ecg|smnist|psmnist [options]`` -- train with the paper's presets.

Protocol (the official scripts', reference-spec §5.1): for epoch e = 0 … E, evaluate the
validation and test sets with the current parameters (e = 0 is the untrained network), keep the
parameters with the lowest validation loss as ``best.npz``, and, if e < E, train one epoch with
learning rate lr₀·(1 − e/E). The final table reports the test metrics of the best checkpoint.

Everything of a run goes to its run directory (see :mod:`resonet.runlog`). ``last.npz`` is
written atomically at every epoch boundary and every ``--save-every`` seconds within an epoch,
so ``--resume RUN_DIR`` continues a killed run exactly where its last checkpoint was: the final
parameters are bit-identical to an uninterrupted run with the same seed (batch order is a pure
function of (seed, epoch); the engines are deterministic for a fixed thread count).

Exit codes: 0 done; 2 bad input (one-line message); 3 stopped on NaN/Inf (the last good
checkpoint is kept); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from .backends import get_backend
from .checkpoint import load_checkpoint, save_checkpoint
from .cli import run_main
from .errors import CheckpointError, ConfigError, NumericalError
from .loss import accuracy_counts
from .network import NetworkSpec, init_params
from .optim import clip_grad_norm, linear_decay, make_optimizer
from .presets import NEURON_NAMES, TASKS, get_preset
from .runlog import Log, create_run_dir, default_run_dir, versions, write_json, write_metrics

EXIT_NAN = 3
DTYPES = {"float32": np.float32, "float64": np.float64}
# Settings a --config TOML file may set (the same names as the long options, '-' -> '_').
CONFIG_KEYS = {
    "neuron", "backend", "epochs", "batch", "eval_batch", "lr", "seed", "split_seed", "data_dir",
    "optimizer", "clip", "hidden", "dtype", "reset", "truncation", "subset", "save_every",
    "synthetic", "download", "threads", "out", "stop_after",
}


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m resonet.train",
        description="Train a recurrent spiking network of (balanced) resonate-and-fire neurons "
                    "with the presets of the BRF paper (Table 3). Defaults come from the preset of "
                    "the task and neuron; a --config file overrides them and flags override both.",
    )
    ap.add_argument("task", nargs="?", choices=TASKS, help="which task: shd, ecg, smnist or psmnist")
    ap.add_argument("--neuron", choices=NEURON_NAMES, help="hidden neuron model (default brf)")
    ap.add_argument("--backend", choices=["cpu", "cuda", "reference"],
                    help="engine: cpu (fused numba kernels, default), cuda (numba.cuda) or reference "
                         "(readable NumPy float64, slow)")
    ap.add_argument("--epochs", type=int, help="training epochs E (preset: SHD 20, ECG 400, MNIST 300)")
    ap.add_argument("--batch", type=int, help="training batch size (preset: SHD 32, ECG 16, MNIST 256)")
    ap.add_argument("--eval-batch", type=int, help="batch size for validation/test (default 256)")
    ap.add_argument("--lr", type=float, help="initial learning rate, decayed linearly per epoch")
    ap.add_argument("--optimizer", choices=["adam", "radam", "rmsprop"],
                    help="optimizer (preset: adam; BHRF radam, rmsprop on SHD)")
    ap.add_argument("--clip", type=float,
                    help="global gradient-norm clipping (preset: 1.0 for (P)S-MNIST, none otherwise; "
                         "0 disables)")
    ap.add_argument("--seed", type=int, help="seed of the initialisation and the batch order (default 0)")
    ap.add_argument("--split-seed", type=int, help="seed of the 90/10 train/validation split (default 0)")
    ap.add_argument("--data-dir", help="data directory (default $RESONET_DATA, else ~/.cache/resonet); "
                                       "must exist unless --download is given")
    ap.add_argument("--download", action="store_true",
                    help="download missing datasets (SHD, ECG, MNIST) into the data directory first")
    ap.add_argument("--synthetic", choices=["auto", "yes", "no"],
                    help="SHD only: use the generated SHD-format stand-in when the real files are "
                         "absent, in the default data directory only (auto, default), always (yes) "
                         "or never (no)")
    ap.add_argument("--hidden", type=int, help="hidden neurons H (preset: SHD 128, ECG 36, MNIST 256)")
    ap.add_argument("--reset", choices=["none", "soft", "hard"], help="RF reset variant (rf only)")
    ap.add_argument("--truncation", type=int,
                    help="truncated BPTT: cut the gradient after every chunk of this many steps")
    ap.add_argument("--dtype", choices=list(DTYPES),
                    help="precision of training (default float32; reference backend float64)")
    ap.add_argument("--stop-after", type=int, metavar="N",
                    help="stop after N training epochs of the E-epoch schedule (the learning rate still "
                         "decays over E); --resume RUN --stop-after M continues to M")
    ap.add_argument("--subset", type=int,
                    help="use only the first N samples of each split (quick smoke runs)")
    ap.add_argument("--threads", type=int, help="CPU threads for the cpu backend (default: all cores)")
    ap.add_argument("--save-every", type=float,
                    help="also checkpoint last.npz every this many seconds within an epoch (default 120)")
    ap.add_argument("--config", help="TOML file with any of the settings above (long names, '_' for '-')")
    ap.add_argument("--out", help="run directory to create (default runs/<task>-<neuron>-<time>); "
                                  "an existing non-empty directory is refused")
    ap.add_argument("--resume", metavar="RUN_DIR",
                    help="continue a killed or stopped run from RUN_DIR/last.npz with its saved "
                         "settings (no other settings may be given)")
    ap.add_argument("--quiet", action="store_true", help="no per-batch progress line")
    return ap


def load_config_file(path: str) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise ConfigError("--config needs Python >= 3.11 (tomllib); pass the settings as flags") from None
    try:
        with open(path, "rb") as fh:
            cfg = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    cfg = {k.replace("-", "_"): v for k, v in cfg.items()}
    unknown = set(cfg) - CONFIG_KEYS - {"task"}
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {sorted(unknown)}; allowed: {sorted(CONFIG_KEYS)}")
    return cfg


def resolve_settings(args: argparse.Namespace) -> dict:
    """Preset < config file < command line; validated. Returns a JSON-ready dict."""
    cfg = load_config_file(args.config) if args.config else {}
    given = {k: v for k, v in vars(args).items() if v is not None and k in CONFIG_KEYS}
    if args.download:
        given["download"] = True
    merged = {**cfg, **given}
    task = args.task or cfg.get("task")
    if task is None:
        raise ConfigError("no task given; use: python -m resonet.train shd|ecg|smnist|psmnist")
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    neuron = merged.get("neuron", "brf")
    preset = get_preset(task, neuron)
    backend = merged.get("backend", "cpu")
    s = {
        "task": task, "neuron": neuron, "backend": backend,
        "dtype": merged.get("dtype", "float64" if backend == "reference" else "float32"),
        "epochs": int(merged.get("epochs", preset.epochs)),
        "batch": int(merged.get("batch", preset.batch)),
        "eval_batch": int(merged.get("eval_batch", preset.eval_batch)),
        "lr": float(merged.get("lr", preset.lr)),
        "optimizer": merged.get("optimizer", preset.optimizer),
        "clip": merged.get("clip", preset.clip),
        "seed": int(merged.get("seed", 0)),
        "split_seed": int(merged.get("split_seed", 0)),
        "data_dir": merged.get("data_dir"),
        "download": bool(merged.get("download", False)),
        "synthetic": merged.get("synthetic", "auto"),
        "hidden": int(merged.get("hidden", preset.n_hidden)),
        "reset": merged.get("reset", "none"),
        "truncation": merged.get("truncation"),
        "subset": merged.get("subset"),
        "threads": merged.get("threads"),
        "save_every": float(merged.get("save_every", 120.0)),
        "stop_after": merged.get("stop_after"),
        "best_rule": preset.best_rule,
        "preset": preset.to_dict(),
        "out": merged.get("out"),
    }
    if s["clip"] is not None and float(s["clip"]) <= 0:
        s["clip"] = None
    for key in ("epochs", "batch", "eval_batch", "hidden"):
        if s[key] < 1:
            raise ConfigError(f"--{key.replace('_', '-')} must be >= 1, got {s[key]}")
    if not (math.isfinite(s["lr"]) and s["lr"] > 0):
        raise ConfigError(f"--lr must be a positive number, got {s['lr']}")
    if s["dtype"] not in DTYPES:
        raise ConfigError(f"--dtype must be float32 or float64, got {s['dtype']!r}")
    if s["synthetic"] not in ("auto", "yes", "no"):
        raise ConfigError(f"--synthetic must be auto, yes or no, got {s['synthetic']!r}")
    if s["subset"] is not None and int(s["subset"]) < 1:
        raise ConfigError("--subset must be >= 1")
    if s["truncation"] is not None and int(s["truncation"]) < 1:
        raise ConfigError("--truncation must be >= 1")
    if s["stop_after"] is not None and int(s["stop_after"]) < 0:
        raise ConfigError("--stop-after must be >= 0")
    if s["threads"] is not None and int(s["threads"]) < 1:
        raise ConfigError("--threads must be >= 1")
    if s["reset"] != "none" and neuron != "rf":
        raise ConfigError(f"--reset {s['reset']} is only defined for --neuron rf")
    s["spec"] = NetworkSpec(neuron, preset.n_in, s["hidden"], preset.n_out, reset=s["reset"],
                            sub_seq_length=preset.sub_seq_length, label_last=preset.label_last).to_dict()
    return s


# --------------------------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------------------------

def _targets(y: np.ndarray) -> np.ndarray:
    """Training/scoring labels: unlabelled ECG steps (−1) count as class 0, as in the official
    code (the paper's numbers include them)."""
    return np.where(y < 0, 0, y)


def evaluate(backend, spec: NetworkSpec, params: dict, dataset, batch: int, dtype, sparse: bool,
             limit: int | None = None) -> dict:
    """Loss per recorded step (sample-weighted mean), accuracy (official and labelled-only) and
    SOPs per sample over a split."""
    from .data import iterate_batches

    n_seen = loss_sum = spikes = 0.0
    correct = total = correct_lab = total_lab = 0
    T = dataset.T
    rec = spec.recorded(T)
    for x, y in iterate_batches(dataset, batch, seed=0, epoch=0, shuffle=False, sparse=sparse,
                                dtype=dtype):
        res = backend.run(spec, params, x, _targets(y), grads=False, dtype=dtype)
        B = y.shape[-1]
        loss_sum += res.loss / len(rec) * B
        n_seen += B
        spikes += float(res.num_spikes.sum())
        c, t = accuracy_counts(res.outputs, _targets(y), rec, T)
        correct, total = correct + c, total + t
        if y.ndim == 2:
            c, t = accuracy_counts(res.outputs, y, rec, T, ignore=-1)
            correct_lab, total_lab = correct_lab + c, total_lab + t
    out = {"loss": loss_sum / n_seen, "acc": 100.0 * correct / total,
           "sops": spikes / n_seen, "sops_per_step": spikes / n_seen / T}
    if total_lab:
        out["acc_labelled"] = 100.0 * correct_lab / total_lab
    return out


# --------------------------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------------------------

class Trainer:
    def __init__(self, s: dict, run_dir: Path, data, log: Log, quiet: bool = False):
        self.s = s
        self.run_dir = run_dir
        self.data = data
        self.log = log
        self.quiet = quiet
        self.spec = NetworkSpec(**s["spec"])
        self.dtype = DTYPES[s["dtype"]]
        self.backend = get_backend(s["backend"])
        if s.get("threads"):
            import numba

            numba.set_num_threads(int(s["threads"]))
        # event input for the spike datasets when the engine can take it
        self.sparse = s["task"] == "shd" and s["backend"] != "reference"
        self.history: list[dict] = []
        self.best_val = math.inf
        self.best_epoch = -1
        self.epoch = 0  # completed training epochs
        self.batch = 0  # batches of the current epoch done
        self.running = np.zeros(6)  # loss·B, correct, total, samples, spikes, seconds
        self.omega_clamps = 0
        self.session = None  # device-resident training session (cuda backend), see run()

    # -- state ---------------------------------------------------------------------------------
    def init_state(self) -> None:
        rng = np.random.default_rng(self.s["seed"])
        p = init_params(self.spec, rng, dict(self.s["preset"]["init"]))
        self.params = {k: v.astype(self.dtype) for k, v in p.items()}
        self.opt = make_optimizer(self.s["optimizer"], self.params, self.s["lr"])
        save_checkpoint(self.run_dir / "init.npz", self.params, meta=self._meta())

    def _meta(self) -> dict:
        return {"task": self.s["task"], "spec": self.s["spec"], "seed": self.s["seed"],
                "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def save_last(self) -> None:
        self._pull()  # device path: bring self.params / self.opt up to date first
        train = {"epoch": self.epoch, "batch": self.batch, "running": self.running,
                 "best_val": self.best_val, "best_epoch": self.best_epoch,
                 "omega_clamps": self.omega_clamps, "history_json": json.dumps(self.history)}
        save_checkpoint(self.run_dir / "last.npz", self.params, optim_state=self.opt.state_dict(),
                        train_state=train, meta=self._meta())

    def load_last(self) -> None:
        ck = load_checkpoint(self.run_dir / "last.npz", self.spec.param_shapes())
        self.params = {k: ck.params[k].astype(self.dtype) for k in self.spec.param_shapes()}
        self.opt = make_optimizer(self.s["optimizer"], self.params, self.s["lr"])
        self.opt.load_state_dict(ck.optim)
        t = ck.train
        try:
            self.epoch, self.batch = int(t["epoch"]), int(t["batch"])
            self.running = np.asarray(t["running"], dtype=np.float64).copy()
            self.best_val, self.best_epoch = float(t["best_val"]), int(t["best_epoch"])
            self.omega_clamps = int(t["omega_clamps"])
            self.history = json.loads(str(t["history_json"]))
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{ck.path}: incomplete training state ({exc})") from None

    # -- one training step ---------------------------------------------------------------------
    def train_step(self, x, y) -> None:
        res = self.backend.run(self.spec, self.params, x, _targets(y), dtype=self.dtype,
                               truncation=self.s["truncation"])
        where = f"epoch {self.epoch + 1}, batch {self.batch + 1}"
        if not math.isfinite(res.loss):
            raise NumericalError(f"loss is {res.loss} at {where}; stopped before the update")
        for name, g in res.grads.items():
            if not np.all(np.isfinite(g)):
                raise NumericalError(f"gradient of {name} has NaN/Inf at {where}; stopped before the update")
        if self.s["clip"]:
            clip_grad_norm(res.grads, float(self.s["clip"]))
        self.opt.step(res.grads)
        self._project_omega()
        B = y.shape[-1]
        rec = self.spec.recorded(self.data.train.T)
        c, t = accuracy_counts(res.outputs, _targets(y), rec, self.data.train.T)
        self.running += [res.loss / len(rec) * B, c, t, B, float(res.num_spikes.sum()), 0.0]

    # -- device-resident training (backends with device_session: cuda) -----------------------
    # The data, the parameters and the optimizer state stay on the device for the whole run; the
    # host sends each batch's indices (the same epoch_order as iterate_batches) and reads back
    # the batch statistics. _pull() copies parameters and optimizer state into self.params /
    # self.opt before anything saves or reads them, so checkpoints and resume are unchanged.
    # See docs/cuda-kernels.md ("Device-resident training").
    def _start_session(self) -> None:
        make = getattr(self.backend, "device_session", None)
        if make is None or self.session is not None:
            return
        d = self.data
        self.session = make(self.spec, self.params, self.opt,
                            {"train": d.train, "val": d.val, "test": d.test}, self.dtype,
                            clip=self.s["clip"], truncation=self.s["truncation"])

    def _pull(self) -> None:
        if self.session is not None:
            self.session.pull()

    def _device_batches(self):
        from .data import epoch_order
        from .data.batching import num_batches

        n, bs = len(self.data.train), self.s["batch"]
        order = epoch_order(n, seed=self.s["seed"], epoch=self.epoch)
        for k in range(self.batch, num_batches(n, bs)):
            yield order[k * bs:(k + 1) * bs]

    def train_step_device(self, idx, lr: float) -> None:
        st = self.session.train_batch(idx, lr=lr)
        where = f"epoch {self.epoch + 1}, batch {self.batch + 1}"
        if st["nonfinite"] == "loss":
            raise NumericalError(f"loss is {st['loss']} at {where}; stopped before the update")
        if st["nonfinite"]:
            raise NumericalError(f"gradient of {st['nonfinite']} has NaN/Inf at {where}; "
                                 "stopped before the update")
        self.omega_clamps += st["clamps"]
        B = st["n"]
        rec = self.spec.recorded(self.data.train.T)
        self.running += [st["loss"] / len(rec) * B, st["correct"], st["total"], B, st["spikes"], 0.0]
    # -- end of the device-resident branch ----------------------------------------------------

    def _project_omega(self) -> None:
        """Keep |ω| < 1/p_dt for BRF, where p(ω) exists (the official code would produce NaN)."""
        if self.spec.neuron != "brf":
            return
        w = self.params["hidden.omega"]
        lim = 0.999 / self.spec.p_dt
        over = np.abs(w) > lim
        if over.any():
            self.omega_clamps += int(over.sum())
            w[over] = np.sign(w[over]) * lim

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        from .data import iterate_batches
        from .data.batching import num_batches

        E = self.s["epochs"]
        tr = self.data.train
        nb = num_batches(len(tr), self.s["batch"])
        self._start_session()
        if self.s["backend"] == "cpu":
            self.log("(the first run on a machine compiles the numba kernels, about a minute; they are "
                     "cached for later runs)")
        while True:
            if self.batch == 0 and not self._evaluated(self.epoch):
                self._evaluate_epoch()
            if self.epoch >= E:
                break
            if self.s.get("stop_after") is not None and self.epoch >= int(self.s["stop_after"]):
                self.log(f"stopping after {self.epoch} of {E} epochs (--stop-after); "
                         f"continue with --resume {self.run_dir} --stop-after N")
                break
            lr = linear_decay(self.s["lr"], self.epoch, E)
            self.opt.lr = lr
            t0 = time.perf_counter()
            last_save = t0
            if self.session is not None:  # device path: a batch is its index array
                it = ((idx, None) for idx in self._device_batches())
            else:
                it = iterate_batches(tr, self.s["batch"], seed=self.s["seed"], epoch=self.epoch,
                                     sparse=self.sparse, dtype=self.dtype, start_batch=self.batch)
            for x, y in it:
                ts = time.perf_counter()
                if self.session is not None:
                    self.train_step_device(x, lr)
                else:
                    self.train_step(x, y)
                self.batch += 1
                now = time.perf_counter()
                self.running[5] += now - ts
                self._progress(nb)
                _test_kill_hook(self.epoch, self.batch)
                if self.batch < nb and now - last_save >= self.s["save_every"]:
                    self.save_last()
                    last_save = now
            if not self.quiet and sys.stderr.isatty():
                print("\r" + " " * 78 + "\r", end="", file=sys.stderr, flush=True)
            self.epoch += 1
            self.batch = 0
        self._finish()
        return 0

    def _evaluated(self, epoch: int) -> bool:
        return any(r["epoch"] == epoch for r in self.history)

    def _progress(self, nb: int) -> None:
        """A progress bar on a terminal; elsewhere (a log file, CI) a line every 60 s."""
        if self.quiet:
            return
        loss_b, correct, total, n, _, secs = self.running
        stats = (f"{self.batch}/{nb}  loss {loss_b / max(n, 1):.4f}  "
                 f"acc {100 * correct / max(total, 1):5.1f}%  {n / max(secs, 1e-9):6.0f} samples/s")
        if sys.stderr.isatty():
            done = int(30 * self.batch / nb)
            print(f"\r  epoch {self.epoch + 1} [{'#' * done}{'.' * (30 - done)}] {stats}", end="",
                  file=sys.stderr, flush=True)
            return
        now = time.monotonic()
        if now - getattr(self, "_last_progress", now - 60.0) >= 60.0 and self.batch < nb:
            self._last_progress = now
            self.log(f"  epoch {self.epoch + 1}: batch {stats}")

    def _evaluate_epoch(self) -> None:
        e = self.epoch
        d, s = self.data, self.s
        t0 = time.perf_counter()
        if self.session is not None:  # device path
            self._pull()
            val, test = (self.session.evaluate(n, s["eval_batch"]) for n in ("val", "test"))
        else:
            val, test = (evaluate(self.backend, self.spec, self.params, ds, s["eval_batch"],
                                  self.dtype, self.sparse) for ds in (d.val, d.test))
        loss_b, correct, total, n, _, secs = self.running
        row = {
            "epoch": e,
            "train_loss": loss_b / n if e > 0 and n else None,
            "train_acc": 100.0 * correct / total if e > 0 and total else None,
            "val_loss": val["loss"], "val_acc": val["acc"],
            "test_loss": test["loss"], "test_acc": test["acc"],
            "val_acc_labelled": val.get("acc_labelled"), "test_acc_labelled": test.get("acc_labelled"),
            "test_sops": test["sops"], "test_sops_per_step": test["sops_per_step"],
            "lr": linear_decay(s["lr"], e - 1, s["epochs"]) if e > 0 else None,
            "epoch_seconds": secs if e > 0 else None,
            "train_samples_per_s": n / secs if e > 0 and secs > 0 else None,
            "eval_seconds": time.perf_counter() - t0,
        }
        self.history.append(row)
        improved = math.isfinite(val["loss"]) and (
            val["loss"] < self.best_val if s["best_rule"] == "<" else val["loss"] <= self.best_val)
        if improved:
            self.best_val, self.best_epoch = val["loss"], e
            save_checkpoint(self.run_dir / "best.npz", self.params,
                            train_state={"epoch": e, "val_loss": val["loss"]}, meta=self._meta())
        self.running[:] = 0.0
        self.save_last()
        write_metrics(self.run_dir, self.history)
        self._log_epoch(row, improved)
        self._plot_curves()

    def _log_epoch(self, r: dict, improved: bool) -> None:
        E = self.s["epochs"]
        tag = "[SYNTHETIC] " if self.data.info.get("synthetic") else ""
        parts = [f"{tag}epoch {r['epoch']:>3}/{E}"]
        if r["train_loss"] is not None:
            parts.append(f"train {r['train_loss']:.4f} {r['train_acc']:5.1f}%")
        parts.append(f"val {r['val_loss']:.4f} {r['val_acc']:5.1f}%")
        parts.append(f"test {r['test_loss']:.4f} {r['test_acc']:5.1f}%")
        if r.get("test_acc_labelled") is not None:
            parts.append(f"(labelled {r['test_acc_labelled']:.1f}%)")
        parts.append(f"SOPs {r['test_sops']:.0f}")
        if r["epoch_seconds"]:
            parts.append(f"lr {r['lr']:.4g}  {r['epoch_seconds']:.1f}s "
                         f"({r['train_samples_per_s']:.0f} samples/s)")
        if improved:
            parts.append("*best")
        self.log("  ".join(parts))
        if self.omega_clamps:
            self.log(f"  note: |omega| was clamped below 1/dt {self.omega_clamps} time(s) so far")

    def _plot_curves(self) -> None:
        try:
            from .plot import plot_learning_curves

            plot_learning_curves(self.history, self.run_dir / "learning_curves.png",
                                 title=self._title())
        except Exception as exc:  # a figure must never end a run
            self.log(f"  (learning-curve figure skipped: {exc})")

    def _title(self) -> str:
        syn = " [SYNTHETIC data, not SHD]" if self.data.info.get("synthetic") else ""
        return f"{self.s['task']} {self.s['neuron']} seed {self.s['seed']}{syn}"

    def _finish(self) -> None:
        ck = load_checkpoint(self.run_dir / "best.npz", self.spec.param_shapes())
        best = {k: v.astype(self.dtype) for k, v in ck.params.items()}
        test = evaluate(self.backend, self.spec, best, self.data.test, self.s["eval_batch"],
                        self.dtype, self.sparse)
        summary = {"best_epoch": self.best_epoch, "best_val_loss": self.best_val,
                   "test_loss": test["loss"], "test_acc": test["acc"],
                   "test_acc_labelled": test.get("acc_labelled"), "test_sops": test["sops"],
                   "test_sops_per_step": test["sops_per_step"],
                   "synthetic_data": bool(self.data.info.get("synthetic"))}
        write_json(self.run_dir / "summary.json", summary)
        self.log("")
        self.log(f"best checkpoint (lowest validation loss): epoch {self.best_epoch}")
        self.log(f"  {'test loss per step':<24s} {test['loss']:.4f}")
        self.log(f"  {'test accuracy':<24s} {test['acc']:.2f} %")
        if test.get("acc_labelled") is not None:
            self.log(f"  {'  over labelled steps':<24s} {test['acc_labelled']:.2f} %")
        self.log(f"  {'SOPs per sample':<24s} {test['sops']:.1f}")
        self.log(f"  {'SOPs per step':<24s} {test['sops_per_step']:.3f}")
        if self.data.info.get("synthetic"):
            self.log("  NOTE: trained and tested on SYNTHETIC SHD-format data, NOT the real SHD")
        try:
            from .plot import plot_final

            init = load_checkpoint(self.run_dir / "init.npz").params
            plot_final(self.spec, init, best, self.backend, self.data.test, self.run_dir,
                       dtype=self.dtype, title=self._title())
        except Exception as exc:
            self.log(f"  (final figures skipped: {exc})")
        self.log(f"run directory: {self.run_dir}")


def _test_kill_hook(epoch: int, batch: int) -> None:
    """Test hook: RESONET_TEST_KILL_AT="E:B" SIGKILLs this process after batch B of epoch E
    (1-based, as logged). Used by the resume test to kill a run mid-epoch for real."""
    spec = os.environ.get("RESONET_TEST_KILL_AT")
    if spec and spec == f"{epoch + 1}:{batch}":
        os.kill(os.getpid(), signal.SIGKILL)


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def _load_data(s: dict, log: Log):
    from .data import load_task

    syn = {"auto": None, "yes": True, "no": False}[s["synthetic"]]
    kwargs = {"synthetic": syn} if s["task"] == "shd" else {}
    if s["task"] == "shd" and syn is not False:
        log("loading SHD (generating the offline SHD-format stand-in on first use if the real "
            "files are absent; this can take a minute) ...")
    data = load_task(s["task"], s["data_dir"], split_seed=s["split_seed"], download=s["download"],
                     **kwargs)
    if s["subset"]:
        k = int(s["subset"])
        data.train = data.train.subset(np.arange(min(k, len(data.train))))
        data.val = data.val.subset(np.arange(min(k, len(data.val))))
        data.test = data.test.subset(np.arange(min(k, len(data.test))))
    return data


def _banner(s: dict, data, log: Log) -> None:
    info = data.info
    if info.get("synthetic"):
        bar = "!" * 78
        log(bar)
        log("!! SYNTHETIC DATA: the real SHD files were not found, so this run uses resonet's")
        log("!! generated SHD-format stand-in. It is NOT the Spiking Heidelberg Digits dataset and")
        log("!! its accuracies are not comparable to the paper. Put shd_train.h5/shd_test.h5 in")
        log("!! the data directory (or use --download) to train on the real data.")
        log(bar)
    spec = NetworkSpec(**s["spec"])
    log(f"task {s['task']}  neuron {s['neuron']}  net {spec.n_in}-{spec.n_hidden}-{spec.n_out} "
        f"({spec.n_params():,} parameters)  backend {s['backend']} ({s['dtype']})")
    log(f"data: train {len(data.train)}, val {len(data.val)}, test {len(data.test)} samples "
        f"from {info.get('source', data.train.source)}")
    log(f"optimizer {s['optimizer']} lr {s['lr']} (linear decay over {s['epochs']} epochs), "
        f"batch {s['batch']}, clip {s['clip']}, seed {s['seed']}")


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    log = Log(quiet=False)
    try:
        return _main(args, ap, log)
    finally:
        log.close()


def _main(args, ap, log: Log) -> int:
    if args.resume:
        others = [k for k, v in vars(args).items()
                  if v not in (None, False) and k in CONFIG_KEYS | {"config"}
                  and k not in ("out", "stop_after")]
        if others or args.task:
            raise ConfigError(f"--resume continues a run with its saved settings; do not also give "
                              f"{', '.join(others) or 'a task'}")
        run_dir = Path(args.resume)
        cfg_path = run_dir / "config.json"
        try:
            s = json.loads(cfg_path.read_text())["settings"]
        except FileNotFoundError:
            raise CheckpointError(f"{cfg_path}: not found; is {run_dir} a resonet run directory?") from None
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{cfg_path}: unreadable ({exc})") from None
        if not (run_dir / "last.npz").exists():
            raise CheckpointError(f"{run_dir / 'last.npz'}: no checkpoint to resume from")
        if args.stop_after is not None:
            s["stop_after"] = args.stop_after
        log.attach(run_dir / "train.log")
        data = _load_data(s, log)
        tr = Trainer(s, run_dir, data, log, quiet=args.quiet)
        tr.load_last()
        log(f"resuming {run_dir} at epoch {tr.epoch}, batch {tr.batch}")
    else:
        s = resolve_settings(args)
        get_backend(s["backend"])  # fail fast (e.g. --backend cuda without a GPU): no run dir left
        data = _load_data(s, log)  # before creating the run dir: bad data leaves nothing behind
        run_dir = create_run_dir(s["out"]) if s["out"] else default_run_dir("runs", s["task"], s["neuron"])
        log.attach(run_dir / "train.log")
        config = {"settings": s, "data": _jsonable(data.info), "versions": versions(),
                  "command": sys.argv, "synthetic_data": bool(data.info.get("synthetic")),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(run_dir / "config.json", config)
        data.save(run_dir)
        _banner(s, data, log)
        tr = Trainer(s, run_dir, data, log, quiet=args.quiet)
        tr.init_state()
    try:
        return tr.run()
    except NumericalError as exc:
        log(f"error: {exc}")
        log(f"the last good checkpoint is kept: {run_dir / 'last.npz'}")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NAN


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


if __name__ == "__main__":
    sys.exit(run_main(main))
