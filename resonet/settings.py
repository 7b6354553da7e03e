"""The settings of a training run: the command line, the ``--config`` TOML file, and their
resolution against the presets into one frozen :class:`Settings`.

Precedence: preset (:mod:`resonet.presets`, per task and neuron) < config file < command line.
:meth:`Settings.to_dict` is what ``config.json`` of a run directory stores (``"settings"``) and
:meth:`Settings.from_dict` reads it back for ``--resume``; :meth:`Settings.fingerprint` is the
hash a checkpoint records, so that a resume refuses an edited ``config.json``.

Everything is checked before a run directory exists: types and choices of every value (a TOML
file or a Python call can give ``epochs = "three"``; the message names where the value came
from), ranges, and -- :func:`resonet.resources.check_resources` -- the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from .contract import BACKEND_NAMES, DEFAULT_BACKEND, DTYPES
from .errors import CheckpointError, ConfigError
from .neurons import DEFAULT_NEURON, get_neuron, neuron_names
from .neurons.li import READOUTS
from .optim import OPTIMIZERS
from .presets import get_preset
from .pruning import check_phi
from .spec import RESETS, NetworkSpec, check_ablate
from .tasks import get_task, preset_tasks, task_names

# Settings a --config TOML file may set (the same names as the long options, '-' -> '_').
CONFIG_KEYS = {
    "neuron", "backend", "epochs", "batch", "eval_batch", "lr", "seed", "split_seed", "data_dir",
    "optimizer", "clip", "hidden", "dtype", "reset", "truncation", "subset", "save_every",
    "synthetic", "download", "threads", "out", "stop_after", "prune_recurrent", "init_from",
    "permutation", "bias", "readout", "ablate", "freeze",
    # a user's task (custom): its files, the step of event times, the presets it starts from
    "train", "test", "val", "dt", "preset_task",
    # initial ranges of the neuron parameters and the readout's τ (any task)
    "init",
}
# Other names a config file or a Python call may use for a setting.
ALIASES = {"preset": "preset_task"}
# The settings of a user's files (only the tasks whose sizes come from files take them).
FILE_KEYS = ("train", "test", "val", "dt", "preset_task")
# The type or the choices of every setting (the command line's parser checks its own; a TOML file,
# config.json or a Python call are checked against these).
_INTS = {"epochs", "batch", "eval_batch", "seed", "truncation", "subset",
         "threads", "stop_after"}
_FLOATS = {"lr", "clip", "save_every", "prune_recurrent", "dt"}
_STRINGS = {"data_dir", "out", "init_from", "permutation", "train", "test", "val"}
_BOOLS = {"download", "bias"}
PER_RUN_SPLIT = "seed"  # split_seed = "seed": the split follows the run's seed
# "hidden" is an integer (one recurrent layer) or a list of them (stacked layers, input side
# first): ``--hidden 128,128``, ``hidden = [128, 128]`` or ``"128,128"`` (see :func:`parse_hidden`).
_CHOICES: dict[str, Callable[[], tuple]] = {  # read at call time: a model registered later counts
    "task": task_names, "preset_task": preset_tasks, "neuron": neuron_names, "backend": lambda: BACKEND_NAMES,
    "optimizer": lambda: tuple(OPTIMIZERS), "dtype": lambda: tuple(DTYPES),
    "reset": lambda: RESETS, "synthetic": lambda: ("auto", "yes", "no"),
    "readout": lambda: READOUTS}
# Settings a resume may change without changing the run (excluded from the fingerprint).
RESUME_MAY_CHANGE = ("stop_after",)
# Settings added after runs were made: left out of the fingerprint while unset, so that those
# runs still resume (their checkpoints hold the hash of the settings without them).
UNSET_NOT_HASHED = ("init_from", "permutation", "train", "test", "val", "dt", "preset_task",
                    "init")


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
    hidden: int | list[int] = 128  # H, or [H_1, …, H_L] for stacked recurrent layers
    bias: bool = False  # hidden and readout biases (the official ``bias=True``)
    readout: str = "li"  # "li" | "li_sigmoid" (resonet.neurons.li)
    ablate: list[str] | None = None  # mechanisms removed from the neuron (its ABLATIONS), sorted
    freeze: dict | None = None  # neuron parameter -> the value it is fixed at (no gradient)
    reset: str = "none"
    truncation: int | None = None
    subset: int | None = None
    threads: int | None = None
    save_every: float = 120.0
    stop_after: int | None = None
    best_rule: str = "<"  # "<": keep the first minimum of the validation loss, "<=": the last
    out: str | None = None
    prune_recurrent: float = 0.0  # φ: each recurrent weight removed with probability φ (resonet.pruning)
    init_from: str | None = None  # start from this checkpoint's parameters (fine-tuning)
    permutation: str | None = None  # PS-MNIST pixel order: a file or "identity" (else drawn)
    train: str | None = None  # custom: the split files (absolute paths)
    test: str | None = None
    val: str | None = None  # custom: None = drawn from train (the paper tasks' rule)
    dt: float | None = None  # custom: seconds per step, for events given as times
    preset_task: str | None = None  # custom: the paper task whose presets it starts from
    init: dict | None = None  # initial ranges given (name -> [a, b]); merged into preset["init"]

    @property
    def network(self) -> NetworkSpec:
        return NetworkSpec(**self.spec)

    @property
    def np_dtype(self) -> type[np.floating]:
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
        """Settings from :meth:`to_dict` (e.g. ``config.json`` of a run directory), with every
        value type-checked: a CheckpointError naming ``where`` and the setting."""
        if not isinstance(d, dict):
            raise CheckpointError(f"{where}: the settings must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise CheckpointError(f"{where}: unknown setting(s) {unknown}; written by a newer "
                                  "resonet?")
        if isinstance(d.get("hidden"), str):  # config.json stores an int or a list of them
            raise CheckpointError(f"{where}: hidden = {d['hidden']!r} must be an integer or a "
                                  "list of integers")
        try:
            for key in sorted(CONFIG_KEYS | {"task"}):
                check_value(key, d.get(key), lambda k, v: f"{where}: {k} = {v!r}")
            s = cls(**d)
            NetworkSpec(**s.spec)
        except ConfigError as exc:
            raise CheckpointError(str(exc)) from None
        except TypeError as exc:
            raise CheckpointError(f"{where}: incomplete or malformed settings ({exc})") from None
        return s

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def fingerprint(self) -> str:
        """A hash of every setting that fixes the run (all but :data:`RESUME_MAY_CHANGE`): the
        checkpoints record it and ``--resume`` compares it with ``config.json``'s."""
        d = {k: v for k, v in self.to_dict().items() if k not in RESUME_MAY_CHANGE
             and not (k in UNSET_NOT_HASHED and v is None)}
        # a setting added later hashes only when it departs from its default, so that runs
        # written before it existed keep their fingerprint (and can be resumed)
        for key, default in _ADDED_LATER.items():
            if d.get(key) == default:
                d.pop(key, None)
                if isinstance(d.get("spec"), dict) and d["spec"].get(key) == default:
                    d["spec"] = {k: v for k, v in d["spec"].items() if k != key}
        text = json.dumps(d, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_FIELDS = tuple(f.name for f in fields(Settings))
# setting -> its default (Settings.fingerprint)
_ADDED_LATER = {"bias": False, "readout": "li", "ablate": None, "freeze": None}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m resonet.train",
        description="Train a recurrent spiking network of (balanced) resonate-and-fire neurons "
                    "with the presets of the BRF paper (Table 3), on one of its tasks or on your "
                    "own data (custom --train FILE --test FILE). Defaults come from the preset of "
                    "the task and neuron; a --config file overrides them and flags override both.",
    )
    ap.add_argument("task", nargs="?", choices=task_names(),
                    help="which task: " + "; ".join(f"{n}: {get_task(n).summary}"
                                                     for n in task_names()))
    ap.add_argument("--neuron", choices=neuron_names(),
                    help=f"hidden neuron model: {', '.join(neuron_names())} (default "
                         f"{DEFAULT_NEURON})")
    ap.add_argument("--backend", choices=BACKEND_NAMES,
                    help=f"engine: cpu (fused numba kernels), cuda (numba.cuda) or reference "
                         f"(readable NumPy float64, slow); default {DEFAULT_BACKEND}")
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
    ap.add_argument("--split-seed", type=_split_seed_arg, metavar="N|seed",
                    help="seed of the 90/10 train/validation split (default 0: every run the same "
                         "split); 'seed': each run draws its own split from its --seed, as the "
                         "official scripts draw a fresh split per run")
    ap.add_argument("--data-dir", help="data directory (default $RESONET_DATA, else ~/.cache/resonet); "
                                       "must exist unless --download is given")
    ap.add_argument("--download", action="store_true",
                    help="download missing datasets (SHD, ECG, MNIST) into the data directory first")
    ap.add_argument("--synthetic", choices=["auto", "yes", "no"],
                    help="SHD only: use the generated SHD-format stand-in when the real files are "
                         "absent, in the default data directory only (auto, default), always (yes) "
                         "or never (no)")
    ap.add_argument("--hidden", metavar="H[,H2,...]",
                    help="hidden neurons H (preset: SHD 128, ECG 36, MNIST 256); a comma-separated "
                         "list stacks recurrent layers, input side first (--hidden 128,128)")
    ap.add_argument("--bias", action="store_true", default=None,
                    help="hidden and readout biases (the official bias=True; default: none)")
    ap.add_argument("--readout", choices=list(READOUTS),
                    help="the readout's α: li = exp(-1/|tau_o|) (the official LICell), li_sigmoid = "
                         "sigmoid(tau_o) (LICellSigmoid; preset: BHRF on ECG, Table 3)")
    ap.add_argument("--reset", choices=list(RESETS),
                    help="reset variant, for the models that have them (rf: none, soft, hard, "
                         "mod; lif: none = its own soft reset, mod). mod = reset-to-mod: graded, "
                         "signed spikes trunc(u/theta), one hidden layer")
    ap.add_argument("--ablate", metavar="NAME[,NAME]",
                    help="remove mechanisms from the neuron model (the paper's Fig. 10 ablations); "
                         "brf: boundary (no divergence boundary p(omega)), refractory (no "
                         "refractory period in the threshold), smooth_reset (q does not raise the "
                         "damping); e.g. --ablate boundary,refractory")
    ap.add_argument("--truncation", type=int,
                    help="truncated BPTT: cut the gradient after every chunk of this many steps")
    ap.add_argument("--prune-recurrent", type=float, metavar="PHI",
                    help="train from scratch with each recurrent weight removed with probability "
                         "PHI in [0, 1] (a fixed random mask drawn from the seed; 1: no recurrent "
                         "weights; default 0)")
    ap.add_argument("--train", metavar="FILE",
                    help="custom: the training split, a .npz or .h5 file of resonet's format "
                         "(docs/data.md, \"Your own data\"): dense x (N, T, I) or events, labels y")
    ap.add_argument("--test", metavar="FILE", help="custom: the test split (same layout)")
    ap.add_argument("--val", metavar="FILE",
                    help="custom: the validation split (default: 10%% of --train, drawn with "
                         "--split-seed as for the paper's tasks)")
    ap.add_argument("--preset", dest="preset_task", choices=preset_tasks(), metavar="TASK",
                    help="custom: start from the presets of this paper task (its H, optimizer, "
                         "learning rate, batch, epochs, initial ranges, recorded steps); default "
                         "shd's")
    ap.add_argument("--dt", type=float, metavar="SECONDS",
                    help="custom: seconds per step, binning events given as 'time' (default: "
                         "the file's dt)")
    ap.add_argument("--init", action="append", metavar="NAME=A,B",
                    help="initial range of a neuron parameter or of the readout's out_tau: "
                         "uniform (low, high) or normal (mean, std) as the model declares it, "
                         "e.g. --init omega=5,10 --init b_offset=2,3 (repeatable; default: the "
                         "preset's)")
    ap.add_argument("--freeze", action="append", metavar="NAME=VALUE",
                    help="fix a neuron parameter at one value for every neuron and train without "
                         "its gradient, e.g. --freeze tau_mem=30 (a fixed membrane time constant "
                         "of 30 steps; repeatable; config: freeze = {tau_mem = 30})")
    ap.add_argument("--init-from", metavar="CKPT",
                    help="fine-tune: start from the parameters of this checkpoint (a resonet run "
                         "directory or .npz, or an official PyTorch .pt of the BRF paper) instead of "
                         "a fresh initialisation; the neuron and hidden size default to its own, the "
                         "optimizer and the learning-rate schedule start anew")
    ap.add_argument("--permutation", metavar="FILE",
                    help="psmnist: the pixel order, a *_permuted_idx.pt, .npy or data_split.npz, or "
                         "'identity' (default: drawn from --split-seed; with --init-from, the "
                         "checkpoint's own)")
    ap.add_argument("--dtype", choices=list(DTYPES),
                    help="precision of training (default: the backend's, float32; reference "
                         "float64; the ECG ALIF preset float64, whose gradients exceed float32's "
                         "range)")
    ap.add_argument("--stop-after", type=int, metavar="N",
                    help="stop after N training epochs of the E-epoch schedule (the learning rate still "
                         "decays over E); --resume RUN --stop-after M continues to M")
    ap.add_argument("--subset", type=int,
                    help="use only the first N samples of each split (quick smoke runs)")
    ap.add_argument("--threads", type=int,
                    help="CPU threads for the cpu backend (default: all cores; on a shared machine "
                         "give the number of free cores: a busy core slows every step)")
    ap.add_argument("--save-every", type=float,
                    help="also checkpoint last.npz every this many seconds within an epoch (default 120)")
    ap.add_argument("--config", help="TOML file with any of the settings above (long names, '_' for '-')")
    ap.add_argument("--out", help="run directory to create (default runs/<task>-<neuron>-<time>); "
                                  "an existing non-empty directory is refused")
    ap.add_argument("--resume", metavar="RUN_DIR",
                    help="continue a killed, interrupted (Ctrl-C) or stopped run from "
                         "RUN_DIR/last.npz with its saved settings (only --stop-after may be given)")
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
    except OSError as exc:  # a directory, unreadable, ...
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    cfg = normalize_keys({k.replace("-", "_"): v for k, v in cfg.items()})
    unknown = set(cfg) - CONFIG_KEYS - {"task"}
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {sorted(unknown)}; allowed: {sorted(CONFIG_KEYS)}")
    return cfg


