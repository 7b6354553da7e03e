"""The torch-free reader of PyTorch checkpoint files (resonet.torchfile): what it reads, and what
it refuses -- hostile pickles, corrupt, truncated and foreign files -- with one line."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from resonet import torchfile
from resonet.errors import CheckpointError
from tests.torchzip_helpers import Raw, Tensor, _global, _str, _tuple, dumps, write_pt


def _obj(rng):
    return {
        "epoch": 12, "loss": 0.125, "name": "run", "flag": True, "none": None,
        "model_state_dict": {
            "w32": Tensor(rng.normal(size=(3, 4)).astype(np.float32)),
            "w64": Tensor(rng.normal(size=5)),
            "i64": Tensor(np.arange(7, dtype=np.int64)),
            "h16": Tensor(rng.normal(size=(2, 2)).astype(np.float16)),
            "b": Tensor(np.array([True, False, True])),
            "u8": Tensor(np.arange(4, dtype=np.uint8)),
            "scalar": Tensor(np.array(3.5, dtype=np.float32)),
            "empty": Tensor(np.zeros((0, 3), np.float32)),
        },
        "groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1]}],
    }


def test_reads_nested_objects_and_every_dtype(tmp_path):
    rng = np.random.default_rng(0)
    obj = _obj(rng)
    got = torchfile.load(write_pt(tmp_path / "a.pt", obj))
    assert got["epoch"] == 12 and got["loss"] == 0.125 and got["name"] == "run"
    assert got["flag"] is True and got["none"] is None
    assert got["groups"] == [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1]}]
    for k, t in obj["model_state_dict"].items():
        a = got["model_state_dict"][k]
        assert a.dtype == t.array.dtype and a.shape == t.array.shape, k
        np.testing.assert_array_equal(a, t.array)
    assert list(got["model_state_dict"]) == list(obj["model_state_dict"])  # order kept


def test_strided_views_offsets_and_shared_storages(tmp_path):
    base = np.arange(24, dtype=np.float32)
    obj = {"t": Tensor(base, key="s", size=(4, 3), stride=(1, 4)),  # a transpose of (3, 4)
           "tail": Tensor(base, key="s", offset=20, size=(4,), stride=(1,)),
           "every_other": Tensor(base, key="s", offset=1, size=(3, 2), stride=(8, 2))}
    got = torchfile.load(write_pt(tmp_path / "v.pt", obj))
    np.testing.assert_array_equal(got["t"], base[:12].reshape(3, 4).T)
    np.testing.assert_array_equal(got["tail"], base[20:24])
    np.testing.assert_array_equal(got["every_other"], base[[[1, 3], [9, 11], [17, 19]]])
    got["tail"][0] = -1  # copies, not views of one buffer
    assert got["t"][0, 0] == 0 and got["every_other"][0, 0] == 1


def test_big_endian_files_and_bfloat16(tmp_path):
    x = np.array([1.5, -2.25, 3e5], np.float64)
    got = torchfile.load(write_pt(tmp_path / "be.pt", {"x": Tensor(x)}, byteorder="big"))
    np.testing.assert_array_equal(got["x"], x)
    assert got["x"].dtype == np.float64 and got["x"].dtype.isnative
    f = np.array([1.0, -0.5, 3.140625], np.float32)  # exactly representable in bfloat16
    bits = (f.view(np.uint32) >> 16).astype(np.uint16)
    got = torchfile.load(write_pt(tmp_path / "bf.pt", Tensor(bits, storage_type="BFloat16Storage")))
    np.testing.assert_array_equal(got, f)


def test_bare_tensor_and_rebuild_v3(tmp_path):
    perm = np.random.default_rng(1).permutation(10).astype(np.int64)
    np.testing.assert_array_equal(torchfile.load(write_pt(tmp_path / "p.pt", Tensor(perm))), perm)
    raw = np.arange(4, dtype=np.float32).view(np.uint8)  # an untyped (byte) storage read as float32
    got = torchfile.load(write_pt(tmp_path / "v3.pt", Tensor(raw, size=(4,), stride=(1,),
                                                             storage_type="UntypedStorage",
                                                             v3_dtype="float32")))
    np.testing.assert_array_equal(got, np.arange(4, dtype=np.float32))


# -- hostile pickles: nothing runs, one line names what was refused ---------------------------
def _call(module: str, name: str, *args: str) -> Raw:
    return Raw(_global(module, name) + _tuple([_str(a) for a in args]) + b"R")


@pytest.mark.parametrize("module,name", [("os", "system"), ("posix", "system"),
                                         ("builtins", "eval"), ("builtins", "exec"),
                                         ("subprocess", "call"), ("numpy", "load")])
def test_hostile_reduce_is_refused_and_not_run(tmp_path, module, name):
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').write('x')"
    arg = f"touch {marker}" if name in ("system", "call") else code
    p = write_pt(tmp_path / "evil.pt", {"model_state_dict": {"w": _call(module, name, arg)}})
    with pytest.raises(CheckpointError, match=f"refusing to load the global {module}.{name}") as ei:
        torchfile.load(p)
    assert "\n" not in str(ei.value) and str(p) in str(ei.value)
    assert not marker.exists()


def test_other_ways_of_naming_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    # INST (the protocol-0 way to build an object) and STACK_GLOBAL both go through find_class
    inst = Raw(b"(" + _str(f"touch {marker}") + b"ios\nsystem\n")
    stack = Raw(_str("os") + _str("system") + b"\x93" + _tuple([_str(f"touch {marker}")]) + b"R")
    for i, payload in enumerate((inst, stack)):
        p = write_pt(tmp_path / f"e{i}.pt", {"x": payload})
        with pytest.raises(CheckpointError, match="refusing to load the global os.system"):
            torchfile.load(p)
    assert not marker.exists()
    # a persistent id that is not a storage
    pid = Raw(_tuple([_str("module"), _str("os")]) + b"Q")
    with pytest.raises(CheckpointError, match="unexpected persistent id"):
        torchfile.load(write_pt(tmp_path / "pid.pt", {"x": pid}))
    # an extension code (copyreg registry): unregistered, refused as unreadable
    with pytest.raises(CheckpointError, match="unreadable data.pkl"):
        torchfile.load(write_pt(tmp_path / "ext.pt", {"x": Raw(b"\x82\x01")}))


def test_allowed_globals_check_their_arguments(tmp_path):
    # _rebuild_tensor_v2 with a string for a storage, OrderedDict with a non-pair argument
    bad_tensor = Raw(_global("torch._utils", "_rebuild_tensor_v2")
                     + _tuple([_str("x"), b"J\x00\x00\x00\x00", _tuple([]), _tuple([]), b"\x89",
                               b"N"]) + b"R")
    with pytest.raises(CheckpointError, match="storage must be a storage record"):
        torchfile.load(write_pt(tmp_path / "t.pt", {"x": bad_tensor}))
    bad_od = Raw(_global("collections", "OrderedDict") + _tuple([_str("a"), _str("b")]) + b"R")
    with pytest.raises(CheckpointError, match="OrderedDict called with unexpected arguments"):
        torchfile.load(write_pt(tmp_path / "od.pt", {"x": bad_od}))


# -- corrupt, truncated and foreign files ---------------------------------------------------
def test_truncated_and_corrupt_archives(tmp_path):
    good = write_pt(tmp_path / "good.pt", {"w": Tensor(np.arange(1000, dtype=np.float32))})
    data = good.read_bytes()
    for n in (10, len(data) // 2, len(data) - 5):
        p = tmp_path / f"cut{n}.pt"
        p.write_bytes(data[:n])
        with pytest.raises(CheckpointError) as ei:
            torchfile.load(p)
        assert "\n" not in str(ei.value) and str(p) in str(ei.value)
    flipped = bytearray(data)
    pos = data.index(np.arange(1000, dtype=np.float32)[500:504].tobytes())
    flipped[pos] ^= 0xFF  # a storage byte: the zip's CRC catches it
    (tmp_path / "crc.pt").write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        torchfile.load(tmp_path / "crc.pt")


def test_missing_short_and_overrun_storages(tmp_path):
    w = np.arange(6, dtype=np.float32)
    with pytest.raises(CheckpointError, match="storage 0 is missing"):
        torchfile.load(write_pt(tmp_path / "m.pt", {"w": Tensor(w)}, drop=("0",)))
    with pytest.raises(CheckpointError, match="has 24 bytes, expected 10 x 4"):
        torchfile.load(write_pt(tmp_path / "s.pt", {"w": Tensor(w, numel=10)}))
    with pytest.raises(CheckpointError, match="reaches element 7 of storage"):
        torchfile.load(write_pt(tmp_path / "o.pt", {"w": Tensor(w, size=(4,), stride=(1,),
                                                                offset=4)}))
    with pytest.raises(CheckpointError, match="do not describe a view"):
        torchfile.load(write_pt(tmp_path / "n.pt", {"w": Tensor(w, size=(2,), stride=(-1,))}))


def test_memory_stays_bounded_by_the_file(tmp_path):
    w = np.arange(4, dtype=np.float32)
    with pytest.raises(CheckpointError, match="more elements than its storage"):  # stride 0
        torchfile.load(write_pt(tmp_path / "b.pt", {"w": Tensor(w, size=(10**9,), stride=(0,))}))
    p = tmp_path / "bomb.pt"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/data.pkl", dumps({"w": Tensor(np.zeros(10**6, np.float32))}, {}))
        z.writestr("a/data/0", bytes(4 * 10**6))  # 4 MB of zeros in a few kB
    with pytest.raises(CheckpointError, match="zip bomb"):
        torchfile.load(p)


def test_foreign_files_are_named(tmp_path):
    cases = {
        "random.pt": np.random.default_rng(0).bytes(300),
        "legacy.pt": b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        torchfile.load(tmp_path / "random.pt")
    with pytest.raises(CheckpointError, match="legacy format"):
        torchfile.load(tmp_path / "legacy.pt")
    with zipfile.ZipFile(tmp_path / "script.pt", "w") as z:
        z.writestr("m/constants.pkl", b"")
        z.writestr("m/code/m.py", b"")
    with pytest.raises(CheckpointError, match="TorchScript archive"):
        torchfile.load(tmp_path / "script.pt")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", b"hi")
    with pytest.raises(CheckpointError, match="without <archive>/data.pkl"):
        torchfile.load(tmp_path / "other.zip")
    garbage = write_pt(tmp_path / "g.pt", None, pickle_bytes=b"\x80\x02}q\x00(X")
    with pytest.raises(CheckpointError, match="unreadable data.pkl"):
        torchfile.load(garbage)
    with pytest.raises(CheckpointError, match="no such file"):
        torchfile.load(tmp_path / "absent.pt")
    assert not torchfile.is_torch_zip(tmp_path / "other.zip")
    assert torchfile.is_torch_zip(garbage)


def test_the_cli_answers_a_hostile_file_with_one_line(tmp_path):
    marker = tmp_path / "pwned"
    p = write_pt(tmp_path / "evil.pt", {"model_state_dict": {"w": _call("os", "system",
                                                                        f"touch {marker}")}})
    for cmd in (["-m", "resonet.evaluate", str(p), "--task", "ecg"],
                ["-m", "resonet.data", "check", str(p)]):
        r = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "os.system" in lines[0]
        assert "Traceback" not in r.stderr
    assert not marker.exists()


def test_dumps_matches_pythons_own_pickle_for_plain_values():
    """The test writer's encoding of plain values is what pickle itself reads back."""
    import pickle

    obj = {"a": [1, -2, 2.5, "x", None, True, (3, 4)], "b": {}}
    assert pickle.loads(dumps(obj, {})) == obj
