"""The Python API: a trained network read from its run directory, ready to use.

::

    import resonet

    run = resonet.train_run("ecg", epochs=2)     # or resonet.load_run("runs/ecg-brf-...")
    x, y = run.dataset("test").batch([0, 1])     # time-major (T, B, I), labels
    run.predict(x)                               # a class per sample, or per step (ECG)
    run.evaluate("test")                         # loss, accuracy, SOPs, as training scores them
    run.forward(x, return_states=True).states    # every neuron state, (T, B, H) each

:func:`load_run` reads a run directory written by ``python -m resonet.train`` (or
:func:`resonet.train_run`), or one ``.npz`` checkpoint of it; :func:`read_run` is the plain
reader underneath (``(spec, params, config)``), shared with ``analysis``.

Inputs ``x`` are time-major: a dense array (T, B, I) -- or (T, I) for one sample -- or a
:class:`resonet.events.SpikeEvents`. Shape letters: T time, B batch, I inputs, H hidden,
C classes.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from .contract import Result, feeds_events
from .errors import CheckpointError, ConfigError
from .rundir import RunDir
from .spec import NetworkSpec, check_params

__all__ = ["Run", "load_run", "read_run", "spec_from_dict", "train_run"]

PARAM_PREFIX = "param/"


# -- reading a run ----------------------------------------------------------------------------
def _resolve_checkpoint(path: str | Path) -> Path:
    p = Path(path)
    npz = RunDir(p).best if p.is_dir() else p
    if not npz.exists():
        if p.is_dir():
            raise CheckpointError(f"{npz}: no {RunDir.BEST} in the run directory {p}")
        raise CheckpointError(f"{npz}: no such checkpoint (give a run directory, one of its .npz files "
                              "or an official PyTorch .pt)")
    return npz


def spec_from_dict(d: Any, where: str) -> NetworkSpec:
    """A NetworkSpec from a ``"spec"`` dict; CheckpointError naming ``where``."""
    if not isinstance(d, dict):
        raise CheckpointError(f"{where}: 'spec' must be a JSON object of NetworkSpec fields")
    known = {f.name for f in fields(NetworkSpec)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise CheckpointError(f"{where}: unknown spec field(s) {unknown}; expected some of {sorted(known)}")
    try:
        return NetworkSpec(**d)
    except (TypeError, ConfigError) as exc:
        raise CheckpointError(f"{where}: bad spec: {exc}") from None


def _read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return obj


def read_run(path: str | Path, **official: Any) -> tuple[NetworkSpec, dict, dict]:
    """``(spec, params, config)`` of a run directory (its ``best.npz``) or one of its ``.npz``
    checkpoints, or of an official PyTorch checkpoint (``.pt``; :mod:`resonet.official`).

    ``params`` are float64 arrays keyed like :func:`resonet.network.init_params`. ``config`` is
    the run's ``config.json`` (``{}`` if absent) with ``"spec"`` (dict), ``"task"``,
    ``"settings"`` (the training settings, ``{}`` if unknown), ``"meta"`` (the checkpoint's
    ``meta_json``) and ``"path"`` (the checkpoint read) filled in. The spec comes from the
    checkpoint's ``meta_json``, else from ``config.json``; a file with neither is refused.
    Raises :class:`CheckpointError` naming the file at fault.

    An official checkpoint is read by :func:`resonet.official.read_official`, which takes the
    keyword arguments ``official`` (``task``, ``neuron``, ``permutation``, ``label_last``) for
    what its file name does not say; ``config`` then also holds ``"official"`` (the
    :class:`resonet.official.OfficialNetwork`) and ``"task_options"`` (what
    :func:`resonet.data.load_task` needs to feed it its data as the official code did).
    """
    from .official import is_official, read_official

    if is_official(path):
        net = read_official(path, **official)
        return net.spec, net.params, net.config()
    given = sorted(k for k, v in official.items() if v is not None)
    if given:
        raise ConfigError(f"{path}: {', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to "
                          "official PyTorch checkpoints only; a resonet run records its own")
    npz = _resolve_checkpoint(path)
    try:
        with np.load(npz, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"{npz}: not a readable .npz file ({exc})") from None
    meta: dict = {}
    if "meta_json" in arrays:
        try:
            meta = json.loads(str(arrays["meta_json"]))
        except ValueError as exc:
            raise CheckpointError(f"{npz}: meta_json is not valid JSON ({exc})") from None
    params = {k[len(PARAM_PREFIX):]: np.array(v, dtype=np.float64)
              for k, v in arrays.items() if k.startswith(PARAM_PREFIX)}
    if not params:
        raise CheckpointError(f"{npz}: no '{PARAM_PREFIX}<name>' arrays (is it a resonet checkpoint?)")
    cfg_path = RunDir(npz.parent).config
    config = _read_json(cfg_path)
    settings = (config or {}).get("settings") or {}
    if isinstance(meta, dict) and "spec" in meta:
        spec_d, where = meta["spec"], f"{npz} (meta_json)"
    elif config is not None and ("spec" in settings or "spec" in config):
        spec_d, where = settings.get("spec", config.get("spec")), str(cfg_path)
    else:
        missing = "missing" if config is None else "has no spec"
        raise CheckpointError(f"{npz}: no spec in its meta_json, and {cfg_path} {missing} "
                              "(expected {'settings': {'spec': {...}, 'task': ...}})")
    spec = spec_from_dict(spec_d, where)
    try:
        check_params(spec, params)
    except ConfigError as exc:
        raise CheckpointError(f"{npz}: {exc}") from None
    task = meta.get("task") if isinstance(meta, dict) else None
    task = task or settings.get("task") or (config or {}).get("task")
    out = {**(config or {}), "spec": spec.to_dict(), "task": task, "settings": settings, "meta": meta,
           "path": str(npz)}
    return spec, {k: params[k] for k in spec.param_shapes()}, out


# -- the trained network ----------------------------------------------------------------------
class Run:
    """A trained network and what its run directory says about it (:func:`load_run`).

    Attributes: ``path`` (the run directory), ``checkpoint`` (the file read), ``spec``
    (:class:`resonet.spec.NetworkSpec`), ``params`` (float64 arrays), ``config``
    (``config.json`` plus ``spec``/``task``/``settings``/``meta``), ``task``, ``summary``
    (``summary.json`` of a finished run, else None), ``history`` (one dict per evaluated epoch,
    ``metrics.jsonl``), and the engine used by the methods: ``backend`` and ``dtype`` (default:
    the cpu kernels in the dtype the run was trained in).
    """

    def __init__(self, path: str | Path, *, backend: str = "cpu", dtype: Any = None,
                 **official: Any):
        from .backends import get_backend

        self.spec, self.params, self.config = read_run(path, **official)
        self.official = self.config.get("official")  # an official PyTorch checkpoint, or None
        self.checkpoint = Path(self.config["path"])
        self.path = self.checkpoint.parent
        self.task = self.config.get("task")
        self.settings = self.config.get("settings") or {}
        official_file = self.official is not None  # no run directory around it
        rd = RunDir(self.path)
        self.summary = None if official_file else _read_json(rd.summary_file)
        self.history = [] if official_file else rd.history()
        self.dtype = np.dtype(dtype or self.settings.get("dtype") or np.float64).type
        self.backend = get_backend(backend) if isinstance(backend, str) else backend
        self._data: Any = None  # the run's TaskData, read on first use

    def __repr__(self) -> str:
        s = self.spec
        acc = f", test_acc={self.summary['test_acc']:.2f}" if self.summary else ""
        where = self.checkpoint if self.official is not None else self.path
        return (f"<Run {where}: {self.task} {s.neuron} {s.describe()}"
                f"{acc}>")

    @property
    def per_step_labels(self) -> bool:
        """Whether the task labels every step (ECG) rather than every sample."""
        preset = self.settings.get("preset") or {}
        if not preset and self.official is not None:  # an official file: its task's labelling
            from .presets import get_preset

            return get_preset(str(self.task)).per_step_labels
        return bool(preset.get("per_step_labels", False))

    def _params(self) -> dict:
        return {k: v.astype(self.dtype) for k, v in self.params.items()}

    def _input(self, x):
        from .events import SpikeEvents

        if isinstance(x, SpikeEvents):
            return x, False
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim == 2:  # one sample (T, I)
            return x[:, None, :], True
        if x.ndim != 3 or x.shape[2] != self.spec.n_in:
            raise ConfigError(f"x must be time-major (T, B, I={self.spec.n_in}) or one sample "
                              f"(T, I), got shape {x.shape}")
        return x, False

    def forward(self, x, *, return_states: bool = False) -> Result:
        """Run the network on ``x``: a :class:`resonet.contract.Result` with ``outputs``
        (T_rec, B, C) readout of the recorded steps, ``num_spikes`` (B,) and, with
        ``return_states``, ``states``: state name -> (T, B, H) (e.g. BRF ``z u v q``)."""
        x, _ = self._input(x)
        return self.backend.run(self.spec, self._params(), x, grads=False, dtype=self.dtype,
                                return_states=return_states)

    def predict(self, x, per_step: bool | None = None) -> np.ndarray:
        """The predicted class (eq. (N12)): (B,) one per sample, or (T_rec, B) one per recorded
        step when ``per_step`` (default: as the task is labelled, per step for ECG). For one
        sample (T, I): a scalar, or (T_rec,)."""
        from .loss import predict

        xb, single = self._input(x)
        per_step = self.per_step_labels if per_step is None else per_step
        pred = predict(self.forward(xb).outputs, per_step=per_step)
        return pred[..., 0] if single else pred

    def dataset(self, split: str = "test"):
        """A split (``train``, ``val``, ``test``) of the run's task, as training saw it (data
        directory, split seed, ``subset``): a :class:`resonet.data.Dataset`. For an official
        checkpoint: its task from the default data directory (``$RESONET_DATA``), fed as the
        official code fed it (the run's PS-MNIST permutation, SHD's official binning); its
        ``val`` split is resonet's (split seed 0), not the run's, which was not recorded."""
        if split not in ("train", "val", "test"):
            raise ConfigError(f"split must be train, val or test, got {split!r}")
        if self._data is None and self.official is not None:
            from .tasks import load_task

            self._data = load_task(str(self.task), None, **self.config["task_options"])
        if self._data is None:
            from .rundata import task_data
            from .settings import Settings

            s = Settings.from_dict(self.settings, str(RunDir(self.path).config)) \
                if self.settings.get("preset") else None
            if s is None:
                raise ConfigError(f"{self.path}: the run records no training settings; pass a "
                                  "dataset or (x, y) arrays to evaluate()")
            self._data = task_data(s)
        return getattr(self._data, split)

    def evaluate(self, data: Any = "test", batch: int = 256) -> dict:
        """Scores as training computes them (:mod:`resonet.evaluation`): ``loss`` per recorded
        step, ``acc`` (%), ``sops`` per sample and ``sops_per_step`` (and ``acc_labelled`` for
        per-step labels). ``data``: a split name of the run's task, a
        :class:`resonet.data.Dataset`, or a pair ``(x (T, N, I), y (N,) or (T, N))``."""
        from .evaluation import evaluate, evaluate_dataset

        if batch < 1:
            raise ConfigError(f"batch must be >= 1, got {batch}")
        if isinstance(data, str):
            data = self.dataset(data)
        if isinstance(data, tuple):
            x, y = data
            x, _ = self._input(x)
            y = np.asarray(y)

            def batches():
                if not isinstance(x, np.ndarray):  # SpikeEvents: one batch
                    yield x, y
                    return
                for a in range(0, x.shape[1], batch):
                    yy = y[a:a + batch] if y.ndim == 1 else y[:, a:a + batch]
                    yield x[:, a:a + batch], yy

            return evaluate(self.backend, self.spec, self._params(), batches(), dtype=self.dtype)
        return evaluate_dataset(self.backend, self.spec, self._params(), data, batch, self.dtype,
                                feeds_events(self.backend, data))


def load_run(path: str | Path, *, backend: str = "cpu", dtype: Any = None, **official: Any) -> Run:
    """The trained network of a run directory (its ``best.npz``, the lowest validation loss) or
    of one of its checkpoints (``init.npz``, ``last.npz``), or an official PyTorch checkpoint
    of the BRF paper (``.pt``; ``official``: ``task``, ``neuron``, ``permutation``,
    ``label_last`` where its file name does not say them, see :mod:`resonet.official`): a
    :class:`Run`. ``backend`` (``cpu``, ``reference``, ``cuda``) and ``dtype`` (default: the
    run's, float64 for an official file) run its methods."""
    return Run(path, backend=backend, dtype=dtype, **official)


def train_run(task: str | None = None, *, config: str | os.PathLike | None = None,
              resume: str | os.PathLike | None = None, stop_after: int | None = None,
              verbose: bool = True, progress: bool = False, **settings):
    """Train from Python, as ``python -m resonet.train`` does; returns the finished run as a
    :class:`Run` (``.path`` the run directory, ``.summary`` its summary.json, and
    the trained network's ``.predict`` / ``.evaluate`` / ``.forward``).

    ``settings`` are the command line's long options with ``_`` for ``-`` (``epochs=2``,
    ``hidden=64``, ``out="runs/x"``, ``backend="reference"``, ...), over the ``config`` TOML
    file, over the preset of ``task``. ``resume=RUN_DIR`` continues a stopped run instead
    (with ``stop_after`` the only setting allowed). ``verbose`` prints the log lines (they also
    go to the run's train.log), ``progress`` the per-batch progress.

    Errors are raised (ConfigError, DataError, CheckpointError, NumericalError); Ctrl-C raises
    :class:`resonet.train.Interrupted` (a KeyboardInterrupt) after writing ``last.npz``. A run
    stopped by ``stop_after`` is returned as it stands (scored with its best checkpoint so far,
    as the command line does); ``train_run(resume=run.path)`` continues it.
    """
    from .runlog import Log
    from .settings import CONFIG_KEYS, describe_sources, load_config_file, normalize_keys, resolve
    from .train import new_run, resume_run

    settings = normalize_keys(settings)  # preset= is preset_task=
    log = Log(quiet=not verbose)
    try:
        if resume is not None:
            if task is not None or config is not None or settings:
                raise ConfigError("train_run(resume=...) continues a run with its saved settings; "
                                  "give only stop_after with it")
            tr = resume_run(resume, log, stop_after=stop_after, quiet=not progress)
        else:
            unknown = sorted(set(settings) - CONFIG_KEYS)
            if unknown:
                raise ConfigError(f"train_run: unknown setting(s) {unknown}; allowed: "
                                  f"{sorted(CONFIG_KEYS)}")
            given = {k: v for k, v in settings.items() if v is not None}
            if task is not None:
                given["task"] = task
            if stop_after is not None:
                given["stop_after"] = stop_after
            cfg = load_config_file(os.fspath(config)) if config is not None else {}
            src = describe_sources(given, lambda k, v: f"train_run({k}={v!r})", cfg,
                                   None if config is None else os.fspath(config))
            s = resolve(given, cfg, source=src)
            args = [f"{k}={v!r}" for k, v in given.items()]
            tr = new_run(s, log, command=f"resonet.train_run({', '.join(args)})",
                         quiet=not progress)
        try:
            tr.run()
        finally:
            tr.close()
        return load_run(tr.run_dir)
    finally:
        log.close()
