"""Event data in tonic's layout, binned into resonet's format: :func:`from_tonic`.

A tonic data set is a sequence of ``(events, target)`` pairs: ``events`` a structured array with
fields ``t`` (µs), ``x``, optionally ``y``, and ``p`` (polarity), ``target`` an integer class,
and a ``sensor_size`` (W, H, P). resonet does not import tonic (``pip install
"resonet[tonic]"`` installs it for its data sets); any sequence of such pairs works.

Binning (the same as tonic's ``ToFrame(sensor_size, time_window=dt, start_time=0,
end_time=n_steps·dt)``, which CI checks on tonic itself):

- step k holds the times [k·dt, (k+1)·dt) µs, counted from t = 0 (not from the first event),
  with float64 edges k·dt; events at or after n_steps·dt are dropped (a warning says how many);
- channel = (p·H + y)·W + x with ``y`` (I = P·H·W), p·W + x without (I = P·W), the C-order
  flattening of tonic's frames (T, P, H, W) or (T, P, W); a one-polarity sensor (P = 1) takes
  every event as p = 0, as ToFrame does;
- events of one (sample, step, channel) are summed (tonic's frame counts); ``binary=True`` keeps
  a 1 instead (spike or no spike, as the SHD preprocessing of the paper).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import DataError
from .custom import SplitArrays, check_labels, pack_events


def _sensor(dataset: Any, sensor_size: Sequence[int] | None) -> tuple[int, int, int]:
    size = sensor_size if sensor_size is not None else getattr(dataset, "sensor_size", None)
    if size is None:
        raise DataError("from_tonic: no sensor_size; pass sensor_size=(W, H, P) (a tonic data set "
                        "has it as dataset.sensor_size)")
    try:
        W, H, P = (int(v) for v in size)
    except (TypeError, ValueError):
        raise DataError(f"from_tonic: sensor_size must be (W, H, P), got {size!r}") from None
    if min(W, H, P) < 1:
        raise DataError(f"from_tonic: sensor_size {tuple(size)} must be positive")
    return W, H, P


def tonic_channels(ev: np.ndarray, W: int, H: int, P: int, where: str) -> np.ndarray:
    """The input channel of every event (see the module docstring), int64 (E,)."""
    names = ev.dtype.names or ()
    missing = [k for k in ("t", "x", "p") if k not in names]
    if missing:
        raise DataError(f"{where}: the events need the fields t, x[, y], p (tonic's layout); "
                        f"missing {', '.join(missing)} (has {', '.join(names) or 'no fields'})")
    x = ev["x"].astype(np.int64)
    p = ev["p"].astype(np.int64)
    if P == 1:
        if np.unique(p).size > 1:
            raise DataError(f"{where}: a one-polarity sensor (P = 1), but the events have several "
                            "polarities; give sensor_size with P = 2")
        p = np.zeros_like(p)
    checks = [("x", x, W), ("p", p, P)]
    if "y" in names:
        yy = ev["y"].astype(np.int64)
        checks.append(("y", yy, H))
    for key, a, n in checks:
        if a.size and (int(a.min()) < 0 or int(a.max()) >= n):
            bad = int(a.min()) if int(a.min()) < 0 else int(a.max())
            raise DataError(f"{where}: field '{key}' has the value {bad}, outside [0, {n}) of "
                            f"sensor_size {(W, H, P)}")
    return (p * H + yy) * W + x if "y" in names else p * W + x


def input_size(W: int, H: int, P: int, has_y: bool) -> int:
    return P * H * W if has_y else P * W


def _dt_for(tmax: float, n_steps: int, integer_times: bool) -> float:
    """The smallest step (µs) that puts every time ≤ tmax into n_steps bins: an integer for
    integer times."""
    if integer_times:
        return float(int(tmax) // n_steps + 1)
    dt = tmax / n_steps * (1 + 1e-9) if tmax > 0 else 1.0
    while tmax >= n_steps * dt:  # rounding
        dt = math.nextafter(dt, math.inf)
    return dt


def _read_pairs(dataset: Any, W: int, H: int, P: int
                ) -> tuple[list[np.ndarray], list[np.ndarray], list[int], bool]:
    """(times, channels, labels, whether the events have y) of every sample."""
    times, chans, labels = [], [], []
    has_y = None
    for i in range(len(dataset)):
        try:
            ev, label = dataset[i]
        except (TypeError, ValueError):
            raise DataError(f"from_tonic: item {i} is not an (events, label) pair") from None
        ev = np.asarray(ev)
        where = f"from_tonic: sample {i}"
        if ev.dtype.names is None:
            raise DataError(f"{where}: events must be a structured array with fields t, x[, y], p "
                            f"(tonic's layout, no frame transform), got {ev.dtype} of shape "
                            f"{ev.shape}")
        if has_y is None:
            has_y = "y" in ev.dtype.names
        elif has_y != ("y" in ev.dtype.names):
            raise DataError(f"{where}: some samples have a field y and some do not")
        chans.append(tonic_channels(ev, W, H, P, where))
        t = ev["t"]
        if t.size and float(np.min(t)) < 0:
            raise DataError(f"{where}: negative event time {float(np.min(t))} µs; times count from "
                            "the start of the recording")
        times.append(t)
        lab = np.asarray(label)
        if lab.ndim != 0 or lab.dtype.kind not in "iu":
            raise DataError(f"{where}: the label must be one integer class, got {label!r}")
        labels.append(int(lab))
    return times, chans, labels, bool(has_y)


def _check_binning(dt: float | None, n_steps: int | None) -> None:
    if dt is None and n_steps is None:
        raise DataError("from_tonic: give dt (seconds per step) or n_steps (steps per sample)")
    if dt is not None and not (math.isfinite(dt) and dt > 0):
        raise DataError(f"from_tonic: dt = {dt} must be a positive number of seconds")
    if n_steps is not None and (isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1):
        raise DataError(f"from_tonic: n_steps = {n_steps} must be a positive integer")


def _step_us(dt: float | None, n_steps: int | None, t_all: np.ndarray) -> float:
    """The step in µs: ``dt`` seconds, or the smallest that fits the latest event in n_steps."""
    if dt is not None:
        dt_us = dt * 1e6
        if abs(dt_us - round(dt_us)) <= 1e-9 * max(1.0, dt_us):
            dt_us = float(round(dt_us))  # 4e-3 s is 4000 µs, not 4000.0000000000005
        return dt_us
    tmax = float(t_all.max()) if t_all.size else 0.0
    return _dt_for(tmax, int(n_steps), t_all.dtype.kind in "iu")  # type: ignore[arg-type]


def from_tonic(dataset: Any, *, dt: float | None = None, n_steps: int | None = None,
               sensor_size: Sequence[int] | None = None, binary: bool = False) -> SplitArrays:
    """A tonic data set (or any sequence of ``(events, label)`` pairs in tonic's layout) as one
    split of resonet's format (:class:`resonet.data.SplitArrays`: pass it to
    :func:`resonet.fit`, or ``.save("train.npz")`` it for ``python -m resonet.train custom``).

    ``dt``: seconds per step; ``n_steps``: steps per sample. With both, later events are dropped;
    with ``dt`` only, n_steps covers the latest event; with ``n_steps`` only, dt is the smallest
    step that covers it (whole µs for integer times). Give both for splits that must match
    (train and test). ``sensor_size`` (W, H, P) defaults to ``dataset.sensor_size``.
    ``binary``: 1 per (step, channel) instead of the event count. Binning: the module docstring.
    """
    _check_binning(dt, n_steps)
    W, H, P = _sensor(dataset, sensor_size)
    times, chans, labels, has_y = _read_pairs(dataset, W, H, P)
    N = len(labels)
    t_all = np.concatenate(times) if times else np.zeros(0)
    dt_us = _step_us(dt, n_steps, t_all)
    tmax = float(t_all.max()) if t_all.size else 0.0
    T = int(n_steps) if n_steps is not None else int(math.floor(tmax / dt_us)) + 1
    edges = np.arange(T + 1, dtype=np.float64) * dt_us
    step = np.searchsorted(edges, t_all.astype(np.float64), side="right") - 1
    sample = np.repeat(np.arange(N, dtype=np.int64), [len(t) for t in times])
    chan = np.concatenate(chans) if chans else np.zeros(0, np.int64)
    keep = step < T
    if not bool(keep.all()):
        warnings.warn(f"from_tonic: {int((~keep).sum())} of {keep.size} events at or after "
                      f"n_steps·dt = {T * dt_us:g} µs dropped", stacklevel=2)
        sample, step, chan = sample[keep], step[keep], chan[keep]
    I = input_size(W, H, P, has_y)
    y = check_labels(np.asarray(labels, dtype=np.int64), N, T, None, "from_tonic")
    offsets, steps, chs, values = pack_events(sample, step, chan, None, N, T, I)
    return SplitArrays(y=y, n_steps=T, n_inputs=I, offsets=offsets, steps=steps, chans=chs,
                       values=None if binary else values, dt=dt_us * 1e-6,
                       source=f"tonic {type(dataset).__name__} (dt {dt_us:g} µs)")
