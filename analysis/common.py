"""Helpers shared by the analysis modules: checkpoints, evaluation data, output files, CLI bits.

Checkpoint layout (written by ``python -m resonet.train``; :mod:`resonet.checkpoint`)::

    runs/<name>/best.npz      ``param/<name>`` arrays (e.g. ``param/hidden.linear.weight``), and
                              ``meta_json`` = {"spec": {NetworkSpec fields}, "task": ..., ...}
    runs/<name>/config.json   {"settings": {"task": ..., "spec": {...}, "data_dir": ..., ...}, ...}

:func:`load_run` takes the run directory (→ its ``best.npz``) or any ``.npz`` of it
(``init.npz``, ``last.npz``). The spec and task come from the file's ``meta_json``, else from
``config.json`` (``settings.spec`` or a top-level ``spec``); a file that has neither is refused.

Evaluation data for the checkpoint-based analyses (robustness, pruning, landscape) come from
``--data FILE.npz`` holding ``x`` (time-major (T, N, I)) and ``y`` ((N,) labels, or (T, N)
per-step labels with −1 for unlabelled steps), or -- when no file is given -- from the run's task
through :func:`resonet.data.load_task` with the run's data settings (data_dir, split_seed,
synthetic SHD choice).

Output files are never overwritten: :func:`unique_path` appends ``-2``, ``-3``, … to a name
that is taken.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from resonet.api import read_run
from resonet.backends import get_backend
from resonet.checkpoint import save_checkpoint
from resonet.cli import Parser
from resonet.contract import BACKEND_NAMES, DEFAULT_BACKEND
from resonet.errors import CheckpointError, ConfigError, DataError
from resonet.evaluation import evaluate as _evaluate
from resonet.network import NetworkSpec
from resonet.rundir import RunDir
from resonet.runlog import unique_path, write_json

ROOT = Path(__file__).resolve().parent.parent


# -- checkpoints ----------------------------------------------------------------------------------
# The reader is the package's (resonet.api.read_run, behind resonet.load_run); analyses use its
# plain (spec, params, config) form.
load_run = read_run


def write_checkpoint(run_dir: str | Path, spec: NetworkSpec, params: dict, task: str = "toy",
                     **settings: Any) -> Path:
    """Write ``best.npz`` + ``config.json`` in the training layout (for tests and examples).

    Refuses to overwrite an existing ``best.npz``.
    """
    rd = RunDir(run_dir)
    rd.path.mkdir(parents=True, exist_ok=True)
    if rd.best.exists():
        raise CheckpointError(f"{rd.best}: exists; refusing to overwrite")
    save_checkpoint(rd.best, params, meta={"spec": spec.to_dict(), "task": task})
    cfg = {"settings": {"task": task, "spec": spec.to_dict(), "neuron": spec.neuron, **settings}}
    rd.config.write_text(json.dumps(cfg, indent=2))
    return rd.best


# -- finished runs of sweep directories -----------------------------------------------------------
SWEEP_STATE_FILE = "sweep.json"
# Settings that differ between the runs of one model without changing what is measured (or,
# preset and spec, that follow from other settings): they never split a group of runs.
RUN_SPECIFIC = frozenset({"seed", "out", "threads", "data_dir", "download", "save_every",
                          "eval_batch", "preset", "spec"})


@dataclass
class FinishedRun:
    """A finished training run: its directory, its settings (``config.json``) and its
    ``summary.json``; ``variant`` holds the settings that set it apart from the other runs of
    its task and neuron (:func:`mark_variants`)."""

    id: str
    run_dir: Path
    settings: dict
    summary: dict
    variant: tuple = ()  # ((key, value), ...)

    @property
    def task(self) -> str:
        return str(self.settings.get("task"))

    @property
    def neuron(self) -> str:
        return str(self.settings.get("neuron"))

    @property
    def seed(self):
        return self.settings.get("seed")


def run_dirs(directory: str | Path) -> list[Path]:
    """The run directories of ``directory``: itself if it is a run (holds ``config.json``); in a
    sweep directory (``sweep.json``) the trials of its grid; else every sub-directory holding a
    ``config.json``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such directory (a sweep directory, a folder of run "
                          "directories or a run directory)")
    if RunDir(directory).config.is_file():
        return [directory]
    state = directory / SWEEP_STATE_FILE
    if state.is_file():
        try:
            trials = json.loads(state.read_text())["trials"]
            return [directory / t for t, rec in trials.items() if rec.get("in_grid", True)]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{state}: unreadable ({exc})") from None
    return [p for p in sorted(directory.iterdir()) if RunDir(p).config.is_file()]


