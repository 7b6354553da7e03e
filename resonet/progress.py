"""What a training run tells its user while it runs: the progress bar (a terminal) or progress
lines (a log file, CI), the line per evaluated epoch, the final table, and the Ctrl-C/SIGTERM
flag that stops a run between batches (:class:`StopOnSignals`)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from .runlog import Log


class Progress:
    """A progress bar on a terminal; elsewhere (a log file, CI) a line every 60 s."""

    def __init__(self, log: Log, quiet: bool = False):
        self.log = log
        self.quiet = quiet
        self._last_line = -float("inf")  # time of the last progress line in a log file

    def show(self, what: str, done: int, total: int | None, stats: str = "") -> None:
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
        if now - self._last_line >= 60.0 and (total is None or done < total):
            self._last_line = now
            self.log(f"  {what}: batch {count}  {stats}".rstrip())

    def clear(self) -> None:
        if not self.quiet and sys.stderr.isatty():
            print("\r" + " " * 100 + "\r", end="", file=sys.stderr, flush=True)


class StopOnSignals:
    """While entered: SIGINT and SIGTERM set :attr:`signal` (the trainer checks it between
    batches) instead of raising inside the kernels; a second one stops at once
    (KeyboardInterrupt). Only the main thread can install handlers; elsewhere the defaults stay."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.signal is not None:  # the second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signal = signum
        # os.write, not print: the handler may run in the middle of a print to stderr
        os.write(2, b"\nstopping: the run is saved after the current batch "
                    b"(Ctrl-C again to stop at once)\n")

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            self._old = {sig: signal.signal(sig, self._handler)
                         for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc) -> None:
        for sig, h in self._old.items():
            signal.signal(sig, h)
        self._old = {}


def epoch_line(r: dict, epochs: int, improved: bool, synthetic: bool) -> str:
    """The log line of an evaluated epoch (a row of the history)."""
    parts = [f"{'[SYNTHETIC] ' if synthetic else ''}epoch {r['epoch']:>3}/{epochs}"]
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
    return "  ".join(parts)


def log_summary(log: Callable[[str], None], best_epoch: int, test: dict, synthetic: bool) -> None:
    """The final table: the test scores of the best checkpoint."""
    log("")
    log(f"best checkpoint (lowest validation loss): epoch {best_epoch}")
    log(f"  {'test loss per step':<24s} {test['loss']:.4f}")
    log(f"  {'test accuracy':<24s} {test['acc']:.2f} %")
    if test.get("acc_labelled") is not None:
        log(f"  {'  over labelled steps':<24s} {test['acc_labelled']:.2f} %")
    log(f"  {'SOPs per sample':<24s} {test['sops']:.1f}")
    log(f"  {'SOPs per step':<24s} {test['sops_per_step']:.3f}")
    if synthetic:
        log("  NOTE: trained and tested on SYNTHETIC SHD-format data, NOT the real SHD")
