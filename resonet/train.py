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

The settings (command line, ``--config`` file, presets) are resolved in :mod:`resonet.settings`,
scores computed by :mod:`resonet.evaluation`, and a training step is a session's
(:mod:`resonet.session` on the host, the device-resident one of the cuda backend).

Everything is checked before the run directory is created (settings, the machine's cores and
memory, the data), so bad input leaves nothing behind. A new run writes ``init.npz`` and
``last.npz`` before its epoch-0 evaluation, so it can be resumed from its first second; a run
directory holds a lock (:func:`resonet.runlog.lock_run_dir`) while a process trains in it, and
``--resume`` refuses a ``config.json`` that no longer matches the checkpoint (the checkpoints
record task, neuron, sizes, dtype and a hash of the settings).

Ctrl-C (SIGINT) or SIGTERM sets a flag that is checked after every batch and every evaluation
batch; the run then writes ``last.npz``, prints how to resume and exits 130 (a second Ctrl-C
stops at once; the previous ``last.npz`` is kept). The resumed run ends bit-identical to an
uninterrupted one.

Exit codes: 0 done; 2 bad input or a failed write, e.g. a full disk (one-line message; the last
good checkpoint is kept); 3 stopped on NaN/Inf (the last good checkpoint is kept); 130
interrupted (resumable).

From Python: :func:`resonet.train_run` (:mod:`resonet.api`; settings in, a
:class:`resonet.api.Run` with the run directory and its summary out).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .backends import get_backend
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .cli import run_main
from .errors import CheckpointError, ConfigError, NumericalError
from .evaluation import evaluate_dataset
from .network import init_params
from .optim import linear_decay, make_optimizer
from .pruning import apply_masks, check_masked, run_masks
from .runlog import (
    Log,
    create_run_dir,
    default_run_dir,
    lock_run_dir,
    versions,
    write_json,
    write_metrics,
)
from .session import HostSession
from .settings import (
    CONFIG_KEYS,
    RESUME_MAY_CHANGE,
    Settings,
    build_parser,
    check_resources,
    resolve_settings,
)

EXIT_WRITE = 2  # a write failed (full disk, ...): one line, like bad input
EXIT_NAN = 3
EXIT_INTERRUPTED = 130
RESUME_CMD = "python -m resonet.train --resume"

__all__ = ["EXIT_INTERRUPTED", "EXIT_NAN", "Interrupted", "Trainer", "build_parser", "main",
           "new_run", "resolve_settings", "resume_run"]


class Interrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C (SIGINT) or SIGTERM after writing ``last.npz``; the run in
    ``run_dir`` continues with ``--resume`` (or ``train_run(resume=run_dir)``)."""

    def __init__(self, run_dir: Path, where: str):
        super().__init__(f"interrupted {where}; resume with {RESUME_CMD} {run_dir}")
        self.run_dir = run_dir


# --------------------------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------------------------

class Trainer:
    """One training run: the protocol of the module docstring, on a training session.

    The session (:meth:`_start_session`) is the backend's device-resident one where it has one
    (``device_session``: cuda), else a :class:`resonet.session.HostSession`; both take a batch as
    its sample indices and keep parameters and optimizer state, so the loop below has one path.
    """

    def __init__(self, s: Settings | dict, run_dir: Path, data, log: Log, quiet: bool = False):
        self.s = s = s if isinstance(s, Settings) else Settings.from_dict(s)
        self.run_dir = run_dir
        self.data = data
        self.log = log
        self.quiet = quiet
        self.spec = s.network
        self.dtype = s.np_dtype
        self.backend = get_backend(s.backend)
        if s.threads:
            import numba

            numba.set_num_threads(int(s.threads))
        # event input for the spike datasets when the engine can take it
        self.sparse = s.task == "shd" and s.backend != "reference"
        self.history: list[dict] = []
        self.best_val = math.inf
        self.best_epoch = -1
        self.epoch = 0  # completed training epochs
        self.batch = 0  # batches of the current epoch done
        self.running = np.zeros(6)  # loss·B, correct, total, samples, spikes, seconds
        self.clamps = 0  # entries projected onto the model's bounds so far
        self.session = None  # the training session, started by run()
        self.masks = None  # pruned recurrent weights (--prune-recurrent; resonet.pruning)
        self.stop_signal: int | None = None  # set by SIGINT/SIGTERM (see _stop_on_signals)
        self.saved_at: tuple[int, int] | None = None  # (epoch, batch) of the last good last.npz
        self.lock = None  # the run directory's lock (runlog.lock_run_dir), held while training
        self._last_progress = -math.inf  # time of the last progress line in a log file

    def close(self) -> None:
        """Release the run directory (its lock)."""
        if self.lock is not None:
            self.lock.close()
            self.lock = None

    # -- state ---------------------------------------------------------------------------------
    def init_state(self) -> None:
        rng = np.random.default_rng(self.s.seed)
        p = init_params(self.spec, rng, dict(self.s.preset["init"]))
        if self.s.init_from is not None:  # fine-tuning: the checkpoint's parameters instead
            p = self._init_from()
        self.params = {k: v.astype(self.dtype) for k, v in p.items()}
        self.masks, _ = run_masks(self.spec, self.s.prune_recurrent, self.s.seed, self.run_dir,
                                  create=True)
        apply_masks(self.params, self.masks)
        self.opt = make_optimizer(self.s.optimizer, self.params, self.s.lr)
        save_checkpoint(self.run_dir / "init.npz", self.params, meta=self._meta())
        # a resume point before the (possibly long) epoch-0 evaluation: a run killed there
        # continues with --resume instead of being lost
        self.save_last()

    def _init_from(self) -> dict:
        """The parameters of the ``--init-from`` checkpoint (checked against this run's network
        when the settings were resolved, and again here: the file may have changed since)."""
        from .settings import read_init_checkpoint

        s = self.s
        init = read_init_checkpoint(s.init_from, s.task, s.neuron,
                                    s.permutation if s.task == "psmnist" else None)
        init.check_fits(self.spec, lambda k: f"--init-from {s.init_from}")
        what = "an official PyTorch checkpoint" if init.official is not None else "a resonet checkpoint"
        epoch = getattr(init.official, "epoch", None)
        self.log(f"initial parameters from {init.path} ({what}"
                 + (f", epoch {epoch} of its run" if epoch is not None else "") + ")")
        return {k: np.array(v, dtype=np.float64) for k, v in init.params.items()}

    def _meta(self) -> dict:
        return {**checkpoint_identity(self.s), "seed": self.s.seed,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def save_last(self) -> None:
        self._pull()  # a device session: bring self.params / self.opt up to date first
        # "omega_clamps": the projection count, under its first name (checkpoints stay readable)
        train = {"epoch": self.epoch, "batch": self.batch, "running": self.running,
                 "best_val": self.best_val, "best_epoch": self.best_epoch,
                 "omega_clamps": self.clamps, "history_json": json.dumps(self.history)}
        save_checkpoint(self.run_dir / "last.npz", self.params, optim_state=self.opt.state_dict(),
                        train_state=train, meta=self._meta())
        self.saved_at = (self.epoch, self.batch)

    def load_last(self, ck: Checkpoint | None = None) -> None:
        """Continue from ``last.npz`` (or the already loaded checkpoint ``ck`` of it)."""
        if ck is None:
            ck = load_checkpoint(self.run_dir / "last.npz")
        ck.check(self.spec.param_shapes())
        self.params = {k: ck.params[k].astype(self.dtype) for k in self.spec.param_shapes()}
        self.masks, _ = run_masks(self.spec, self.s.prune_recurrent, self.s.seed, self.run_dir,
                                  create=False)
        check_masked(self.params, self.masks, ck.path)
        self.opt = make_optimizer(self.s.optimizer, self.params, self.s.lr)
        self.opt.load_state_dict(ck.optim)
        t = ck.train
        try:
            self.epoch, self.batch = int(t["epoch"]), int(t["batch"])
            self.running = np.asarray(t["running"], dtype=np.float64).copy()
            self.best_val, self.best_epoch = float(t["best_val"]), int(t["best_epoch"])
            self.clamps = int(t["omega_clamps"])
            self.history = json.loads(str(t["history_json"]))
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{ck.path}: incomplete training state ({exc})") from None
        self.saved_at = (self.epoch, self.batch)

    # -- the training session --------------------------------------------------------------------
    # The device session keeps data, parameters and optimizer state on the device and copies them
    # back on pull() (before anything saves or reads self.params / self.opt); the host session
    # works on self.params / self.opt in place. Checkpoints and resume are the same for both.
    # See docs/cuda-kernels.md ("Device-resident training").
    def _start_session(self) -> None:
        if self.session is not None:
            return
        d, s = self.data, self.s
        datasets = {"train": d.train, "val": d.val, "test": d.test}
        make = getattr(self.backend, "device_session", None)
        if make is not None:
            self.session = make(self.spec, self.params, self.opt, datasets, self.dtype,
                                clip=s.clip, truncation=s.truncation, masks=self.masks)
        else:
            self.session = HostSession(self.backend, self.spec, self.params, self.opt, datasets,
                                       self.dtype, clip=s.clip, truncation=s.truncation,
                                       sparse=self.sparse, masks=self.masks)

    def _pull(self) -> None:
        if self.session is not None:
            self.session.pull()

    def _batches(self):
        """The sample indices of the remaining batches of this epoch (``iterate_batches``'
        order: a pure function of seed and epoch)."""
        from .data import epoch_order
        from .data.batching import num_batches

        n, bs = len(self.data.train), self.s.batch
        order = epoch_order(n, seed=self.s.seed, epoch=self.epoch)
        for k in range(self.batch, num_batches(n, bs)):
            yield order[k * bs:(k + 1) * bs]

    def train_step(self, idx, lr: float) -> None:
        """One batch: the session's step, then the NaN stop and the running sums."""
        st = self.session.train_batch(idx, lr=lr)
        where = f"epoch {self.epoch + 1}, batch {self.batch + 1}"
        if st["nonfinite"] == "loss":
            raise NumericalError(f"loss is {st['loss']} at {where}; stopped before the update")
        if st["nonfinite"]:
            raise NumericalError(f"gradient of {st['nonfinite']} has NaN/Inf at {where}; "
                                 "stopped before the update")
        self.clamps += st["clamps"]
        B = st["n"]
        rec = self.spec.recorded(self.data.train.T)
        self.running += [st["loss"] / len(rec) * B, st["correct"], st["total"], B, st["spikes"], 0.0]

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        """Train to the end of the schedule (or ``--stop-after``), evaluating every epoch, then
        score the best checkpoint. Raises :class:`Interrupted` after Ctrl-C / SIGTERM (with
        ``last.npz`` written), NumericalError on NaN/Inf, CheckpointError if a write fails."""
        from .data.batching import num_batches

        E = self.s.epochs
        nb = num_batches(len(self.data.train), self.s.batch)
        with self._stop_on_signals():
            self._start_session()
            if self.s.backend == "cpu":
                self.log("(the first run on a machine compiles the numba kernels, about a minute; "
                         "they are cached for later runs)")
            while True:
                if self.batch == 0 and not self._evaluated(self.epoch):
                    self._evaluate_epoch()
                if self.epoch >= E:
                    break
                if self.s.stop_after is not None and self.epoch >= int(self.s.stop_after):
                    self.log(f"stopping after {self.epoch} of {E} epochs (--stop-after); "
                             f"continue with --resume {self.run_dir} --stop-after N")
                    break
                lr = linear_decay(self.s.lr, self.epoch, E)
                self.opt.lr = lr
                last_save = time.perf_counter()
                for idx in self._batches():
                    ts = time.perf_counter()
                    self.train_step(idx, lr)
                    self.batch += 1
                    now = time.perf_counter()
                    self.running[5] += now - ts
                    self._progress(nb)
                    self._check_stop(f"at epoch {self.epoch + 1}, batch {self.batch}/{nb}")
                    if self.batch < nb and now - last_save >= self.s.save_every:
                        self.save_last()
                        last_save = now
                self._clear_bar()
                self.epoch += 1
                self.batch = 0
            self._finish()
        return 0

    @contextlib.contextmanager
    def _stop_on_signals(self):
        """While training: SIGINT and SIGTERM set :attr:`stop_signal` (checked between batches,
        :meth:`_check_stop`) instead of raising inside the kernels; a second one stops at once.
        Only the main thread can install handlers; elsewhere the defaults stay."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum, frame):
            if self.stop_signal is not None:  # the second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.stop_signal = signum
            # os.write, not print: the handler may run in the middle of a print to stderr
            os.write(2, b"\nstopping: the run is saved after the current batch "
                        b"(Ctrl-C again to stop at once)\n")

        old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)

    def _check_stop(self, where: str) -> None:
        """After a signal: write last.npz (the position so far) and raise Interrupted."""
        if self.stop_signal is None:
            return
        self._clear_bar()
        self.save_last()
        raise Interrupted(self.run_dir, where)

    def _evaluated(self, epoch: int) -> bool:
        return any(r["epoch"] == epoch for r in self.history)

    def _progress(self, nb: int) -> None:
        """A progress bar on a terminal; elsewhere (a log file, CI) a line every 60 s."""
        loss_b, correct, total, n, _, secs = self.running
        stats = (f"loss {loss_b / max(n, 1):.4f}  acc {100 * correct / max(total, 1):5.1f}%  "
                 f"{n / max(secs, 1e-9):6.0f} samples/s")
        self._show(f"epoch {self.epoch + 1}", self.batch, nb, stats)

    def _show(self, what: str, done: int, total: int | None, stats: str = "") -> None:
        if self.quiet:
            return
        count = f"{done}/{total}" if total else f"{done}"
        if sys.stderr.isatty():
            bar = ""
            if total:
                k = int(30 * done / total)
                bar = f"[{'#' * k}{'.' * (30 - k)}] "
            print(f"\r  {what} {bar}{count}  {stats}"[:160], end="", file=sys.stderr, flush=True)
            return
        now = time.monotonic()
        if now - self._last_progress >= 60.0 and (total is None or done < total):
            self._last_progress = now
            self.log(f"  {what}: batch {count}  {stats}".rstrip())

    def _clear_bar(self) -> None:
        if not self.quiet and sys.stderr.isatty():
            print("\r" + " " * 100 + "\r", end="", file=sys.stderr, flush=True)

    def _eval_progress(self, what: str):
        """``on_batch`` of an evaluation: progress, and the Ctrl-C check between its batches."""

        def on_batch(done: int, total: int | None) -> None:
            self._show(what, done, total)
            self._check_stop(f"while {what}")

        return on_batch

    def _evaluate_epoch(self) -> None:
        e = self.epoch
        s = self.s
        t0 = time.perf_counter()
        self._pull()
        if e == 0:
            which = "initial (--init-from)" if s.init_from else "untrained"
            self.log(f"epoch   0: evaluating the {which} network on {len(self.data.val)} "
                     f"validation and {len(self.data.test)} test samples ...")
        val, test = (self.session.evaluate(n, s.eval_batch,
                                           on_batch=self._eval_progress(f"evaluating epoch {e}: {n}"))
                     for n in ("val", "test"))
        self._clear_bar()
        loss_b, correct, total, n, _, secs = self.running
        row = {
            "epoch": e,
            "train_loss": loss_b / n if e > 0 and n else None,
            "train_acc": 100.0 * correct / total if e > 0 and total else None,
            "val_loss": val["loss"], "val_acc": val["acc"],
            "test_loss": test["loss"], "test_acc": test["acc"],
            "val_acc_labelled": val.get("acc_labelled"), "test_acc_labelled": test.get("acc_labelled"),
            "test_sops": test["sops"], "test_sops_per_step": test["sops_per_step"],
            "lr": linear_decay(s.lr, e - 1, s.epochs) if e > 0 else None,
            "epoch_seconds": secs if e > 0 else None,
            "train_samples_per_s": n / secs if e > 0 and secs > 0 else None,
            "eval_seconds": time.perf_counter() - t0,
        }
        self.history.append(row)
        improved = math.isfinite(val["loss"]) and (
            val["loss"] < self.best_val if s.best_rule == "<" else val["loss"] <= self.best_val)
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
        E = self.s.epochs
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
        if self.clamps:
            why = "; ".join(b.reason for b in self.spec.model.BOUNDS)
            self.log(f"  note: {self.clamps} parameter entr{'y' if self.clamps == 1 else 'ies'} "
                     f"projected onto the model's bounds so far ({why})")

    def _plot_curves(self) -> None:
        try:
            from .plot import plot_learning_curves

            plot_learning_curves(self.history, self.run_dir / "learning_curves.png",
                                 title=self._title())
        except Exception as exc:  # a figure must never end a run
            self.log(f"  (learning-curve figure skipped: {exc})")

    def _title(self) -> str:
        syn = " [SYNTHETIC data, not SHD]" if self.data.info.get("synthetic") else ""
        return f"{self.s.task} {self.s.neuron} seed {self.s.seed}{syn}"

    def _finish(self) -> None:
        ck = load_checkpoint(self.run_dir / "best.npz", self.spec.param_shapes())
        best = {k: v.astype(self.dtype) for k, v in ck.params.items()}
        test = evaluate_dataset(self.backend, self.spec, best, self.data.test, self.s.eval_batch,
                                self.dtype, self.sparse,
                                on_batch=self._eval_progress("evaluating the best checkpoint: test"))
        self._clear_bar()
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


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

def _load_data(s: Settings, log: Log):
    from .data import load_task

    syn = {"auto": None, "yes": True, "no": False}[s.synthetic]
    kwargs = {"synthetic": syn} if s.task == "shd" else {}
    if s.task == "shd" and syn is not False:
        log("loading SHD (generating the offline SHD-format stand-in on first use if the real "
            "files are absent; this can take a minute) ...")
    if s.task == "shd" and s.init_from is not None:
        # an official network was trained on the official binning (unit 0 dropped, channel
        # 700 - unit): fine-tuning it must feed it the same channels
        from .official import is_official

        if not Path(s.init_from).exists():
            raise CheckpointError(f"{s.init_from}: the --init-from checkpoint is gone; it decides "
                                  "how SHD is binned for this run, put it back")
        if is_official(s.init_from):
            kwargs["official_binning"] = True
    if s.task == "psmnist" and s.permutation is not None:  # a given or inherited pixel order
        from .settings import load_permutation

        kwargs["permutation"] = load_permutation(s.permutation)
    data = load_task(s.task, s.data_dir, split_seed=s.split_seed, download=s.download, **kwargs)
    if s.subset:
        k = int(s.subset)
        data.train = data.train.subset(np.arange(min(k, len(data.train))))
        data.val = data.val.subset(np.arange(min(k, len(data.val))))
        data.test = data.test.subset(np.arange(min(k, len(data.test))))
    return data


def _banner(s: Settings, data, log: Log) -> None:
    info = data.info
    if info.get("synthetic"):
        bar = "!" * 78
        log(bar)
        log("!! SYNTHETIC DATA: the real SHD files were not found, so this run uses resonet's")
        log("!! generated SHD-format stand-in. It is NOT the Spiking Heidelberg Digits dataset and")
        log("!! its accuracies are not comparable to the paper. Put shd_train.h5/shd_test.h5 in")
        log("!! the data directory (or use --download) to train on the real data.")
        log(bar)
    spec = s.network
    log(f"task {s.task}  neuron {s.neuron}  net {spec.n_in}-{spec.n_hidden}-{spec.n_out} "
        f"({spec.n_params():,} parameters)  backend {s.backend} ({s.dtype})")
    log(f"data: train {len(data.train)}, val {len(data.val)}, test {len(data.test)} samples "
        f"from {info.get('source', data.train.source)}")
    log(f"optimizer {s.optimizer} lr {s.lr} (linear decay over {s.epochs} epochs), "
        f"batch {s.batch}, clip {s.clip}, seed {s.seed}")
    if s.prune_recurrent:
        log(f"recurrent weights pruned from the start: each removed with probability "
            f"{s.prune_recurrent:g} (mask in prune_mask.npz)")


def checkpoint_identity(s: Settings) -> dict:
    """What a checkpoint records about the run it belongs to (task, neuron, sizes, dtype, the
    settings and their hash); ``--resume`` compares it with the run's ``config.json``
    (:func:`check_resume_matches`)."""
    settings = {k: v for k, v in s.to_dict().items() if k not in RESUME_MAY_CHANGE}
    return {"task": s.task, "neuron": s.neuron, "spec": s.spec, "dtype": s.dtype,
            "settings_hash": s.fingerprint(), "settings": settings}


def check_resume_matches(ck: Checkpoint, s: Settings, cfg_path: Path) -> None:
    """Refuse to resume ``ck`` with settings ``s`` (read from ``cfg_path``) that are not the
    ones it was written with, naming what differs. Checkpoints of older versions lack some
    fields; those that are there are compared."""
    have, want = ck.meta, json.loads(json.dumps(checkpoint_identity(s), default=str))
    diffs = []

    def compare(key, a, b):
        if a != b:
            diffs.append(f"{key} {a!r} in config.json, {b!r} in the checkpoint")

    for key in ("task", "neuron", "dtype"):
        if key in have:
            compare(key, want[key], have[key])
    old = have.get("settings")
    if isinstance(old, dict):
        for key in sorted(set(old) | set(want["settings"])):
            if key not in ("task", "neuron", "dtype", "spec", "preset"):
                compare(key, want["settings"].get(key), old.get(key))
    if isinstance(have.get("spec"), dict):
        for key in sorted(set(have["spec"]) | set(want["spec"])):
            if key != "neuron":
                compare(f"spec.{key}", want["spec"].get(key), have["spec"].get(key))
    if not diffs and "settings_hash" in have and have["settings_hash"] != want["settings_hash"]:
        diffs.append("the settings differ from those the checkpoint was written with")
    if diffs:
        raise CheckpointError(
            f"{cfg_path} does not match {ck.path}: {'; '.join(diffs)}. Was config.json edited? "
            "Restore it, or start a new run with the settings you want")


def command_line(argv) -> str:
    """The command as a user would type it again: ``python -m resonet.train shd --epochs 2``."""
    return shlex.join(["python", "-m", "resonet.train", *map(str, argv)])


def new_run(s: Settings, log: Log, *, command: str, quiet: bool = False) -> Trainer:
    """Check the machine, load the data, then create the run directory (locked), write
    config.json, init.npz and last.npz; a Trainer ready to :meth:`Trainer.run`. Nothing is
    created if a check or the data fail."""
    get_backend(s.backend)  # fail fast (e.g. --backend cuda without a GPU): no run dir left
    check_resources(s)
    data = _load_data(s, log)  # before creating the run dir: bad data leaves nothing behind
    run_dir = create_run_dir(s.out) if s.out else default_run_dir("runs", s.task, s.neuron)
    lock = lock_run_dir(run_dir)
    try:
        log.attach(run_dir / "train.log")
        config = {"settings": s.to_dict(), "data": _jsonable(data.info), "versions": versions(),
                  **({"init_from_md5": _md5(s.init_from)} if s.init_from else {}),
                  "command": command, "synthetic_data": bool(data.info.get("synthetic")),
                  "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_json(run_dir / "config.json", config)
        data.save(run_dir)
        _banner(s, data, log)
        tr = Trainer(s, run_dir, data, log, quiet=quiet)
        tr.lock = lock
        tr.init_state()
    except BaseException:
        lock.close()
        raise
    return tr


def resume_run(run_dir: str | os.PathLike, log: Log, *, stop_after: int | None = None,
               quiet: bool = False) -> Trainer:
    """Lock ``run_dir``, read its settings and check them against ``last.npz`` and the
    machine; a Trainer positioned where the checkpoint left off (or at the start, for a run
    stopped before its first checkpoint)."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{cfg_path}: not found; is {run_dir} a resonet run directory?")
    lock = lock_run_dir(run_dir)
    try:
        try:
            s = Settings.from_dict(json.loads(cfg_path.read_text())["settings"], str(cfg_path))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise CheckpointError(f"{cfg_path}: unreadable ({exc})") from None
        if stop_after is not None:
            if stop_after < 0:
                raise ConfigError(f"--stop-after {stop_after} must be >= 0")
            s = s.replace(stop_after=stop_after)
        ck = None
        if (run_dir / "last.npz").exists():
            ck = load_checkpoint(run_dir / "last.npz")
            check_resume_matches(ck, s, cfg_path)
            ck.check(s.network.param_shapes())
        get_backend(s.backend)
        check_resources(s)
        log.attach(run_dir / "train.log")
        data = _load_data(s, log)
        tr = Trainer(s, run_dir, data, log, quiet=quiet)
        tr.lock = lock
        if ck is None:
            log(f"{run_dir} has no checkpoint yet (stopped before its first one): starting it "
                "from its initialisation")
            tr.init_state()
        else:
            tr.load_last(ck)
            log(f"resuming {run_dir} at epoch {tr.epoch}, batch {tr.batch}")
    except BaseException:
        lock.close()
        raise
    return tr


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    log = Log(quiet=False)
    try:
        return _main(args, argv, log)
    finally:
        log.close()