def _sweep_settings(directory: Path) -> dict[Path, dict]:
    """{run directory: settings} of the trials recorded in a sweep directory's state ({} for
    anything else, or where the record is unreadable: it only serves the selection)."""
    try:
        trials = json.loads((directory / SWEEP_STATE_FILE).read_text())["trials"]
        return {(directory / t).resolve(): dict(rec.get("settings") or {}) for t, rec in trials.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def collect_finished_runs(directories, *, keep=None) -> tuple[list[FinishedRun], list[tuple[str, str]]]:
    """The finished runs found in ``directories`` (see :func:`run_dirs`; each run once, however
    it was named) and ``(id, why)`` for the runs left out: not finished (no complete
    ``summary.json``) or with an unreadable ``config.json``. ``keep(settings) -> bool`` selects
    runs before they are checked (runs it rejects are neither kept nor reported). A run's id is
    its directory name, prefixed by its parent's name where two runs share a name."""
    if isinstance(directories, (str, Path)):
        directories = [directories]
    found: dict[Path, Path] = {}
    planned: dict[Path, dict] = {}  # a sweep's record of its trials' settings, for the selection
    for directory in directories:
        for d in run_dirs(directory):
            found.setdefault(d.resolve(), d)
        planned.update(_sweep_settings(Path(directory)))
    paths = list(found.values())
    names = [d.name for d in paths]
    ids = [f"{d.parent.name}/{d.name}" if names.count(d.name) > 1 else d.name for d in paths]
    runs, skipped = [], []
    for rid, d in zip(ids, paths):
        rd = RunDir(d)
        if not rd.config.exists():  # a trial of a sweep that has not got that far
            if keep is not None and not keep(planned.get(d.resolve(), {})):
                continue
            skipped.append((rid, f"unfinished (no {RunDir.CONFIG} yet)" if d.exists()
                            else "not started (no run directory)"))
            continue
        try:
            settings = rd.run_settings()
        except CheckpointError as exc:  # names the file and what is wrong with it
            skipped.append((rid, str(exc)))
            continue
        if keep is not None and not keep(settings):
            continue
        summary = rd.summary()
        if summary is None:
            skipped.append((rid, f"unfinished (no complete {RunDir.SUMMARY})"))
            continue
        runs.append(FinishedRun(rid, d, settings, summary))
    if not runs:
        why = f" ({len(skipped)} unfinished or unreadable)" if skipped else ""
        where = ", ".join(str(d) for d in directories)
        raise ConfigError(f"{where}: no finished run directories{why}")
    return runs, skipped


def select_runs(directories, neurons=None, seeds=None) -> tuple[list[FinishedRun], list]:
    """The finished runs of ``directories`` (:func:`collect_finished_runs`) of the given neuron
    models and seeds (None: all), their variants marked (:func:`mark_variants`); the runs left
    out are listed on stderr and returned as ``(id, why)``."""

    def keep(settings: dict) -> bool:
        return ((neurons is None or settings.get("neuron") in neurons)
                and (seeds is None or settings.get("seed") in seeds))

    runs, skipped = collect_finished_runs(directories, keep=keep)
    mark_variants(runs)
    for rid, why in skipped:
        progress(f"skipping {rid}: {why}")
    return runs, skipped


def mark_variants(runs, ignore=RUN_SPECIFIC) -> None:
    """Set ``run.variant`` to the settings (outside ``ignore``) that differ between the runs of
    the same task and neuron, so that runs of different protocols are never averaged together;
    ``runs`` are objects with ``settings`` and ``variant`` attributes."""
    from dataclasses import MISSING

    from resonet.settings import Settings

    # a setting added to resonet.train after a run was made is absent from its config.json; the
    # run had the setting's default behaviour (e.g. prune_recurrent 0: no pruning)
    defaults = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}

    def value(r, k):
        return r.settings.get(k, defaults.get(k))

    by_model: dict[tuple, list] = {}
    for r in runs:
        by_model.setdefault((r.settings.get("task"), r.settings.get("neuron")), []).append(r)
    for group in by_model.values():
        keys = sorted({k for r in group for k in r.settings} - set(ignore))
        varying = [k for k in keys
                   if len({json.dumps(value(r, k), sort_keys=True) for r in group}) > 1]
        for r in group:
            r.variant = tuple((k, value(r, k)) for k in varying)


def model_label(task: str, neuron: str, variant: tuple = ()) -> str:
    """``"ECG BRF"``, with the settings of a variant appended (``"ECG BRF epochs=60"``)."""
    extra = " ".join(f"{k}={json.dumps(v) if isinstance(v, (dict, list)) else v}"
                     for k, v in variant)
    return " ".join(x for x in (str(task).upper(), str(neuron).upper(), extra) if x)


