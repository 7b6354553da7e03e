"""The settings of a training run: the command line, the ``--config`` TOML file, and their
resolution against the presets into one frozen :class:`Settings`.

Precedence: preset (:mod:`resonet.presets`, per task and neuron) < config file < command line.
:meth:`Settings.to_dict` is what ``config.json`` of a run directory stores (``"settings"``) and
:meth:`Settings.from_dict` reads it back for ``--resume``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from .errors import CheckpointError, ConfigError
from .neurons import get_neuron
from .presets import NEURON_NAMES, TASKS, get_preset
from .pruning import check_phi
from .spec import RESETS, NetworkSpec

DTYPES = {"float32": np.float32, "float64": np.float64}
# Settings a --config TOML file may set (the same names as the long options, '-' -> '_').
CONFIG_KEYS = {
    "neuron", "backend", "epochs", "batch", "eval_batch", "lr", "seed", "split_seed", "data_dir",
    "optimizer", "clip", "hidden", "dtype", "reset", "truncation", "subset", "save_every",
    "synthetic", "download", "threads", "out", "stop_after", "prune_recurrent",
}


@dataclass(frozen=True)
class Settings(Mapping):
    """Every setting of a training run, validated (see :func:`resolve_settings`).

    Read as attributes (``s.lr``) or, like the ``"settings"`` object of ``config.json``, as a
    read-only mapping (``s["lr"]``, ``s.get("threads")``, ``dict(s)``).
    """

    task: str
    neuron: str
    backend: str
    spec: dict  # NetworkSpec fields (NetworkSpec(**spec))
    preset: dict  # the Preset the defaults came from (Preset.to_dict()), incl. "init"
    dtype: str = "float32"
    epochs: int = 20
    batch: int = 32
    eval_batch: int = 256
    lr: float = 0.1
    optimizer: str = "adam"
    clip: float | None = None  # global-norm clipping; None: off
    seed: int = 0
    split_seed: int = 0
    data_dir: str | None = None
    download: bool = False
    synthetic: str = "auto"  # SHD: "auto" | "yes" | "no"
    hidden: int = 128
    reset: str = "none"
    truncation: int | None = None
    subset: int | None = None
    threads: int | None = None
    save_every: float = 120.0
    stop_after: int | None = None
    best_rule: str = "<"  # "<": keep the first minimum of the validation loss, "<=": the last
    out: str | None = None
    prune_recurrent: float = 0.0  # φ: each recurrent weight removed with probability φ (resonet.pruning)

    @property
    def network(self) -> NetworkSpec:
        return NetworkSpec(**self.spec)

    @property
    def np_dtype(self):
        return DTYPES[self.dtype]

    def to_dict(self) -> dict:
        return asdict(self)

    def __getitem__(self, key: str) -> Any:
        if key not in _FIELDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)

    @classmethod
    def from_dict(cls, d: dict, where: str = "settings") -> Settings:
        """Settings from :meth:`to_dict` (e.g. ``config.json`` of a run directory)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(f"{where}: unknown setting(s) {unknown}; written by a newer "
                                  "resonet?")
        try:
            return cls(**d)
        except TypeError as exc:
            raise CheckpointError(f"{where}: incomplete settings ({exc})") from None

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)


_FIELDS = tuple(f.name for f in fields(Settings))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m resonet.train",
        description="Train a recurrent spiking network of (balanced) resonate-and-fire neurons "
                    "with the presets of the BRF paper (Table 3). Defaults come from the preset of "
                    "the task and neuron; a --config file overrides them and flags override both.",
    )
    ap.add_argument("task", nargs="?", choices=TASKS, help="which task: shd, ecg, smnist or psmnist")
    ap.add_argument("--neuron", choices=NEURON_NAMES,
                    help=f"hidden neuron model: {', '.join(NEURON_NAMES)} (default brf)")
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
    ap.add_argument("--reset", choices=list(RESETS),
                    help="reset variant, for the models that have them (rf: none, soft, hard)")
    ap.add_argument("--truncation", type=int,
                    help="truncated BPTT: cut the gradient after every chunk of this many steps")
    ap.add_argument("--prune-recurrent", type=float, metavar="PHI",
                    help="train from scratch with each recurrent weight removed with probability "
                         "PHI in [0, 1] (a fixed random mask drawn from the seed; 1: no recurrent "
                         "weights; default 0)")
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


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Preset < config file < command line; validated."""
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
        "prune_recurrent": check_phi(merged.get("prune_recurrent", 0.0)),
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
    resets = get_neuron(neuron).RESETS
    if s["reset"] not in resets:
        raise ConfigError(f"--reset {s['reset']} is not defined for --neuron {neuron} "
                          f"(it has: {', '.join(resets)})")
    s["spec"] = NetworkSpec(neuron, preset.n_in, s["hidden"], preset.n_out, reset=s["reset"],
                            sub_seq_length=preset.sub_seq_length, label_last=preset.label_last).to_dict()
    return Settings(**s)