def _main(args, argv, log: Log) -> int:
    if args.resume:
        others = [k for k, v in vars(args).items()
                  if v not in (None, False) and k in CONFIG_KEYS | {"config"}
                  and k != "stop_after"]
        if others or args.task:
            given = ", ".join("--" + k.replace("_", "-") for k in others) or "a task"
            raise ConfigError(f"--resume continues a run in its own directory with its saved "
                              f"settings; do not also give {given}")
        tr = resume_run(args.resume, log, stop_after=args.stop_after, quiet=args.quiet)
    else:
        s = resolve_settings(args)
        tr = new_run(s, log, command=command_line(argv), quiet=args.quiet)
    try:
        return tr.run()
    except NumericalError as exc:
        log(f"error: {exc}")
        log(f"the last good checkpoint is kept: {tr.run_dir / 'last.npz'}")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NAN
    except Interrupted as exc:
        _log_quietly(log, str(exc))
        print(str(exc), file=sys.stderr)
        return EXIT_INTERRUPTED
    except CheckpointError as exc:  # a write failed (a full disk, ...)
        msg = f"{exc}; {_kept(tr)}"
        _log_quietly(log, f"error: {msg}")
        print(f"error: {' '.join(msg.split())}", file=sys.stderr)
        return EXIT_WRITE
    finally:
        tr.close()


def _kept(tr: Trainer) -> str:
    last = tr.run_dir / "last.npz"
    if tr.saved_at is None or not last.exists():
        return "no checkpoint was written yet"
    e, b = tr.saved_at
    at = f"after batch {b} of epoch {e + 1}" if b else f"after epoch {e}" if e else \
        "before the first training batch"
    return (f"the last good checkpoint is kept: {last} ({at}); fix the cause, then continue "
            f"with {RESUME_CMD} {tr.run_dir}")


def _log_quietly(log: Log, msg: str) -> None:
    """Record ``msg`` in train.log (not on stdout); a log that cannot be written is skipped."""
    if log.fh is None:
        return
    quiet, log.quiet = log.quiet, True
    try:
        log(msg)
    except CheckpointError:
        pass
    finally:
        log.quiet = quiet


def _md5(path: str) -> str:
    import hashlib

    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


if __name__ == "__main__":
    sys.exit(run_main(main))
