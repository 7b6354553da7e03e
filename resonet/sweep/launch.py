"""``python -m resonet.sweep.launch PPID ARGS...``: ``python -m resonet.train ARGS`` that dies with
the process that started it.

A trial runs in its own process. If the sweep driver (or the Dask worker) that started it is
killed, an orphaned trial would keep writing into its run directory while a re-run of the sweep
resumes the same trial. On Linux the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG)``)
ends the trial with its parent; the trial's lock file (see :mod:`resonet.sweep.trial`) guards
the platforms without it. Setting the signal in the child itself, rather than in a
``preexec_fn`` of the parent, is safe in a threaded parent.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(ppid: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):  # not Linux: the lock file still prevents double runs
        return
    if os.getppid() != ppid:  # the parent died before the signal was armed
        os._exit(128 + int(signal.SIGKILL))


def main() -> None:
    if len(sys.argv) < 2 or not sys.argv[1].isdigit():
        sys.exit("usage: python -m resonet.sweep.launch PPID [resonet.train arguments]")
    die_with_parent(int(sys.argv[1]))
    sys.argv = ["python -m resonet.train", *sys.argv[2:]]
    runpy.run_module("resonet.train", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
