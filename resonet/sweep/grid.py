"""Sweep files: a base of ``resonet.train`` settings, axes and per-value overrides -> trials.

A sweep file is TOML::

    task = "ecg"                               # a scalar: a setting every trial shares
    neuron = ["brf", "rf", "bhrf", "alif"]     # a list: an axis of the grid
    seed = [0, 1, 2, 3, 4]

    [sweep]                                    # options of the sweep itself (all optional)
    name = "ecg_table1"                        # default: the file's stem; output runs/<name>
    threads_per_trial = 1

    [overrides.neuron.bhrf]                    # settings for the trials whose neuron is bhrf
    lr = 0.2

    [slurm]                                    # SLURMCluster options (--executor slurm)
    queue = "cpu"

TOML cannot hold ``neuron = [...]`` and a ``[neuron.bhrf]`` table at once, hence the
``overrides`` table. The grid is the cartesian product of the axes in the order the file gives
them (the first axis varies slowest). An override is applied when its axis takes its value; it
may set any setting that is not an axis already expanded, and a list in an override is an axis
of those trials only (``[overrides.neuron.rf] reset = ["none", "soft", "hard"]``). An override
whose value no trial takes is an error (a typo would otherwise be ignored silently). Keys of
numbers are written as strings: ``[overrides.seed.3]``, ``[overrides.lr."0.05"]``.

Trial IDs are readable and depend only on the trial's own axis values, so they stay the same
when the file is re-read or other axes gain values: ``<task>-<neuron>[-<axis value>...]-s<seed>``,
e.g. ``ecg-bhrf-s3``, ``ecg-rf-reset_soft-s0``, ``shd-brf-lr0.05-s1``.

Every trial's settings are resolved and validated by ``resonet.train``'s own resolution
(:func:`resolve_trial`, the one place that imports ``resonet.settings``) before anything runs.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError

# Settings the sweep itself manages for every trial: a sweep file may not set them.
MANAGED = {"out": "each trial's run directory is <sweep dir>/<trial id>",
           "threads": "set threads_per_trial in [sweep] or --threads-per-trial"}
SWEEP_OPTIONS = {"name", "out", "workers", "threads_per_trial", "executor", "scheduler"}
TABLES = {"sweep", "overrides", "slurm"}
EXECUTORS = ("local", "dask", "slurm")


@dataclass
class Trial:
    id: str
    settings: dict  # the trial's settings as a sweep file gives them (before presets)
    axes: dict  # axis -> value, in grid order
    resolved: dict = field(default_factory=dict, repr=False)  # resonet.train's resolution


@dataclass
class Sweep:
    name: str
    source: str  # the sweep file
    text: str  # its contents (kept in the sweep directory for the record)
    base: dict  # scalars and axes as given (after --set)
    trials: list[Trial]
    options: dict  # the [sweep] table
    slurm: dict  # the [slurm] table


# --------------------------------------------------------------------------------------------
# resonet.settings: the only place the sweep depends on the trainer's internals
# --------------------------------------------------------------------------------------------

def train_keys() -> set:
    """Settings a trial may set: those of ``python -m resonet.train --config``."""
    from ..settings import CONFIG_KEYS

    return set(CONFIG_KEYS) | {"task"}


def resolve_trial(settings: dict) -> dict:
    """Resolve (preset < settings) and validate one trial's settings exactly as
    ``python -m resonet.train --config FILE`` would, plus the type and choice checks that its
    command-line parser makes. Raises ConfigError naming the setting."""
    from ..settings import build_parser, resolve_settings

    parser = build_parser()
    args = parser.parse_args([])
    actions = {a.dest: a for a in parser._actions}
    for key, value in settings.items():
        a = actions.get(key)
        if a is not None and a.choices is not None and value not in a.choices:
            raise ConfigError(f"{key} = {value!r} is not one of {', '.join(map(str, a.choices))}")
        if a is not None and a.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    a.type is int and not isinstance(value, int)):
                kind = "an integer" if a.type is int else "a number"
                raise ConfigError(f"{key} = {value!r} must be {kind}")
        setattr(args, key, value)
    try:
        return resolve_settings(args).to_dict()
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"bad value ({exc})") from None


# --------------------------------------------------------------------------------------------
# loading and expansion
# --------------------------------------------------------------------------------------------

def load_toml(path: str | os.PathLike) -> tuple[dict, str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise ConfigError("sweep files need Python >= 3.11 (tomllib)") from None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such sweep file") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable sweep file ({exc})") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None


def parse_set(items: list[str] | None) -> dict:
    """``--set KEY=VALUE`` items; VALUE is read as TOML (``3``, ``0.1``, ``[0, 1]``, ``true``)
    and falls back to a plain string (``--set data_dir=data/ecg``)."""
    import tomllib

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key] = value
    return out


def load_sweep(path: str | os.PathLike, sets: dict | None = None) -> Sweep:  # noqa: C901 - one pass over the tables of the file, one message each
    """Read, expand and validate a sweep file (``sets``: ``--set`` values over its base)."""
    raw, text = load_toml(path)
    where = str(path)
    options = raw.pop("sweep", {})
    overrides = raw.pop("overrides", {})
    slurm = raw.pop("slurm", {})
    for name, tbl in (("sweep", options), ("overrides", overrides), ("slurm", slurm)):
        if not isinstance(tbl, dict):
            raise ConfigError(f"{where}: '{name}' must be a table ([{name}])")
    unknown = set(options) - SWEEP_OPTIONS
    if unknown:
        raise ConfigError(f"{where}: unknown [sweep] option(s) {sorted(unknown)}; "
                          f"allowed: {sorted(SWEEP_OPTIONS)}")
    base = {k.replace("-", "_"): v for k, v in raw.items()}
    base.update(sets or {})
    allowed = train_keys()
    for key, value in base.items():
        _check_key(key, value, allowed, where)
    for axis, per_value in overrides.items():
        if not isinstance(per_value, dict) or not all(isinstance(v, dict) for v in per_value.values()):
            raise ConfigError(f"{where}: overrides.{axis} must hold tables, e.g. [overrides.{axis}.VALUE]")
        for value, tbl in per_value.items():
            for key, v in tbl.items():
                _check_key(key, v, allowed, f"{where}: [overrides.{axis}.{value}]")
    name = str(options.get("name") or Path(path).stem)
    trials, used = _expand(base, overrides, where)
    unused = [f"overrides.{a}.{v}" for a, vals in overrides.items() for v in vals if (a, v) not in used]
    if unused:
        raise ConfigError(f"{where}: {', '.join(unused)} match(es) no trial; is the axis or the value "
                          "misspelt? (keys of numbers are strings: [overrides.seed.3])")
    for t in trials:
        try:
            t.resolved = resolve_trial(t.settings)
        except ConfigError as exc:
            raise ConfigError(f"{where}: trial {_describe(t)}: {exc}") from None
        t.id = trial_id(t.resolved, t.axes)
    seen: dict[str, Trial] = {}
    for t in trials:
        if t.id in seen:
            raise ConfigError(f"{where}: trials {_describe(seen[t.id])} and {_describe(t)} get the same "
                              f"ID {t.id!r}; their settings differ only in characters IDs drop")
        seen[t.id] = t
    return Sweep(name=name, source=where, text=text, base=base, trials=trials, options=options,
                 slurm=slurm)


def _check_key(key: str, value, allowed: set, where: str) -> None:
    key = key.replace("-", "_")
    if key in MANAGED:
        raise ConfigError(f"{where}: '{key}' is managed by the sweep ({MANAGED[key]})")
    if key not in allowed:
        hint = " (a table? only [sweep], [overrides.AXIS.VALUE] and [slurm] exist)" \
            if isinstance(value, dict) else ""
        raise ConfigError(f"{where}: unknown setting '{key}'{hint}; allowed: {sorted(allowed)}")
    if isinstance(value, list) and not value:
        raise ConfigError(f"{where}: axis '{key}' is an empty list")
    if isinstance(value, dict):
        raise ConfigError(f"{where}: '{key}' must be a value or a list of values, not a table")


def _expand(base: dict, overrides: dict, where: str) -> tuple[list[Trial], set]:
    used: set[tuple[str, str]] = set()
    trials: list[Trial] = []

    def rec(s: dict, axes: dict) -> None:
        for key, values in s.items():
            if not isinstance(values, list):
                continue
            for value in values:
                if isinstance(value, (list, dict)):
                    raise ConfigError(f"{where}: axis '{key}' holds {value!r}; axis values must be scalars")
                s2 = {**s, key: value}
                axes2 = {**axes, key: value}
                ov = overrides.get(key, {}).get(_value_key(value))
                if ov is not None:
                    used.add((key, _value_key(value)))
                    for k, v in ov.items():
                        k = k.replace("-", "_")
                        if k in axes2:
                            raise ConfigError(
                                f"{where}: [overrides.{key}.{_value_key(value)}] sets '{k}', an axis "
                                "already expanded; make it a scalar or drop the override")
                        s2[k] = v
                rec(s2, axes2)
            return
        trials.append(Trial(id="", settings=s, axes=axes))

    rec(dict(base), {})
    return trials, used


def _value_key(value) -> str:
    """How an axis value is written as a TOML key of an override table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------------------------
