"""Datasets, splits, the batch iterator and data-directory resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from resonet.data import (
    DenseDataset,
    EventDataset,
    epoch_order,
    iterate_batches,
    num_batches,
    resolve_data_dir,
    split_indices,
)
from resonet.errors import ConfigError
from resonet.events import SpikeEvents

T, I, C = 12, 9, 3


def make_event_dataset(n: int = 23, seed: int = 0) -> tuple[EventDataset, list]:
    """Random binary samples stored as events, plus their (steps, chans) lists."""
    rng = np.random.default_rng(seed)
    samples = []
    offsets = [0]
    steps, chans = [], []
    for _ in range(n):
        dense = rng.random((T, I)) < 0.2
        s, c = np.nonzero(dense)  # sorted by step, then channel
        samples.append((s, c))
        steps.append(s)
        chans.append(c)
        offsets.append(offsets[-1] + s.size)
    ds = EventDataset(
        offsets=np.array(offsets),
        steps=np.concatenate(steps).astype(np.int16),
        chans=np.concatenate(chans).astype(np.int16),
        name="ev",
        n_in=I,
        n_out=C,
        T=T,
        labels=rng.integers(0, C, n),
        per_step_labels=False,
        synthetic=False,
        source="test",
    )
    return ds, samples


def test_event_batch_matches_spike_events_from_samples():
    ds, samples = make_event_dataset()
    idx = np.array([5, 0, 22, 5, 13])  # repeated index and arbitrary order
    ev, y = ds.batch(idx, sparse=True)
    ref = SpikeEvents.from_samples([samples[i] for i in idx], T, I)
    assert isinstance(ev, SpikeEvents)
    np.testing.assert_array_equal(ev.indptr, ref.indptr)
    np.testing.assert_array_equal(ev.indices, ref.indices)
    assert ev.values is None
    x, y2 = ds.batch(idx)
    assert x.shape == (T, len(idx), I) and x.dtype == np.float32
    np.testing.assert_array_equal(x, ref.to_dense(np.float32))
    np.testing.assert_array_equal(y, ds.labels[idx])
    assert y.dtype == np.int64 and y.shape == (len(idx),)
    x64, _ = ds.batch(idx, dtype=np.float64)
    assert x64.dtype == np.float64


def test_empty_samples_and_empty_batch():
    ds, _ = make_event_dataset()
    empty = EventDataset(
        offsets=np.zeros(3, np.int64),
        steps=np.zeros(0, np.int16),
        chans=np.zeros(0, np.int16),
        name="e",
        n_in=I,
        n_out=C,
        T=T,
        labels=np.zeros(2, int),
        per_step_labels=False,
        synthetic=False,
        source="t",
    )
    ev, _ = empty.batch([0, 1], sparse=True)
    assert ev.nnz == 0 and ev.indptr.shape == (T * 2 + 1,)
    x, y = ds.batch(np.zeros(0, np.int64))
    assert x.shape == (T, 0, I) and y.shape == (0,)


def test_subset_is_a_view_and_maps_indices():
    ds, samples = make_event_dataset()
    sub = ds.subset(np.array([3, 7, 11]), name="sub")
    assert len(sub) == 3 and sub.name == "sub" and len(ds) == 23
    assert sub.steps is ds.steps  # no copy of the stored events
    x_sub, y_sub = sub.batch([1])
    x_full, y_full = ds.batch([7])
    np.testing.assert_array_equal(x_sub, x_full)
    np.testing.assert_array_equal(y_sub, y_full)
    sub2 = sub.subset(np.array([2, 0]))  # a view of a view maps through both
    np.testing.assert_array_equal(sub2.storage_rows, [11, 3])
    sub2.storage_rows[0] = 0  # a copy: the view cannot be changed through it
    np.testing.assert_array_equal(sub2.storage_rows, [11, 3])
    with pytest.raises(ConfigError, match="out of range"):
        sub.batch([3])
    with pytest.raises(ConfigError, match="integer"):
        sub.batch(np.array([0.5]))


def test_dense_dataset_per_step_labels_time_major_and_perm():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (6, T), dtype=np.uint8)  # (N, T) pixels
    lab = rng.integers(-1, C, (6, T))
    perm = rng.permutation(T)
    ds = DenseDataset(
        x=x,
        divisor=255.0,
        time_perm=perm,
        name="d",
        n_in=1,
        n_out=C,
        T=T,
        labels=lab,
        per_step_labels=True,
        synthetic=False,
        source="t",
    )
    xb, yb = ds.batch([4, 1])
    assert xb.shape == (T, 2, 1) and yb.shape == (T, 2) and yb.dtype == np.int64
    np.testing.assert_array_equal(yb[:, 0], lab[4])
    # x̃[t, b] = x[b, perm[t]] / 255 in float32 (torchvision ToTensor)
    want = x[[4, 1]][:, perm].T.astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(xb[:, :, 0], want)
    ev, _ = ds.batch([4, 1], sparse=True)
    np.testing.assert_array_equal(ev.to_dense(np.float32), xb)


@pytest.mark.parametrize(
    "n,n_train,n_val", [(8156, 7341, 815), (618, 557, 61), (60000, 54000, 6000), (10, 9, 1)]
)
def test_split_sizes_match_the_official_code(n, n_train, n_val):
    tr, va = split_indices(n, seed=3)
    assert (tr.size, va.size) == (n_train, n_val)
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(n))
    tr2, va2 = split_indices(n, seed=3)
    assert np.array_equal(va, va2)
    if n > 100:
        assert not np.array_equal(va, split_indices(n, seed=4)[1])


def test_iterate_batches_order_is_a_pure_function_of_seed_and_epoch():
    ds, _ = make_event_dataset(n=23)
    bs = 5
    assert num_batches(23, bs) == 5
    ys = [y for _, y in iterate_batches(ds, bs, seed=7, epoch=2)]
    assert [len(y) for y in ys] == [5, 5, 5, 5, 3]  # last partial batch kept
    order = epoch_order(23, seed=7, epoch=2)
    assert sorted(order.tolist()) == list(range(23))
    np.testing.assert_array_equal(np.concatenate(ys), ds.labels[order])
    ys_again = [y for _, y in iterate_batches(ds, bs, seed=7, epoch=2)]
    assert all(np.array_equal(a, b) for a, b in zip(ys, ys_again, strict=True))
    assert not np.array_equal(epoch_order(23, seed=7, epoch=3), order)
    assert not np.array_equal(epoch_order(23, seed=8, epoch=2), order)
    np.testing.assert_array_equal(epoch_order(23, seed=7, epoch=2, shuffle=False), np.arange(23))


def test_iterate_batches_resume_mid_epoch():
    ds, _ = make_event_dataset(n=23)
    full = list(iterate_batches(ds, 4, seed=1, epoch=0, sparse=True))
    tail = list(iterate_batches(ds, 4, seed=1, epoch=0, sparse=True, start_batch=3))
    assert len(tail) == len(full) - 3
    for (e1, y1), (e2, y2) in zip(full[3:], tail, strict=True):
        np.testing.assert_array_equal(e1.indptr, e2.indptr)
        np.testing.assert_array_equal(e1.indices, e2.indices)
        np.testing.assert_array_equal(y1, y2)
    assert list(iterate_batches(ds, 4, seed=1, epoch=0, start_batch=6)) == []
    with pytest.raises(ConfigError):
        list(iterate_batches(ds, 4, seed=1, epoch=0, start_batch=7))
    with pytest.raises(ConfigError):
        list(iterate_batches(ds, 0, seed=1, epoch=0))


def test_iterate_batches_never_materialises_skipped_batches(monkeypatch):
    ds, _ = make_event_dataset(n=23)
    calls = []
    orig = EventDataset.batch

    def spy(self, indices, **kw):
        calls.append(len(indices))
        return orig(self, indices, **kw)

    monkeypatch.setattr(EventDataset, "batch", spy)
    list(iterate_batches(ds, 4, seed=1, epoch=0, start_batch=4))
    assert calls == [4, 3]


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("RESONET_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "resonet"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "resonet"
    monkeypatch.setenv("RESONET_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert isinstance(resolve_data_dir("x"), Path)