def normalize_keys(d: dict) -> dict:
    """``d`` with the other names of a setting (:data:`ALIASES`: ``preset``) replaced by its own."""
    return {ALIASES.get(k, k): v for k, v in d.items()}


Source = Callable[[str, Any], str]
_FLAGS = {"preset_task": "--preset"}  # settings whose flag is not --<name>


def _flag_source(key: str, value: Any) -> str:
    if key == "init" and isinstance(value, list):
        return " ".join(f"--init {v}" for v in value)
    return f"{_FLAGS.get(key, '--' + key.replace('_', '-'))} {value}"


def _default_source(key: str, value: Any) -> str:
    return f"{key} {value!r} (the default)"


def describe_sources(given: dict, given_source: Source, cfg: dict, cfg_name: str | None) -> Source:
    """``source(key, value)``: how an error message names a setting, after where it came from:
    ``--reset soft`` (command line), ``c.toml: reset = 'soft'`` (config file),
    ``train_run(reset='soft')`` (Python), ``reset 'none' (the default)``."""

    def source(key: str, value: Any) -> str:
        if key in given:
            return given_source(key, value)
        if key in cfg:
            return f"{cfg_name}: {key} = {value!r}"
        return _default_source(key, value)

    return source


def check_value(key: str, value: Any, source: Source) -> Any:
    """``value`` if it has the type (or is one of the choices) of setting ``key``; else a
    ConfigError naming its source. None (not set) passes."""
    if value is None:
        return None
    if key in _CHOICES:
        choices = _CHOICES[key]()
        if not isinstance(value, str) or value not in choices:
            raise ConfigError(f"{source(key, value)} is not one of {', '.join(choices)}")
    elif key in _INTS:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ConfigError(f"{source(key, value)} must be an integer")
    elif key in _FLOATS:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ConfigError(f"{source(key, value)} must be a number")
    elif key in _STRINGS:
        if not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{source(key, value)} must be a string (a path)")
    elif key in _BOOLS and not isinstance(value, bool):
        raise ConfigError(f"{source(key, value)} must be true or false")
    else:
        _check_structured(key, value, source)
    return value


