"""Where resonet looks for (and caches) data files.

Data-directory resolution, first match wins:

1. the explicit argument (``--data-dir D`` on the command line, ``data_dir=`` in Python);
2. the environment variable ``$RESONET_DATA``;
3. the user cache directory: ``$XDG_CACHE_HOME/resonet`` if ``XDG_CACHE_HOME`` is set, else
   ``~/.cache/resonet``.

Inside the data directory each task looks in a few conventional places (see
:func:`find_first`), so files downloaded by other tools (a torchvision ``MNIST/raw`` folder, a keras
``hdspikes`` cache) are found without copying.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

ENV_DATA_DIR = "RESONET_DATA"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/resonet`` or ``~/.cache/resonet`` (not created here)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "resonet"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: explicit argument > ``$RESONET_DATA`` > the user cache directory."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR, "").strip()
    if env:
        return Path(env).expanduser()
    return default_cache_dir()


def candidate_dirs(data_dir: Path, subdirs: Sequence[str]) -> list[Path]:
    """``data_dir`` itself followed by ``data_dir/sub`` for each conventional sub-folder."""
    return [data_dir] + [data_dir / s for s in subdirs]


def find_first(dirs: Iterable[Path], names: Sequence[str]) -> Path | None:
    """The first ``dir/name`` that is an existing file, trying names in order within each dir."""
    for d in dirs:
        for n in names:
            p = d / n
            if p.is_file():
                return p
    return None
