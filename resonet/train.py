"""``python -m resonet.train shd|ecg|smnist|psmnist [options]`` -- train with the paper's presets;
``python -m resonet.train custom --train TRAIN --test TEST [--val VAL] [--preset TASK]`` -- on your
own files (docs/data.md, "Your own data").

Protocol (the official scripts', docs/official-code.md §3): for epoch e = 0 … E, evaluate the
validation and test sets with the current parameters (e = 0 is the untrained network), keep the
parameters with the lowest validation loss as ``best.npz``, and, if e < E, train one epoch with
learning rate lr₀·(1 − e/E). The final table reports the test metrics of the best checkpoint.

Everything of a run goes to its run directory (:class:`resonet.rundir.RunDir`). ``last.npz`` is
written atomically at every epoch boundary and every ``--save-every`` seconds within an epoch,
so ``--resume RUN_DIR`` continues a killed run exactly where its last checkpoint was: the final
parameters are bit-identical to an uninterrupted run with the same seed (batch order is a pure
function of (seed, epoch); the engines are deterministic for a fixed thread count).

The settings (command line, ``--config`` file, presets) are resolved in :mod:`resonet.settings`,
scores computed by :mod:`resonet.evaluation`, and a training step is the backend's session's
(:class:`resonet.contract.Session`: :mod:`resonet.session` on the host, the device-resident one
of the cuda backend). Where the run stands is a :class:`resonet.trainstate.TrainState`; what it
prints is :mod:`resonet.progress`.

Everything is checked before the run directory is created (settings, the machine's cores and
memory, the data), so bad input leaves nothing behind. A new run writes ``init.npz`` and
``last.npz`` before its epoch-0 evaluation, so it can be resumed from its first second; a run
directory holds a lock (:meth:`resonet.rundir.RunDir.lock`) while a process trains in it, and
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

import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import IO

import numpy as np

from .backends import get_backend
from .checkpoint import Checkpoint, load_checkpoint
from .cli import run_main
from .contract import Backend, Session, feeds_events
from .data.download import file_hash
from .errors import CheckpointError, ConfigError, NumericalError
from .evaluation import evaluate_dataset
from .network import init_params
from .optim import linear_decay, make_optimizer
from .progress import Progress, StopOnSignals, epoch_line, log_summary
from .pruning import apply_masks, check_masked, frozen_params, run_masks, training_masks
from .resources import check_resources
from .rundata import task_data
from .rundir import RunDir
from .runlog import Log, versions
from .settings import CONFIG_KEYS, Settings, build_parser, resolve_settings
from .trainstate import TrainState

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
    """One training run: the protocol of the module docstring, on the backend's training session
    (:class:`resonet.contract.Session`: it takes a batch as its sample indices and keeps the
    parameters and the optimizer state, so the loop below has one path for every engine)."""

    def __init__(self, s: Settings | dict, run_dir: str | os.PathLike, data, log: Log,
                 quiet: bool = False):
        self.s = s = s if isinstance(s, Settings) else Settings.from_dict(s)
        self.dir = RunDir(run_dir)
        self.run_dir = self.dir.path
        self.data = data
        self.log = log
        self.progress = Progress(log, quiet)
        self.spec = s.network
        self.dtype = s.np_dtype
        self.backend: Backend = get_backend(s.backend)
        if s.threads:
            import numba

            numba.set_num_threads(int(s.threads))
        self.state = TrainState()
        self.session: Session | None = None  # the training session, started by run()
        self.masks: dict | None = None  # pruned recurrent weights (--prune-recurrent)
        self.signals = StopOnSignals()  # SIGINT/SIGTERM while training
        self.saved_at: tuple[int, int] | None = None  # (epoch, batch) of the last good last.npz
        self.lock: IO[str] | None = None  # the run directory's lock (RunDir.lock), while training

    # the position of the run (TrainState), as attributes of the trainer
    epoch = property(lambda self: self.state.epoch)
    batch = property(lambda self: self.state.batch)
    history = property(lambda self: self.state.history)
    best_epoch = property(lambda self: self.state.best_epoch)
    clamps = property(lambda self: self.state.clamps)

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
        for name, value in frozen_params(self.spec, self.s.freeze).items():  # --freeze
            p[name][:] = value
        self.params = {k: v.astype(self.dtype) for k, v in p.items()}
        self.masks, _ = run_masks(self.spec, self.s.prune_recurrent, self.s.seed, self.dir.mask,
                                  create=True)
        apply_masks(self.params, self.masks)
        self.opt = make_optimizer(self.s.optimizer, self.params, self.s.lr)
        self.dir.save(self.dir.init, self.params, meta=self._meta())
        # a resume point before the (possibly long) epoch-0 evaluation: a run killed there
        # continues with --resume instead of being lost
        self.save_last()

    def _init_from(self) -> dict:
        """The parameters of the ``--init-from`` checkpoint (checked against this run's network
        when the settings were resolved, and again here: the file may have changed since)."""
        from .settings import read_init_checkpoint

        s = self.s
        assert s.init_from is not None  # only called for a run with --init-from
        init = read_init_checkpoint(s.init_from, s.task, s.neuron,
                                    s.permutation)  # None unless the task takes one
        init.check_fits(self.spec, lambda k: f"--init-from {s.init_from}")
        what = "an official PyTorch checkpoint" if init.official is not None else "a resonet checkpoint"
        epoch = getattr(init.official, "epoch", None)
        self.log(f"initial parameters from {init.path} ({what}"
                 + (f", epoch {epoch} of its run" if epoch is not None else "") + ")")
        return {k: np.array(v, dtype=np.float64) for k, v in init.params.items()}

    def _meta(self) -> dict:
        return {**RunDir.identity(self.s), "seed": self.s.seed,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def save_last(self) -> None:
        self._pull()  # a device session: bring self.params / self.opt up to date first
        self.dir.save(self.dir.last, self.params, optim_state=self.opt.state_dict(),
                      train_state=self.state.to_checkpoint(), meta=self._meta())
        self.saved_at = (self.state.epoch, self.state.batch)

    def load_last(self, ck: Checkpoint | None = None) -> None:
        """Continue from ``last.npz`` (or the already loaded checkpoint ``ck`` of it)."""
        if ck is None:
            ck = load_checkpoint(self.dir.last)
        ck.check(self.spec.param_shapes())
        self.params = {k: ck.params[k].astype(self.dtype) for k in self.spec.param_shapes()}
        self.masks, _ = run_masks(self.spec, self.s.prune_recurrent, self.s.seed, self.dir.mask,
                                  create=False)
        check_masked(self.params, self.masks, ck.path)
        self.opt = make_optimizer(self.s.optimizer, self.params, self.s.lr)
        self.opt.load_state_dict(ck.optim)
        self.state = TrainState.from_checkpoint(ck)
        self.saved_at = (self.state.epoch, self.state.batch)

    # -- the training session --------------------------------------------------------------------
    # A device session keeps data, parameters and optimizer state on the device and copies them
    # back on pull() (before anything saves or reads self.params / self.opt); the host session
    # works on self.params / self.opt in place. Checkpoints and resume are the same for both.
    # See docs/cuda-kernels.md ("Device-resident training").
    def _start_session(self) -> Session:
        if self.session is None:
            d, s = self.data, self.s
            self.session = self.backend.session(
                self.spec, self.params, self.opt, {"train": d.train, "val": d.val, "test": d.test},
                self.dtype, clip=s.clip, truncation=s.truncation,
                masks=training_masks(self.spec, self.masks, s.freeze))
        return self.session

    def _pull(self) -> None:
        if self.session is not None:
            self.session.pull()

    def _batches(self):
        """The sample indices of the remaining batches of this epoch (``iterate_batches``'
        order: a pure function of seed and epoch)."""
        from .data import epoch_order
        from .data.batching import num_batches

        n, bs = len(self.data.train), self.s.batch
        order = epoch_order(n, seed=self.s.seed, epoch=self.state.epoch)
        for k in range(self.state.batch, num_batches(n, bs)):
            yield order[k * bs:(k + 1) * bs]

    def train_step(self, idx, lr: float) -> None:
        """One batch: the session's step, then the NaN stop and the running sums."""
        st = self._start_session().train_batch(idx, lr=lr)
        where = f"epoch {self.state.epoch + 1}, batch {self.state.batch + 1}"
        if st["nonfinite"] == "loss":
            raise NumericalError(f"loss is {st['loss']} at {where}; stopped before the update")
        if st["nonfinite"]:
            raise NumericalError(f"gradient of {st['nonfinite']} has NaN/Inf at {where}; "
                                 "stopped before the update")
        self.state.clamps += st["clamps"]
        B = st["n"]
        rec = self.spec.recorded(self.data.train.T)
        self.state.running.add(st["loss"] / len(rec) * B, st["correct"], st["total"], B,
                               st["spikes"])

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> int:
        """Train to the end of the schedule (or ``--stop-after``), evaluating every epoch, then
        score the best checkpoint. Raises :class:`Interrupted` after Ctrl-C / SIGTERM (with
        ``last.npz`` written), NumericalError on NaN/Inf, CheckpointError if a write fails."""
        E = self.s.epochs
        st = self.state
        with self.signals:
            self._start_session()
            if self.s.backend == "cpu":
                self.log("(the first run on a machine compiles the numba kernels, about a minute; "
                         "they are cached for later runs)")
            while True:
                if st.batch == 0 and not st.evaluated(st.epoch):
                    self._evaluate_epoch()
                if st.epoch >= E:
                    break
                if self.s.stop_after is not None and st.epoch >= int(self.s.stop_after):
                    self.log(f"stopping after {st.epoch} of {E} epochs (--stop-after); "
                             f"continue with --resume {self.run_dir} --stop-after N")
                    break
                self._train_epoch()
            self._finish()
        return 0

    def _train_epoch(self) -> None:
        """The remaining batches of the current epoch, checkpointing every ``save_every`` s."""
        from .data.batching import num_batches

        st = self.state
        nb = num_batches(len(self.data.train), self.s.batch)
        lr = linear_decay(self.s.lr, st.epoch, self.s.epochs)
        self.opt.lr = lr
        last_save = time.perf_counter()
        for idx in self._batches():
            ts = time.perf_counter()
            self.train_step(idx, lr)
            st.batch += 1
            now = time.perf_counter()
            st.running.seconds += now - ts
            self._progress(nb)
            self._check_stop(f"at epoch {st.epoch + 1}, batch {st.batch}/{nb}")
            if st.batch < nb and now - last_save >= self.s.save_every:
                self.save_last()
                last_save = now
        self.progress.clear()
        st.epoch += 1
        st.batch = 0

    def _progress(self, nb: int) -> None:
        """The progress of the epoch after each batch (``nb`` batches in all)."""
        st, r = self.state, self.state.running
        self.progress.show(f"epoch {st.epoch + 1}", st.batch, nb,
                           f"loss {r.loss_b / max(r.samples, 1):.4f}  "
                           f"acc {100 * r.correct / max(r.total, 1):5.1f}%  "
                           f"{r.samples / max(r.seconds, 1e-9):6.0f} samples/s")

    def _check_stop(self, where: str) -> None:
        """After a signal: write last.npz (the position so far) and raise Interrupted."""
        if self.signals.signal is None:
            return
        self.progress.clear()
        self.save_last()
        raise Interrupted(self.run_dir, where)

    def _eval_progress(self, what: str):
        """``on_batch`` of an evaluation: progress, and the Ctrl-C check between its batches."""

        def on_batch(done: int, total: int | None) -> None:
            self.progress.show(what, done, total)
            self._check_stop(f"while {what}")

        return on_batch

    def _evaluate_epoch(self) -> None:
        e = self.state.epoch
        s = self.s
        t0 = time.perf_counter()
        self._pull()
        if e == 0:
            which = "initial (--init-from)" if s.init_from else "untrained"
            self.log(f"epoch   0: evaluating the {which} network on {len(self.data.val)} "
                     f"validation and {len(self.data.test)} test samples ...")
        session = self._start_session()
        val, test = (session.evaluate(n, s.eval_batch,
                                      on_batch=self._eval_progress(f"evaluating epoch {e}: {n}"))
                     for n in ("val", "test"))
        self.progress.clear()
        r = self.state.running
        n, secs = r.samples, r.seconds
        row = {
            "epoch": e,
            "train_loss": r.loss_b / n if e > 0 and n else None,
            "train_acc": 100.0 * r.correct / r.total if e > 0 and r.total else None,
            "val_loss": val["loss"], "val_acc": val["acc"],
            "test_loss": test["loss"], "test_acc": test["acc"],
            "val_acc_labelled": val.get("acc_labelled"), "test_acc_labelled": test.get("acc_labelled"),
            "test_sops": test["sops"], "test_sops_per_step": test["sops_per_step"],
            "lr": linear_decay(s.lr, e - 1, s.epochs) if e > 0 else None,
            "epoch_seconds": secs if e > 0 else None,
            "train_samples_per_s": n / secs if e > 0 and secs > 0 else None,
            "eval_seconds": time.perf_counter() - t0,
        }
        self.state.history.append(row)
        improved = math.isfinite(val["loss"]) and (
            val["loss"] < self.state.best_val if s.best_rule == "<"
            else val["loss"] <= self.state.best_val)
        if improved:
            self.state.best_val, self.state.best_epoch = val["loss"], e
            self.dir.save(self.dir.best, self.params,
                          train_state={"epoch": e, "val_loss": val["loss"]}, meta=self._meta())
        self.state.running = type(r)()
        self.save_last()
        self.dir.write_metrics(self.state.history)
        self._log_epoch(row, improved)
        self._plot_curves()

    def _log_epoch(self, row: dict, improved: bool) -> None:
        self.log(epoch_line(row, self.s.epochs, improved, bool(self.data.info.get("synthetic"))))
        if self.state.clamps:
            n = self.state.clamps
            why = "; ".join(b.reason for b in self.spec.model.BOUNDS)
            self.log(f"  note: {n} parameter entr{'y' if n == 1 else 'ies'} projected onto the "
                     f"model's bounds so far ({why})")

    def _plot_curves(self) -> None:
        try:
            from .plot import plot_learning_curves

            plot_learning_curves(self.state.history, self.dir / RunDir.CURVES, title=self._title())
        except Exception as exc:  # a figure must never end a run
            self.log(f"  (learning-curve figure skipped: {exc})")

    def _title(self) -> str:
        syn = " [SYNTHETIC data, not SHD]" if self.data.info.get("synthetic") else ""
        return f"{self.s.task} {self.s.neuron} seed {self.s.seed}{syn}"

    def _finish(self) -> None:
        """Score the best checkpoint on the test set, write summary.json, the final figures."""
        ck = load_checkpoint(self.dir.best, self.spec.param_shapes())
        best = {k: v.astype(self.dtype) for k, v in ck.params.items()}
        test = evaluate_dataset(self.backend, self.spec, best, self.data.test, self.s.eval_batch,
                                self.dtype, feeds_events(self.backend, self.data.test),
                                on_batch=self._eval_progress("evaluating the best checkpoint: test"))
        self.progress.clear()
        synthetic = bool(self.data.info.get("synthetic"))
        self.dir.write_json(RunDir.SUMMARY, {
            "best_epoch": self.state.best_epoch, "best_val_loss": self.state.best_val,
            "test_loss": test["loss"], "test_acc": test["acc"],
            "test_acc_labelled": test.get("acc_labelled"), "test_sops": test["sops"],
            "test_sops_per_step": test["sops_per_step"], "synthetic_data": synthetic})
        log_summary(self.log, self.state.best_epoch, test, synthetic)
        try:
            from .plot import plot_final

            init = load_checkpoint(self.dir.init).params
            plot_final(self.spec, init, best, self.backend, self.data.test, self.run_dir,
                       dtype=self.dtype, title=self._title())
        except Exception as exc:
            self.log(f"  (final figures skipped: {exc})")
        self.log(f"run directory: {self.run_dir}")


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------

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
    base = f" (presets of {s.preset_task})" if s.preset_task else ""
    log(f"task {s.task}{base}  neuron {s.neuron}  net {spec.describe()}"
        f"{' with biases' if spec.bias else ''}"
        f"{'' if spec.readout == 'li' else ', readout ' + spec.readout}"
        f"{', without ' + ', '.join(spec.ablate) if spec.ablate else ''} "
        f"({spec.n_params():,} parameters)  backend {s.backend} ({s.dtype})")
    log(f"data: train {len(data.train)}, val {len(data.val)}, test {len(data.test)} samples "
        f"from {info.get('source', data.train.source)}")
    if info.get("test"):
        log(f"note: the test split is {info['test']}")
    if s.freeze:
        log("frozen (one value, no gradient): "
            + ", ".join(f"{k} = {v:g}" for k, v in s.freeze.items()))
    log(f"optimizer {s.optimizer} lr {s.lr} (linear decay over {s.epochs} epochs), "
        f"batch {s.batch}, clip {s.clip}, seed {s.seed}")
    if s.prune_recurrent:
        log(f"recurrent weights pruned from the start: each removed with probability "
            f"{s.prune_recurrent:g} (mask in {RunDir.MASK})")


