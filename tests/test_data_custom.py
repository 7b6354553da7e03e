"""A user's data in resonet's file format (docs/data.md, "Your own data"): dense and event
``.npz`` splits, event times binned with ``dt``, per-step labels with −1, ``.h5`` splits read
batch by batch, the optional ``n_classes``/``class_names``, and what ``export`` writes."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from resonet.data import EventDataset, read_split
from resonet.data.custom import FORMAT_VERSION, SplitArrays
from resonet.data.custom_h5 import H5DenseDataset, H5EventDataset
from resonet.data.userdata import open_split, probe
from resonet.errors import DataError
from resonet.events import SpikeEvents


def dense_split(rng, N=12, T=9, I=4, C=3, dtype=bool):
    x = rng.random((N, T, I)) < 0.3
    x = x.astype(dtype) if dtype is not bool else x
    y = np.arange(N) % C
    return x, y


def events_of(x):
    """The nonzero entries of dense (N, T, I) counts as the format's event arrays (E,) each."""
    n, t, c = np.nonzero(x)
    return n, t, c, x[n, t, c]


def as_dense(ds, dtype=np.float64):
    """Every sample of a dataset, (N, T, I), from its batches (the engine's view)."""
    x, y = ds.batch(np.arange(len(ds)), dtype=dtype)  # (T, N, I)
    return np.transpose(x, (1, 0, 2)), y


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.float32])
def test_dense_npz_is_read_as_given(tmp_path, dtype):
    rng = np.random.default_rng(0)
    x, y = dense_split(rng, dtype=dtype)
    if dtype is np.float32:
        x = x * rng.random(x.shape).astype(np.float32)
    np.savez(tmp_path / "a.npz", x=x, y=y)
    ds = open_split(tmp_path / "a.npz", name="a", n_out=3)
    got, labels = as_dense(ds)
    np.testing.assert_array_equal(got, x.astype(np.float64))
    np.testing.assert_array_equal(labels, y)
    assert (ds.n_in, ds.T, len(ds), ds.per_step_labels, ds.is_events) == (4, 9, 12, False, False)


def test_dense_two_dims_is_one_channel_and_divisor_scales(tmp_path):
    x = np.arange(2 * 5, dtype=np.uint8).reshape(2, 5) * 20
    np.savez(tmp_path / "a.npz", x=x, y=np.array([0, 1]), x_divisor=255)
    s = read_split(tmp_path / "a.npz")
    assert (s.n_steps, s.n_inputs) == (5, 1)
    got, _ = as_dense(s.dataset(name="a", n_out=2), np.float32)
    # x / x_divisor computed in the training precision (torchvision's ToTensor for pixels)
    np.testing.assert_array_equal(got[..., 0], x.astype(np.float32) / np.float32(255))


def test_events_with_steps_equal_the_dense_samples_and_repeats_are_summed(tmp_path):
    rng = np.random.default_rng(1)
    x, y = dense_split(rng, dtype=np.float32)
    n, t, c, v = events_of(x)
    # every event twice, shuffled: repeats of one (sample, step, channel) add up
    order = rng.permutation(2 * n.size)
    cat = lambda a: np.concatenate([a, a])[order]  # noqa: E731
    np.savez(tmp_path / "e.npz", sample=cat(n), step=cat(t), channel=cat(c), n_steps=9, n_inputs=4,
             y=y)
    ds = open_split(tmp_path / "e.npz", name="e", n_out=3)
    assert isinstance(ds, EventDataset)
    got, labels = as_dense(ds)
    np.testing.assert_array_equal(got, 2 * x)
    np.testing.assert_array_equal(labels, y)
    # the engine's sparse batch is the same data as events (no dense array)
    ev, _ = ds.batch(np.arange(len(ds)), sparse=True, dtype=np.float64)
    assert isinstance(ev, SpikeEvents)
    np.testing.assert_array_equal(ev.to_dense(), np.transpose(2 * x, (1, 0, 2)))