# -- evaluation data ------------------------------------------------------------------------------
class EvalData:
    """A labelled set of sequences, served in batches ``(x (T, B, I), y (B,) or (T, B))``.

    Wraps either arrays (``x`` time-major (T, N, I), ``y`` (N,) or (T, N)) or a
    ``resonet.data`` Dataset (anything with ``len()`` and ``batch(indices) -> (x, y)``).
    """

    def __init__(self, x: np.ndarray | None = None, y: np.ndarray | None = None, dataset: Any = None,
                 source: str = "arrays", limit: int | None = None):
        self.source = source
        self._ds = dataset
        if dataset is None:
            x = np.asarray(x)
            y = np.asarray(y)
            if x.ndim != 3:
                raise DataError(f"{source}: x must be time-major (T, N, I), got shape {x.shape}")
            N = x.shape[1]
            if not ((y.ndim == 1 and y.shape[0] == N) or (y.ndim == 2 and y.shape == x.shape[:2])):
                raise DataError(f"{source}: y must be (N={N},) or (T, N)={x.shape[:2]}, got {y.shape}")
            if not np.issubdtype(y.dtype, np.integer):
                raise DataError(f"{source}: labels y must be integers, got {y.dtype}")
            self._x, self._y = x, y.astype(np.int64)
            n = N
        else:
            n = len(dataset)
        if limit is not None:
            if limit < 1:
                raise ConfigError(f"--limit must be >= 1, got {limit}")
            n = min(n, limit)
        self.n = n

    @property
    def n_in(self) -> int:
        if self._ds is not None:
            return int(self._ds.n_in)
        return int(self._x.shape[2])

    def take(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(x (T, B, I) float64, y)`` for the samples ``idx``."""
        if self._ds is not None:
            x, y = self._ds.batch(idx, dtype=np.float64)
            return np.asarray(x, dtype=np.float64), np.asarray(y)
        y = self._y[idx] if self._y.ndim == 1 else self._y[:, idx]
        return np.asarray(self._x[:, idx], dtype=np.float64), y

    def batches(self, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
        for start in range(0, self.n, batch_size):
            yield self.take(np.arange(start, min(start + batch_size, self.n)))


def load_npz_data(path: str | Path, limit: int | None = None) -> EvalData:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such data file (expected an .npz with x (T, N, I) and y)")
    try:
        with np.load(p, allow_pickle=False) as f:
            if "x" not in f.files or "y" not in f.files:
                raise DataError(f"{p}: needs arrays 'x' (T, N, I) and 'y' (N,) or (T, N); has {f.files}")
            x, y = f["x"], f["y"]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{p}: not a readable .npz file ({exc})") from None
    return EvalData(x, y, source=str(p), limit=limit)


def load_eval_data(data_path: str | None, config: dict, limit: int | None = None,
                   split: str = "test") -> EvalData:
    """``--data FILE`` if given, else the run's task split through ``resonet.data.load_task``
    (with the run's ``data_dir``, ``split_seed`` and, for SHD, its synthetic choice)."""
    if data_path:
        return load_npz_data(data_path, limit)
    task = config.get("task")
    hint = "pass --data FILE.npz with x (T, N, I) and y (N,) or (T, N)"
    if not task:
        raise ConfigError(f"no evaluation data: the checkpoint names no task; {hint}")
    from resonet.rundata import task_data
    from resonet.tasks import TASKS

    if task not in TASKS:
        raise ConfigError(f"no evaluation data: task {task!r} is not one of {', '.join(TASKS)}; {hint}")
    # the run's data (its data directory, split seed, stand-in choice, a user's files), whole;
    # an official checkpoint (resonet.official) adds its PS-MNIST permutation, SHD's official
    # binning
    st = {**(config.get("settings") or {}), "task": task, "subset": None, "download": False}
    td = task_data(st, options=config.get("task_options"))
    syn = " (SYNTHETIC stand-in, not the real SHD)" if td.info.get("synthetic") else ""
    return EvalData(dataset=getattr(td, split), source=f"task {task} ({split}){syn}", limit=limit)


def check_data(spec: NetworkSpec, data: EvalData) -> None:
    if data.n_in != spec.n_in:
        raise ConfigError(f"{data.source}: {data.n_in} input channels, but the network has n_in={spec.n_in}")


# -- evaluation -----------------------------------------------------------------------------------
def evaluate(spec: NetworkSpec, params: dict, data: EvalData, *, backend="reference",
             batch_size: int = 256, x_transform=None, runner=None) -> dict:
    """Loss, accuracy (%) and SOPs of ``params`` on ``data`` (:func:`resonet.evaluation.evaluate`,
    the scoring of training: unlabelled steps count as class 0).

    ``x_transform(x, batch_index) -> x`` perturbs each input batch (e.g. input noise).
    ``runner(spec, params, x) -> (outputs, num_spikes)`` replaces the backend (e.g. the
    spike-deletion loop of :mod:`analysis.robustness`); otherwise ``backend`` (a name or a
    Backend) runs the forward pass. Returns ``loss`` (per recorded step), ``accuracy``,
    ``accuracy_labelled`` (over labelled steps; = accuracy for one label per sequence),
    ``sops``, ``sops_per_step`` and ``n_samples``.
    """
    be = get_backend(backend) if isinstance(backend, str) else backend
    r = _evaluate(be, spec, params, data.batches(batch_size), x_transform=x_transform,
                  runner=runner)
    return {"loss": r["loss"], "accuracy": r["acc"],
            "accuracy_labelled": r.get("acc_labelled", r["acc"]), "sops": r["sops"],
            "sops_per_step": r["sops_per_step"], "n_samples": data.n}


# -- output files ---------------------------------------------------------------------------------
def out_dir(out: str | None, name: str) -> Path:
    """``--out`` (created if needed) or ``runs/analysis/<name>-<YYYYmmdd-HHMMSS>`` (made unique)."""
    if out:
        d = Path(out)
        if d.exists() and not d.is_dir():
            raise ConfigError(f"--out {d}: exists and is not a directory")
    else:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        d = unique_path(ROOT / "runs" / "analysis" / f"{name}-{stamp}")
    d.mkdir(parents=True, exist_ok=True)
    return d


def free_stem(directory: Path, stem: str, suffixes) -> str:
    """The first of ``stem``, ``stem-2``, ``stem-3``, … for which no ``<stem><suffix>`` exists in
    ``directory``: the files of one invocation share a name and never replace older ones."""
    k, name = 1, stem
    while any((Path(directory) / f"{name}{sfx}").exists() for sfx in suffixes):
        k += 1
        name = f"{stem}-{k}"
    return name


def to_jsonable(obj: Any) -> Any:
    """``obj`` with NumPy values as Python ones, NaN as null and ±inf as "inf"/"-inf" (strict
    JSON, for the analysis outputs)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if np.isnan(f):
            return None
        if np.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    return obj


def save_figure(fig, path: Path) -> Path:
    p = unique_path(path)
    fig.savefig(p, dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return p


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_outputs(directory: Path, stem: str, fig, data: dict) -> tuple[Path, Path]:
    """Write ``<stem>.png`` and ``<stem>.json`` (suffixed if taken) and print where."""
    png = save_figure(fig, directory / f"{stem}.png")
    js = write_json(directory / f"{stem}.json", to_jsonable(data), unique=True)
    print(f"wrote {png}")
    print(f"wrote {js}")
    return png, js


# -- command line ---------------------------------------------------------------------------------
def make_parser(prog: str, description: str) -> Parser:
    return Parser(prog=prog, description=description,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def add_out_arg(ap: argparse.ArgumentParser, name: str) -> None:
    ap.add_argument("--out", metavar="DIR", default=None,
                    help=f"output directory (created if needed; default runs/analysis/{name}-<time>). "
                         "Existing files are never overwritten: a taken name gets a -2, -3, ... suffix")


def add_backend_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--backend", default=DEFAULT_BACKEND, choices=list(BACKEND_NAMES),
                    help=f"engine that runs the forward passes (default {DEFAULT_BACKEND})")


def add_data_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("checkpoint", help="run directory (holding best.npz and config.json), the best.npz, "
                                       "or an official PyTorch checkpoint (.pt, resonet.official)")
    ap.add_argument("--data", metavar="FILE.npz", default=None,
                    help="evaluation data: .npz with x (T, N, I) time-major and y (N,) or (T, N); "
                         "default: the test split of the checkpoint's task via resonet.data.load_task")
    ap.add_argument("--limit", type=int, default=None, metavar="N",
                    help="evaluate on the first N samples only (default: all)")
    ap.add_argument("--batch-size", type=int, default=256, help="evaluation batch size (default 256)")


def parse_kinds(text: str, known) -> list[str]:
    """``--kinds a,b`` (or ``all``) against the ``known`` names; "-" and "_" are the same, and
    an unknown name is refused naming the choices."""
    kinds = [k.strip().replace("-", "_") for k in text.split(",") if k.strip()]
    if kinds == ["all"]:
        return list(known)
    bad = [k for k in kinds if k not in known]
    if bad or not kinds:
        raise ConfigError(f"--kinds: unknown {bad}; choose from "
                          f"{', '.join(k.replace('_', '-') for k in known)} or all")
    return kinds


def float_list(text: str) -> list[float]:
    """Parse ``"0,0.1,0.2"`` (argparse type)."""
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one number")
    if not all(np.isfinite(vals)):
        raise argparse.ArgumentTypeError(f"numbers must be finite, got {text!r}")
    return vals


def int_list(text: str) -> list[int]:
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return vals
