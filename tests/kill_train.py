"""Test helper: ``python -m tests.kill_train E:B ARGS...`` runs ``python -m resonet.train ARGS``
and SIGKILLs the process right after batch B of epoch E (1-based, as logged): after that batch's
update and progress report, before any checkpoint of it. The resume test kills a run mid-epoch
for real with it; the trainer itself has no such hook.
"""

from __future__ import annotations

import os
import signal
import sys

from resonet import train
from resonet.cli import run_main


def main() -> int:
    epoch, batch = (int(v) for v in sys.argv[1].split(":"))
    progress = train.Trainer._progress

    def progress_then_kill(self, nb):
        progress(self, nb)
        if (self.epoch + 1, self.batch) == (epoch, batch):
            os.kill(os.getpid(), signal.SIGKILL)

    train.Trainer._progress = progress_then_kill
    return run_main(train.main, sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
