"""Helpers shared by the ``python -m resonet.*`` entry points.

Library code raises typed :mod:`resonet.errors`; an entry point wraps its ``main`` with
:func:`run_main` so that the user sees one line, ``error: <message>``, on stderr and the process
exits with code 2 -- no traceback. Set ``RESONET_DEBUG=1`` to get the traceback back.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .errors import ConfigError, ResonetError

EXIT_USAGE = 2  # bad input: missing/corrupt file, bad parameter (argparse uses 2 as well)


def fail(message: str, code: int = EXIT_USAGE) -> int:
    """Print a one-line error message on stderr and return the exit code."""
    one_line = " ".join(str(message).split())
    print(f"error: {one_line}", file=sys.stderr)
    return code


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run ``main(argv)``; turn resonet errors (and a few OS errors) into one-line messages."""
    debug = os.environ.get("RESONET_DEBUG", "") not in ("", "0")
    try:
        return main(argv)
    except ResonetError as exc:
        if debug:
            raise
        return fail(str(exc))
    except FileNotFoundError as exc:
        if debug:
            raise
        return fail(f"{exc.filename}: no such file or directory")
    except PermissionError as exc:
        if debug:
            raise
        return fail(f"{exc.filename}: permission denied")
    except OSError as exc:  # e.g. a full disk where no library code expected it
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        return fail(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except SystemError as exc:  # a Ctrl-C that arrived inside compiled code (numba) surfaces so
        if not isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt) or debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors become a ConfigError, so that :func:`run_main` prints
    them as one line (``error: ...``) and exits with code 2."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message} (see --help)")