def test_event_values_and_binary_storage(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.random((6, 7, 3)) * (rng.random((6, 7, 3)) < 0.4)
    n, t, c, v = events_of(x)
    y = np.arange(6) % 2
    np.savez(tmp_path / "v.npz", sample=n, step=t, channel=c, value=v, n_steps=7, n_inputs=3, y=y)
    s = read_split(tmp_path / "v.npz")
    assert s.values is not None and s.n_events == n.size
    np.testing.assert_allclose(as_dense(s.dataset(name="v", n_out=2))[0], x, rtol=1e-7)
    # all-ones values are binary spikes: stored without a value array
    np.savez(tmp_path / "b.npz", sample=n, step=t, channel=c, value=np.ones(n.size), n_steps=7,
             n_inputs=3, y=y)
    assert read_split(tmp_path / "b.npz").values is None


def test_event_times_are_binned_with_dt(tmp_path):
    """Step k holds [k·dt, (k+1)·dt) with float64 edges k·dt: a time on an edge starts its step."""
    dt, T = 1e-3, 5
    step = np.array([0, 0, 1, 2, 4, 4, 3])
    time = np.array([0.0, 0.999e-3, 1 * dt, 2.5e-3, 4 * dt, 4.999e-3, 3 * dt])
    sample = np.array([0, 0, 0, 1, 1, 0, 1])
    chan = np.array([0, 1, 1, 0, 2, 2, 1])
    common = dict(sample=sample, channel=chan, n_steps=T, n_inputs=3, y=np.array([0, 1]))
    np.savez(tmp_path / "s.npz", step=step, **common)
    np.savez(tmp_path / "t.npz", time=time, dt=dt, **common)
    np.savez(tmp_path / "u.npz", time=time, **common)  # dt from the caller (--dt)
    ref = as_dense(open_split(tmp_path / "s.npz", name="s", n_out=2))[0]
    np.testing.assert_array_equal(as_dense(open_split(tmp_path / "t.npz", name="t", n_out=2))[0],
                                  ref)
    np.testing.assert_array_equal(
        as_dense(open_split(tmp_path / "u.npz", name="u", n_out=2, dt=dt))[0], ref)
    with pytest.raises(DataError, match=r"u\.npz: events are given as 'time'.*--dt"):
        read_split(tmp_path / "u.npz")
    with pytest.raises(DataError, match=r"'time' has 1 event\(s\) at or after.*raise n_steps to 11"):
        read_split({**common, "time": np.where(time == time.max(), 0.0105, time)}, dt=dt)


def test_per_step_labels_with_unlabelled_steps(tmp_path):
    rng = np.random.default_rng(3)
    x = (rng.random((4, 6, 2)) < 0.5)
    y = rng.integers(0, 3, (4, 6))
    y[:, :2] = -1  # the first two steps unlabelled
    np.savez(tmp_path / "p.npz", x=x, y=y)
    info = probe(tmp_path / "p.npz")
    assert info.per_step and info.max_label == int(y.max())
    ds = open_split(tmp_path / "p.npz", name="p", n_out=3)
    assert ds.per_step_labels
    _, labels = ds.batch(np.arange(4))
    np.testing.assert_array_equal(labels, y.T)  # (T, N), −1 kept for the loss to skip
    with pytest.raises(DataError, match="'y' has the label -2"):
        read_split({"x": x, "y": np.where(y == -1, -2, y)})


def test_n_classes_and_class_names(tmp_path):
    x, y = dense_split(np.random.default_rng(4))
    np.savez(tmp_path / "c.npz", x=x, y=y, n_classes=5, class_names=np.array(list("abcde")))
    info = probe(tmp_path / "c.npz")
    assert info.n_classes == 5 and info.class_names == list("abcde")
    s = read_split(tmp_path / "c.npz")
    assert s.n_classes == 5 and s.class_names == list("abcde")
    np.savez(tmp_path / "n.npz", x=x, y=y, class_names=np.array(["a", "b", "c", "d"]))
    assert probe(tmp_path / "n.npz").n_classes == 4  # the names count the classes
    with pytest.raises(DataError, match="'class_names' has 2 names, n_classes is 5"):
        read_split({"x": x, "y": y, "n_classes": 5, "class_names": np.array(["a", "b"])})
    with pytest.raises(DataError, match=r"outside \[0, n_classes=2\)"):
        read_split({"x": x, "y": y, "n_classes": 2})
    with pytest.raises(DataError, match="format_version 2.*upgrade resonet"):
        read_split({"x": x, "y": y, "format_version": FORMAT_VERSION + 1})


def test_save_round_trip_keeps_events_and_values(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (5, 8, 4)).astype(np.float32) * (rng.random((5, 8, 4)) < 0.3)
    n, t, c, v = events_of(x)
    s = read_split({"sample": n, "step": t, "channel": c, "value": v, "n_steps": 8, "n_inputs": 4,
                    "y": np.array([0, 1, 2, 0, 1]), "class_names": np.array(["u", "v", "w"])})
    s.save(tmp_path / "r.npz")
    r = read_split(tmp_path / "r.npz")
    assert int(np.load(tmp_path / "r.npz")["format_version"]) == FORMAT_VERSION
    for k in ("offsets", "steps", "chans", "values", "y"):
        np.testing.assert_array_equal(getattr(r, k), getattr(s, k))
    assert r.class_names == ["u", "v", "w"] and r.n_classes == 3


def test_events_stay_events_memory_is_of_the_events(tmp_path):
    """A big sparse split: storage O(E) (a few bytes per event), never O(N·T·I)."""
    rng = np.random.default_rng(6)
    N, T, I, E = 200, 2000, 1000, 20_000  # N·T·I = 4e8 values; 2e4 events
    sample = np.sort(rng.integers(0, N, E))
    step, chan = rng.integers(0, T, E), rng.integers(0, I, E)
    np.savez(tmp_path / "big.npz", sample=sample, step=step, channel=chan, n_steps=T, n_inputs=I,
             y=np.arange(N) % 4)
    ds = open_split(tmp_path / "big.npz", name="big", n_out=4)
    assert isinstance(ds, EventDataset)
    stored = ds.offsets.nbytes + ds.steps.nbytes + ds.chans.nbytes
    assert stored <= 8 * (N + 1) + 4 * E  # int16 steps and channels (T, I < 32768)
    ev, _ = ds.batch(np.arange(16), sparse=True)
    assert isinstance(ev, SpikeEvents) and ev.indices.size == ds.spike_counts()[:16].sum()


def write_h5(path, arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            v = np.asarray(v)
            if v.dtype.kind == "U":
                f.create_dataset(k, data=v.astype("S"))
            else:
                f.create_dataset(k, data=v)


def test_h5_splits_read_batch_by_batch_equal_the_npz(tmp_path):
    rng = np.random.default_rng(7)
    x, y = dense_split(rng, N=20, dtype=np.float32)
    n, t, c, v = events_of(x * 3)
    write_h5(tmp_path / "d.h5", {"x": x, "y": y, "class_names": np.array(["p", "q", "r"])})
    write_h5(tmp_path / "e.h5", {"sample": n, "step": t, "channel": c, "value": v,
                                 "n_steps": 9, "n_inputs": 4, "y": y})
    for name, cls, want in (("d", H5DenseDataset, x), ("e", H5EventDataset, 3 * x)):
        info = probe(tmp_path / f"{name}.h5")
        assert (info.N, info.T, info.I, info.events) == (20, 9, 4, name == "e")
        ds = open_split(tmp_path / f"{name}.h5", name=name, n_out=3)
        assert isinstance(ds, cls)  # lazy: the samples stay in the file
        rows = np.array([17, 3, 8])
        xb, yb = ds.batch(rows, dtype=np.float64)
        np.testing.assert_array_equal(np.transpose(xb, (1, 0, 2)), want[rows].astype(np.float64))
        np.testing.assert_array_equal(yb, y[rows])
        sub = ds.subset(np.array([2, 5]))
        np.testing.assert_array_equal(np.transpose(sub.batch(np.arange(2))[0], (1, 0, 2)),
                                      want[[2, 5]].astype(np.float32))
    assert probe(tmp_path / "d.h5").class_names == ["p", "q", "r"]


@pytest.mark.parametrize("arrays,needle", [
    (dict(x=np.ones((3, 4, 2))), "no key 'y'"),
    (dict(x=np.ones((3, 4, 2)), y=np.array([0, 1])), "'y' has 2 samples but the inputs have 3"),
    (dict(x=np.ones((3, 4, 2)), y=np.array([0.0, 1.0, 1.0])), "labels must be integers"),
    (dict(x=np.ones((3, 4, 2)), y=np.array([0, -1, 1])), "'y' has the label -1"),
    (dict(x=np.ones((3, 4, 2)), y=np.array([1, 1, 1])), "at least two classes"),
    (dict(x=np.ones((0, 4, 2)), y=np.zeros(0, int)), "no sample"),
    (dict(x=np.full((2, 4, 2), np.nan), y=np.array([0, 1])), "'x' has NaN or Inf"),
    (dict(sample=[0, 1], step=[0, 1], channel=[0, 1], n_inputs=2, y=[0, 1]), "no key 'n_steps'"),
    (dict(sample=[0, 2], step=[0, 1], channel=[0, 1], n_steps=3, n_inputs=2, y=[0, 1]),
     "'sample' has the value 2, outside [0, N=2)"),
    (dict(sample=[0, 1], step=[0, 3], channel=[0, 1], n_steps=3, n_inputs=2, y=[0, 1]),
     "'step' has the value 3, outside [0, n_steps=3)"),
    (dict(sample=[0, 1], step=[0, 1], channel=[0, -1], n_steps=3, n_inputs=2, y=[0, 1]),
     "'channel' has the value -1, outside [0, n_inputs=2)"),
    (dict(sample=[0, 1], step=[0, 1], channel=[0, 1], value=[1.0, np.inf], n_steps=3, n_inputs=2,
          y=[0, 1]), "'value' has NaN or Inf"),
    (dict(x=np.ones((2, 3)), sample=[0], y=[0, 1]), "both 'x' (dense) and event keys"),
])
def test_bad_arrays_are_one_line_errors(arrays, needle):
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    with pytest.raises(DataError) as e:
        read_split(arrays, where="f.npz")
    msg = str(e.value)
    assert needle in msg and msg.startswith("f.npz: ") and "\n" not in msg


def test_not_a_split_file(tmp_path):
    (tmp_path / "a.csv").write_text("1,2,3\n")
    np.save(tmp_path / "x.npy", np.zeros(3))
    with pytest.raises(DataError, match=r"a\.csv: not an \.npz or \.h5 file"):
        read_split(tmp_path / "a.csv")
    with pytest.raises(DataError, match=r"a single \.npy array.*numpy\.savez"):
        read_split(tmp_path / "x.npy")
    with pytest.raises(DataError, match="no such file"):
        probe(tmp_path / "missing.npz")


def test_split_arrays_is_exported():
    assert SplitArrays.__module__ == "resonet.data.custom"


def test_docs_worked_example_writes_a_valid_events_file(tmp_path, monkeypatch):
    """docs/data.md's from-scratch example (events in seconds) is a file of the format."""
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "data.md").read_text().split("### Worked example", 1)[1]
    code = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "np.savez" in b][0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/data.md", "exec"), {})
    s = read_split(tmp_path / "train.npz")
    assert s.events and (len(s), s.n_steps, s.n_inputs, s.dt) == (200, 250, 64, 0.002)
    assert s.class_names == ["a", "b", "c"]
    assert int(np.diff(s.offsets).sum()) == s.n_events <= 50_000
