"""Test helper: ``python -m tests.kill_train [--signal SIG] POINT ARGS...`` runs
``python -m resonet.train ARGS`` and, at POINT, sends the process itself a real signal
(``python -m tests.kill_train --enospc NAME:K ARGS...``: a full disk instead):

- POINT ``E:B``: right after batch B of epoch E (1-based, as logged): after that batch's update
  and progress report, before the trainer looks at its stop flag or writes a checkpoint;
- POINT ``eval:E``: as the evaluation of epoch E (0: the untrained network) begins;
- ``--signal``: KILL (default), INT (Ctrl-C), TERM, or STOP (the process stops itself, still
  holding its run directory; the test continues it with SIGCONT);
- ``--enospc NAME:K``: instead of a signal, the K-th write of a file called NAME fails with
  ENOSPC ("No space left on device") after writing half its bytes -- a full disk.

The tests interrupt runs for real with it; the trainer itself has no such hooks.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

from resonet import checkpoint, train
from resonet.cli import run_main


def main() -> int:
    argv = sys.argv[1:]
    sig, enospc = signal.SIGKILL, None
    while argv[0].startswith("--"):
        if argv[0] == "--signal":
            sig = getattr(signal, f"SIG{argv[1]}")
        elif argv[0] == "--enospc":
            name, k = argv[1].split(":")
            enospc = (name, int(k))
        argv = argv[2:]
    if enospc is not None:
        args = argv
        write, seen = checkpoint._write_file, {"n": 0}

        def full_disk(fh, data, target):
            if target.name == enospc[0]:
                seen["n"] += 1
                if seen["n"] == enospc[1]:
                    fh.write(data[: len(data) // 2])
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            write(fh, data, target)

        checkpoint._write_file = full_disk
    elif argv[0].startswith("eval:"):
        args, epoch = argv[1:], int(argv[0][5:])
        evaluate = train.Trainer._evaluate_epoch

        def evaluate_then_signal(self):
            if self.epoch == epoch:
                os.kill(os.getpid(), sig)
            evaluate(self)

        train.Trainer._evaluate_epoch = evaluate_then_signal
    else:
        args = argv[1:]
        epoch, batch = (int(v) for v in argv[0].split(":"))
        progress = train.Trainer._progress

        def progress_then_signal(self, nb):
            progress(self, nb)
            if (self.epoch + 1, self.batch) == (epoch, batch):
                os.kill(os.getpid(), sig)

        train.Trainer._progress = progress_then_signal
    return run_main(train.main, args)


if __name__ == "__main__":
    sys.exit(main())