# trial IDs
# --------------------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")


def _part(key: str, value) -> str:
    if isinstance(value, bool):
        return key if value else f"no_{key}"
    if isinstance(value, (int, float)):
        return f"{key}{value!r}"  # repr: the shortest text that reads back as the same number
    if key == "data_dir":
        value = Path(str(value)).name or str(value)
    return f"{key}_{value}"


def trial_id(resolved: dict, axes: dict) -> str:
    """``<task>-<neuron>[-<axis value>...]-s<seed>``: the task, neuron and seed always (from the
    resolved settings, so defaults count), the other axes in grid order."""
    parts = [str(resolved["task"]), str(resolved["neuron"])]
    parts += [_part(k, v) for k, v in axes.items() if k not in ("task", "neuron", "seed")]
    parts = [_UNSAFE.sub("_", p).strip("_.") or "_" for p in parts]
    return "-".join(parts + [f"s{resolved['seed']}"])


def _describe(t: Trial) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in t.axes.items()) + "}" if t.axes else "(the only one)"


# --------------------------------------------------------------------------------------------
# the trial's settings file for ``python -m resonet.train --config``
# --------------------------------------------------------------------------------------------

def to_toml(settings: dict) -> str:
    """A flat TOML document of scalars (None values are left out: train's default applies)."""
    import json

    lines = []
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, float):
            text = repr(value) if math.isfinite(value) else ("nan" if math.isnan(value)
                                                             else ("inf" if value > 0 else "-inf"))
        elif isinstance(value, str):
            text = json.dumps(value)  # a JSON string is a valid TOML basic string
        else:
            raise ConfigError(f"setting {key} = {value!r}: only numbers, strings and booleans")
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"
