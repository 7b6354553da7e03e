"""tonic interop: resonet's binning of tonic-layout events (resonet.data.from_tonic) against tonic's
own ToFrame, on synthetic events (no download); and tonic, the optional extra, brings no
deep-learning framework."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from resonet.data import from_tonic
from resonet.errors import DataError

pytestmark = pytest.mark.tonic


def _recordings(rng, n, sensor, with_y, t_max):
    """``n`` (events, label) pairs in tonic's layout: sorted times (µs), coordinates, polarity."""
    W, H, P = sensor
    fields = [("t", np.int64), ("x", np.int16)] + ([("y", np.int16)] if with_y else []) + \
        [("p", np.int8)]
    out = []
    for k in range(n):
        m = int(rng.integers(50, 400))
        ev = np.zeros(m, dtype=fields)
        ev["t"] = np.sort(rng.integers(0, t_max, m))
        ev["x"] = rng.integers(0, W, m)
        if with_y:
            ev["y"] = rng.integers(0, H, m)
        ev["p"] = rng.integers(0, P, m)
        # a few repeats of one (time bin, pixel): counts > 1
        ev[1::7] = ev[0:-1:7][: len(ev[1::7])]
        ev.sort(order="t")
        out.append((ev, k % 3))
    return out


@pytest.mark.parametrize("sensor,with_y", [((8, 6, 2), True), ((20, 1, 2), False),
                                           ((9, 4, 1), True)])
def test_binning_equals_tonic_to_frame(sensor, with_y):
    tonic = pytest.importorskip("tonic")
    rng = np.random.default_rng(3)
    dt_us, T = 1000, 30
    pairs = _recordings(rng, 12, sensor, with_y, t_max=T * dt_us + 5000)  # some events past T·dt
    if sensor[2] == 1:
        for ev, _ in pairs:
            ev["p"] = 0
    to_frame = tonic.transforms.ToFrame(sensor_size=sensor, time_window=dt_us, start_time=0,
                                        end_time=T * dt_us)
    with pytest.warns(UserWarning, match="dropped"):
        split = from_tonic(pairs, dt=dt_us * 1e-6, n_steps=T, sensor_size=sensor)
    ds = split.dataset(name="tonic", n_out=3)
    x, y = ds.batch(np.arange(len(pairs)), dtype=np.float64)  # (T, N, I)
    for n, (ev, label) in enumerate(pairs):
        frames = to_frame(ev.copy())  # (T, P, H, W) or (T, P, W): event counts
        assert frames.shape[0] == T
        np.testing.assert_array_equal(x[:, n, :], frames.reshape(T, -1), err_msg=f"sample {n}")
        assert y[n] == label
    assert x.max() > 1  # the repeats were counted, as ToFrame counts them


def test_binary_is_tonic_frames_clipped_to_one():
    tonic = pytest.importorskip("tonic")
    sensor = (7, 5, 2)
    pairs = _recordings(np.random.default_rng(4), 6, sensor, True, t_max=20_000)
    split = from_tonic(pairs, dt=1e-3, n_steps=20, sensor_size=sensor, binary=True)
    x, _ = split.dataset(name="t", n_out=3).batch(np.arange(6), dtype=np.float64)
    to_frame = tonic.transforms.ToFrame(sensor_size=sensor, time_window=1000, start_time=0,
                                        end_time=20_000)
    for n, (ev, _) in enumerate(pairs):
        np.testing.assert_array_equal(x[:, n], np.minimum(to_frame(ev.copy()), 1).reshape(20, -1))


def test_tonic_needs_no_framework():
    """tonic's requirements name torch only under its own 'torch' extra, and importing tonic
    (as a user of resonet.data.from_tonic does) imports none."""
    pytest.importorskip("tonic")
    from importlib.metadata import requires

    for req in requires("tonic") or []:
        name = req.split(";")[0].strip().split("[")[0].split(">")[0].split("=")[0].strip().lower()
        if name in ("torch", "torchvision", "torchaudio", "jax", "tensorflow"):
            assert "extra ==" in req, req
    code = ("import sys, tonic, resonet.data; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'jax', 'tensorflow')]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_from_tonic_without_tonic_checks_its_input():
    """The binning itself needs no tonic; bad input is a one-line DataError."""
    ev = np.zeros(3, dtype=[("t", np.int64), ("x", np.int16), ("p", np.int8)])
    ev["x"] = [0, 1, 9]
    with pytest.raises(DataError, match=r"field 'x' has the value 9, outside \[0, 4\)"):
        from_tonic([(ev, 0), (ev, 1)], dt=1e-3, sensor_size=(4, 1, 1))
    with pytest.raises(DataError, match="give dt"):
        from_tonic([(ev, 0)], sensor_size=(10, 1, 1))
    with pytest.raises(DataError, match="no sensor_size"):
        from_tonic([(ev, 0)], dt=1e-3)
    frames = np.zeros((3, 4))
    with pytest.raises(DataError, match="structured array"):
        from_tonic([(frames, 0)], dt=1e-3, sensor_size=(4, 1, 1))