def command_line(argv) -> str:
    """The command as a user would type it again: ``python -m resonet.train shd --epochs 2``."""
    return shlex.join(["python", "-m", "resonet.train", *map(str, argv)])


def new_run(s: Settings, log: Log, *, command: str, quiet: bool = False) -> Trainer:
    """Check the machine, load the data, then create the run directory (locked), write
    config.json, init.npz and last.npz; a Trainer ready to :meth:`Trainer.run`. Nothing is
    created if a check or the data fail."""
    backend = get_backend(s.backend)  # fail fast (e.g. --backend cuda without a GPU): no run dir
    check_resources(s, backend=backend)
    data = task_data(s, log)  # before creating the run dir: bad data leaves nothing behind
    rd = RunDir.create(s.out) if s.out else RunDir.create_default("runs", s.task, s.neuron)
    lock = rd.lock()
    try:
        log.attach(rd.log)
        rd.write_json(RunDir.CONFIG, {
            "settings": s.to_dict(), "n_params": s.network.n_params(),
            "data": _jsonable(data.info), "versions": versions(),
            **({"init_from_md5": file_hash(s.init_from)} if s.init_from else {}),
            "command": command, "synthetic_data": bool(data.info.get("synthetic")),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        data.save(rd.path, RunDir.SPLIT)
        _banner(s, data, log)
        tr = Trainer(s, rd.path, data, log, quiet=quiet)
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
    rd = RunDir(run_dir)
    rd.read_config()  # a CheckpointError naming it if this is no run directory
    lock = rd.lock()
    try:
        s = rd.settings()
        if stop_after is not None:
            if stop_after < 0:
                raise ConfigError(f"--stop-after {stop_after} must be >= 0")
            s = s.replace(stop_after=stop_after)
        ck = None
        if rd.last.exists():
            ck = load_checkpoint(rd.last)
            rd.check_resume(ck, s)
            ck.check(s.network.param_shapes())
        backend = get_backend(s.backend)
        check_resources(s, backend=backend)
        log.attach(rd.log)
        data = task_data(s, log)
        tr = Trainer(s, rd.path, data, log, quiet=quiet)
        tr.lock = lock
        if ck is None:
            log(f"{rd.path} has no checkpoint yet (stopped before its first one): starting it "
                "from its initialisation")
            tr.init_state()
        else:
            tr.load_last(ck)
            log(f"resuming {rd.path} at epoch {tr.epoch}, batch {tr.batch}")
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
        log(f"the last good checkpoint is kept: {tr.dir.last}")
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
    last = tr.dir.last
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




def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


if __name__ == "__main__":
    sys.exit(run_main(main))