def _check_structured(key: str, value: Any, source: Source) -> None:
    """The settings whose values are more than a scalar: ``hidden`` (one width or a list of
    them, :func:`parse_hidden`), ``split_seed`` (an integer or ``'seed'``), ``ablate`` (names)
    and ``init`` (a table of ranges)."""
    if key == "hidden":
        parse_hidden(value, lambda: source(key, value))
    elif key == "split_seed" and value != PER_RUN_SPLIT and (
            isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise ConfigError(f"{source(key, value)} must be an integer or '{PER_RUN_SPLIT}' "
                          "(each run's split drawn from its seed)")
    elif key == "ablate" and not (isinstance(value, str) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))):
        raise ConfigError(f"{source(key, value)} must be a list of names, e.g. ablate = "
                          "[\"refractory\"] (or --ablate refractory)")
    elif key == "init" and not (isinstance(value, dict) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value))):
        raise ConfigError(f"{source(key, value)} must be a table of ranges, e.g. "
                          "init = {omega = [5, 10]} (or --init omega=5,10)")


def parse_hidden(value: Any, where: Callable[[], str] | None = None) -> int | list[int]:
    """The hidden width(s) from an int, a list of ints or a comma-separated string
    (``"128,128"``): an int for one layer, a list [H_1, …, H_L] for stacked layers. A
    ConfigError naming ``where()`` for anything else (0, negative, non-integer, empty)."""
    widths: list = []
    ok = True
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        ok = all(p.isdigit() for p in parts)  # digits only: no sign, no point, no empty part
        widths = [int(p) for p in parts] if ok else []
    elif isinstance(value, (list, tuple)):
        widths = list(value)
    else:
        widths = [value]
    ok = ok and bool(widths) and all(
        isinstance(h, (int, np.integer)) and not isinstance(h, (bool, np.bool_)) and h >= 1
        for h in widths)
    if not ok:
        name = where() if where is not None else f"hidden {value!r}"
        raise ConfigError(f"{name} must be a positive integer or a comma-separated list of them, "
                          f"one per stacked layer (e.g. --hidden 128 or --hidden 128,128)")
    return int(widths[0]) if len(widths) == 1 else [int(h) for h in widths]


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Preset < config file < command line; validated (see :func:`resolve`)."""
    cfg = load_config_file(args.config) if args.config else {}
    given = {k: v for k, v in vars(args).items() if v is not None and k in CONFIG_KEYS}
    if not args.download:
        given.pop("download", None)  # store_true: False means "not given"
    if args.task is not None:
        given["task"] = args.task
    return resolve(given, cfg, source=describe_sources(given, _flag_source, cfg, args.config))


def resolve(given: dict, cfg: dict | None = None, *, source: Source | None = None) -> Settings:
    """Settings from the values ``given`` (command line or Python call) over ``cfg`` (a config
    file's) over the preset of the task and neuron; every value type-checked and range-checked,
    with messages that name where it came from (``source``)."""
    cfg = dict(cfg or {})
    source = source or describe_sources(given, _flag_source, cfg, "config")
    merged = {**cfg, **given}
    for key in sorted(CONFIG_KEYS | {"task"}):
        check_value(key, merged.get(key), source)
    task = merged.get("task")
    if task is None:
        raise ConfigError(f"no task given; use: python -m resonet.train {'|'.join(task_names())}")
    init = _read_init(merged, task, source) if merged.get("init_from") is not None else None
    neuron = merged.get("neuron", init.spec.neuron if init else DEFAULT_NEURON)
    preset = get_preset(_task_of(merged, source), neuron, base=merged.get("preset_task"))
    ranges = parse_init(merged.get("init"), neuron, source)  # --init NAME=A,B, TOML [init]
    if ranges:
        preset = preset.with_overrides(init={**preset.init,
                                             **{k: tuple(v) for k, v in ranges.items()}})
    merged["init"] = ranges
    merged["freeze"] = parse_freeze(merged.get("freeze"), neuron, source)
    s = _merge(merged, task, neuron, preset, init, source)

    def at(key: str) -> str:
        return source(key, merged.get(key, s[key]))

    _check_ranges(s, at)
    resets = get_neuron(neuron).RESETS
    if s["reset"] not in resets:
        raise ConfigError(f"{at('reset')} is not defined for the {neuron} neuron "
                          f"({source('neuron', neuron)}; it has: {', '.join(resets)})")
    if s["ablate"] is not None:  # stored as a sorted list of distinct names, None for none
        try:
            s["ablate"] = list(check_ablate(neuron, s["ablate"])) or None
        except ConfigError as exc:
            raise ConfigError(f"{at('ablate')}: {str(exc).removeprefix('ablate: ')} "
                              f"({source('neuron', neuron)})") from None
    s["spec"] = NetworkSpec(neuron, preset.n_in, s["hidden"], preset.n_out, reset=s["reset"],
                            sub_seq_length=preset.sub_seq_length, label_last=preset.label_last,
                            bias=s["bias"], readout=s["readout"],
                            ablate=tuple(s["ablate"] or ())).to_dict()
    if init is not None:
        init.check_fits(NetworkSpec(**s["spec"]), at)
    return Settings(**s)


def _task_of(merged: dict, source: Source):
    """The run's task: from the registry, with the sizes of the user's files for a task that
    takes them (``merged``'s paths made absolute, so a resume from elsewhere finds them)."""
    t = get_task(merged["task"])
    given = [k for k in FILE_KEYS if merged.get(k) is not None]
    if not t.from_files:
        if given:
            k = given[0]
            raise ConfigError(f"{source(k, merged[k])}: only the task custom (your own files) takes "
                              f"it; the task {t.name} reads its own data")
        return t
    for k in ("train", "test", "val"):
        if merged.get(k) is not None:
            merged[k] = os.path.abspath(os.fspath(merged[k]))
    dt = merged.get("dt")
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise ConfigError(f"{source('dt', dt)} must be a positive number of seconds")
    return t.with_files(train=merged.get("train"), test=merged.get("test"), val=merged.get("val"),
                        dt=None if dt is None else float(dt))


def parse_init(value: Any, neuron: str, source: Source) -> dict[str, list[float]] | None:
    """Initial ranges given as ``["omega=5,10", ...]`` (command line) or ``{"omega": [5, 10]}``
    (TOML, Python): {name: [a, b]} for the model's parameters (uniform: low ≤ high; normal:
    std ≥ 0, as each declares) and the readout's ``out_tau`` (normal)."""
    if value is None:
        return None
    model = get_neuron(neuron)
    kinds = {p.name: p.init for p in model.PARAMS}
    kinds["out_tau"] = "normal"
    items: list[tuple[str, Any, str]] = []
    if isinstance(value, list):
        for v in value:
            name, sep, rest = v.partition("=")
            if not sep:
                raise ConfigError(f"--init {v}: expected NAME=A,B, e.g. --init omega=5,10")
            items.append((name.strip(), rest.split(","), f"--init {v}"))
    else:
        items = [(k, v, source("init", value)) for k, v in value.items()]
    out: dict[str, list[float]] = {}
    for name, nums, where in items:
        if name not in kinds:
            raise ConfigError(f"{where}: {name!r} is not a parameter of the {neuron} neuron; it "
                              f"has: {', '.join(kinds)}")
        try:
            a, b = (float(n) for n in nums)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {name} needs two numbers (uniform: low, high; normal: "
                              "mean, std)") from None
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ConfigError(f"{where}: {name} needs two finite numbers")
        if kinds[name] == "uniform" and a > b:
            raise ConfigError(f"{where}: {name} is drawn uniformly from (low, high); low {a:g} > "
                              f"high {b:g}")
        if kinds[name] == "normal" and b < 0:
            raise ConfigError(f"{where}: {name} is drawn from a normal (mean, std); std {b:g} < 0")
        out[name] = [a, b]
    return out


def parse_freeze(value: Any, neuron: str, source: Source) -> dict[str, float] | None:
    """Frozen parameters given as ``["tau_mem=30", ...]`` (command line), ``{"tau_mem": 30}``
    (TOML, Python) or ``"tau_mem=30,tau_adp=50"`` (a string: a sweep axis's value): {name:
    value} for the neuron model's parameters, each a finite number."""
    if value is None:
        return None
    names = get_neuron(neuron).PARAM_NAMES
    items: list[tuple[str, Any, str]] = []
    if isinstance(value, str):  # "tau_mem=30" or "tau_mem=30,tau_adp=50" (a sweep axis value)
        value = [v for v in value.split(",") if v.strip()]
    if isinstance(value, list):
        for v in value:
            name, sep, rest = str(v).partition("=")
            if not sep:
                raise ConfigError(f"--freeze {v}: expected NAME=VALUE, e.g. --freeze tau_mem=30")
            items.append((name.strip(), rest, f"--freeze {v}"))
    elif isinstance(value, dict):
        items = [(k, v, source("freeze", value)) for k, v in value.items()]
    else:
        raise ConfigError(f"{source('freeze', value)} must be a table, e.g. freeze = "
                          "{tau_mem = 30} (or --freeze tau_mem=30)")
    out: dict[str, float] = {}
    for name, num, where in items:
        if name not in names:
            raise ConfigError(f"{where}: {name!r} is not a parameter of the {neuron} neuron; it "
                              f"has: {', '.join(names)}")
        try:
            x = float(num)
        except (TypeError, ValueError):
            x = math.nan
        if isinstance(num, bool) or not math.isfinite(x):
            raise ConfigError(f"{where}: {name} needs one finite number")
        out[name] = x
    return out or None


def _merge(merged: dict, task: str, neuron: str, preset, init: InitCheckpoint | None,
           source: Callable[[str, Any], str]) -> dict:
    """Every setting: the given value (converted to its type) or the default (the preset's, the
    ``--init-from`` checkpoint's width, the backend's precision, the dataclass's)."""
    backend = merged.get("backend", DEFAULT_BACKEND)
    clip = merged.get("clip", preset.clip)
    return {
        "task": task, "neuron": neuron, "backend": backend,
        "dtype": merged.get("dtype", preset.dtype or _train_dtype(backend)),
        "epochs": int(merged.get("epochs", preset.epochs)),
        "batch": int(merged.get("batch", preset.batch)),
        "eval_batch": int(merged.get("eval_batch", preset.eval_batch)),
        "lr": float(merged.get("lr", preset.lr)),
        "optimizer": merged.get("optimizer", preset.optimizer),
        "clip": None if clip is None else float(clip),
        "seed": int(merged.get("seed", 0)),
        "split_seed": _split_seed(merged.get("split_seed", 0), int(merged.get("seed", 0))),
        "data_dir": None if merged.get("data_dir") is None else os.fspath(merged["data_dir"]),
        "download": bool(merged.get("download", False)),
        "synthetic": merged.get("synthetic", "auto"),
        "hidden": parse_hidden(merged.get("hidden", init.spec.n_hidden if init else preset.n_hidden)),
        "bias": bool(merged.get("bias", init.spec.bias if init else False)),
        "readout": merged.get("readout", init.spec.readout if init else preset.readout),
        "ablate": merged.get("ablate"),
        "freeze": merged.get("freeze"),
        "reset": merged.get("reset", "none"),
        "truncation": _opt_int(merged.get("truncation")),
        "subset": _opt_int(merged.get("subset")),
        "threads": _opt_int(merged.get("threads")),
        "save_every": float(merged.get("save_every", 120.0)),
        "stop_after": _opt_int(merged.get("stop_after")),
        "best_rule": preset.best_rule,
        "preset": preset.to_dict(),
        "out": None if merged.get("out") is None else os.fspath(merged["out"]),
        "prune_recurrent": float(merged.get("prune_recurrent", 0.0)),
        "init_from": None if init is None else str(init.path),
        "permutation": _permutation_setting(merged, task, init, source),
        "train": merged.get("train"), "test": merged.get("test"), "val": merged.get("val"),
        "dt": None if merged.get("dt") is None else float(merged["dt"]),
        "preset_task": merged.get("preset_task"),
        "init": merged.get("init"),
    }


def _check_ranges(s: dict, at: Callable[[str], str]) -> None:
    """The range of every numeric setting of ``s`` (in place: a clip of 0 or inf becomes None,
    φ its checked float); ``at(key)`` names where a value came from."""
    for key in ("epochs", "batch", "eval_batch"):
        if s[key] < 1:
            raise ConfigError(f"{at(key)} must be >= 1")
    if not (math.isfinite(s["lr"]) and s["lr"] > 0):
        raise ConfigError(f"{at('lr')} must be a positive number")
    s["clip"] = _check_clip(s["clip"], at)
    if not (s["save_every"] >= 0):  # also NaN; inf: only at epoch boundaries
        raise ConfigError(f"{at('save_every')} must be >= 0 seconds (0: after every batch)")
    if not (0.0 <= s["prune_recurrent"] <= 1.0):  # also NaN
        raise ConfigError(f"{at('prune_recurrent')} must be in [0, 1] (the probability that a "
                          "recurrent weight is removed)")
    s["prune_recurrent"] = check_phi(s["prune_recurrent"])
    if s["prune_recurrent"] and isinstance(s["hidden"], list):
        raise ConfigError(f"{at('prune_recurrent')} needs a network with one hidden layer "
                          f"({at('hidden')} stacks {len(s['hidden'])}); give one width")
    for key in ("seed", "split_seed"):
        if s[key] < 0:
            raise ConfigError(f"{at(key)} must be >= 0")
    for key, low in (("subset", 1), ("truncation", 1), ("stop_after", 0), ("threads", 1)):
        if s[key] is not None and s[key] < low:
            raise ConfigError(f"{at(key)} must be >= {low}")


def _check_clip(clip: float | None, at: Callable[[str], str]) -> float | None:
    """The clipping norm, None for "off" (None, 0 or inf)."""
    if clip is None:
        return None
    if not (clip >= 0):  # also NaN
        raise ConfigError(f"{at('clip')} must be >= 0 (0 disables clipping)")
    return None if clip == 0 or math.isinf(clip) else clip


def _split_seed_arg(text: str) -> int | str:
    """``--split-seed``: an integer or the word ``seed``."""
    if text == PER_RUN_SPLIT:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither an integer nor '{PER_RUN_SPLIT}'") from None


def _split_seed(value: Any, seed: int) -> int:
    """The split seed of a run: ``value``, or the run's own seed for ``'seed'`` (so that every
    run of a seed sweep draws its own train/validation split; the resolved number is what the
    run directory records)."""
    return seed if value == PER_RUN_SPLIT else int(value)


def _opt_int(v: Any) -> int | None:
    return None if v is None else int(v)


class InitCheckpoint:
    """The checkpoint of ``--init-from`` (:func:`read_init_checkpoint`): ``path`` (absolute),
    ``spec``, ``params`` (float64), ``official`` (the :class:`resonet.official.OfficialNetwork`
    or None) and ``permutation_file`` (the PS-MNIST pixel order it was trained with, if known)."""

    def __init__(self, path: Path, spec: NetworkSpec, params: dict, official=None,
                 permutation_file: str | None = None):
        self.path, self.spec, self.params = path, spec, params
        self.official = official
        self.permutation_file = permutation_file

    def check_fits(self, spec: NetworkSpec, at: Callable[[str], str]) -> None:
        """ConfigError unless the run's network has this checkpoint's neuron, sizes (every layer),
        biases and reset."""
        def net(s: NetworkSpec) -> str:
            return (f"{s.neuron} {s.describe()}{' with biases' if s.bias else ''} (reset {s.reset}"
                    f"{'' if s.readout == 'li' else ', readout ' + s.readout})")

        if net(spec) != net(self.spec):
            raise ConfigError(
                f"{at('init_from')}: its network is {net(self.spec)}, this run's {net(spec)}; "
                "drop the --neuron/--hidden/--bias/--reset/--readout that differ, or train on the "
                "checkpoint's task")
        removed = getattr(self.official, "mask_removed", 0)
        if removed:
            raise ConfigError(f"{at('init_from')}: its hidden.linear.mask removes {removed} weights; "
                              "resonet keeps removed weights at zero only for its own "
                              "--prune-recurrent masks, so it cannot fine-tune this network")


def read_init_checkpoint(path: str, task: str, neuron: str | None = None,
                         permutation: str | None = None) -> InitCheckpoint:
    """The ``--init-from`` checkpoint ``path``, read for a run of ``task``: an official PyTorch
    file (:func:`resonet.official.read_official`), or a resonet run directory (its ``best.npz``)
    or one of its ``.npz`` checkpoints (spec from the checkpoint's own record)."""
    from .checkpoint import load_checkpoint
    from .official import is_official, read_official

    if is_official(path):
        net = read_official(path, task=task, neuron=neuron, permutation=permutation)
        src = net.permutation_source
        perm_file = src if src and Path(src).is_file() else None
        return InitCheckpoint(net.path.resolve(), net.spec, net.params, net, perm_file)
    p = Path(path)
    npz = p / "best.npz" if p.is_dir() else p
    ck = load_checkpoint(npz)
    spec_d = ck.meta.get("spec")
    if not isinstance(spec_d, dict):
        raise CheckpointError(f"{npz}: its meta_json records no spec; not a checkpoint of "
                              "python -m resonet.train")
    try:
        spec = NetworkSpec(**spec_d)
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{npz}: bad spec in its meta_json ({exc})") from None
    ck.check(spec.param_shapes())
    params = {k: np.array(ck.params[k], dtype=np.float64) for k in spec.param_shapes()}
    split = npz.parent / "data_split.npz"  # a PS-MNIST run's own pixel order
    perm_file = str(split.resolve()) if _takes_permutation(ck.meta.get("task")) and split.is_file() \
        else None
    return InitCheckpoint(npz.resolve(), spec, params, None, perm_file)


def _read_init(merged: dict, task: str, source: Source) -> InitCheckpoint:
    path = os.fspath(merged["init_from"])
    perm = merged.get("permutation") if _takes_permutation(task) else None
    try:
        return read_init_checkpoint(path, task, merged.get("neuron"), perm)
    except (ConfigError, CheckpointError) as exc:
        raise ConfigError(f"{source('init_from', path)}: {exc}") from None


def _permutation_setting(merged: dict, task: str, init: InitCheckpoint | None,
                         source: Source) -> str | None:
    """The PS-MNIST pixel order of the run: ``--permutation`` (checked now), else the
    ``--init-from`` checkpoint's own, else None (drawn from the split seed)."""
    given = merged.get("permutation")
    if given is not None:
        if not _takes_permutation(task):
            raise ConfigError(f"{source('permutation', given)} applies to psmnist only")
        if str(given) != "identity":
            from .official import read_permutation

            try:
                read_permutation(given)
            except CheckpointError as exc:
                raise ConfigError(f"{source('permutation', given)}: {exc}") from None
            return str(Path(given).resolve())
        return "identity"
    if _takes_permutation(task) and init is not None:
        return init.permutation_file
    return None


def _takes_permutation(task: Any) -> bool:
    """Whether the task takes a given pixel order (its option ``permutation``: PS-MNIST)."""
    return task in task_names() and "permutation" in get_task(task).options


def load_permutation(setting: str | None):
    """The pixel order of a ``permutation`` setting (None: drawn from the split seed)."""
    if setting is None:
        return None
    if setting == "identity":
        return np.arange(784, dtype=np.int64)
    from .official import read_permutation

    return read_permutation(setting)


def _train_dtype(backend: str) -> str:
    """The precision the backend trains in by default (what it declares)."""
    from .backends import backend_class

    return backend_class(backend).train_dtype
