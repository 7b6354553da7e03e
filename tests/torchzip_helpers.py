"""Writing PyTorch-format checkpoint files in the tests, without PyTorch.

A ``torch.save`` file is a zip archive ``<archive>/data.pkl`` + ``<archive>/data/<key>`` (the raw
bytes of each tensor storage) + small records (``version``, ``byteorder``); see
:mod:`resonet.torchfile`. :func:`dumps` assembles the pickle opcode by opcode (protocol 2, as
torch writes it), so a test controls every byte -- also the hostile ones (:class:`Raw`).

Objects: dict (written as ``collections.OrderedDict``, as torch does), list, tuple, str, int,
float, bool, None, :class:`Tensor` (an array, optionally a strided view of a larger storage) and
:class:`Raw` (opcodes pasted as they are).
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

STORAGE = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage",
           np.dtype("float16"): "HalfStorage", np.dtype("int64"): "LongStorage",
           np.dtype("int32"): "IntStorage", np.dtype("int16"): "ShortStorage",
           np.dtype("int8"): "CharStorage", np.dtype("uint8"): "ByteStorage",
           np.dtype("bool"): "BoolStorage"}


@dataclass
class Tensor:
    """A tensor: ``storage`` (1-D, written as ``data/<key>``) viewed at ``offset`` with ``size``
    and ``stride`` (default: all of ``array``, C order). ``storage_type`` overrides the
    storage's torch type name (e.g. ``BFloat16Storage`` over uint16 bits)."""

    array: np.ndarray
    key: str = ""
    offset: int = 0
    size: tuple | None = None
    stride: tuple | None = None
    storage_type: str | None = None
    numel: int | None = None  # the numel recorded in the persistent id (default: the storage's)
    v3_dtype: str | None = None  # write _rebuild_tensor_v3 with this torch dtype name


@dataclass
class Raw:
    """Pickle opcodes inserted as they are."""

    data: bytes


def _str(s: str) -> bytes:
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def _int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _tuple(items: list[bytes]) -> bytes:
    return b"(" + b"".join(items) + b"t"


def dumps(obj, storages: dict[str, np.ndarray], byteorder: str = "little") -> bytes:
    """The data.pkl bytes of ``obj``; the storages of its tensors are added to ``storages``."""
    return b"\x80\x02" + _enc(obj, storages, byteorder) + b"."


def _enc(obj, storages: dict, byteorder: str) -> bytes:
    if isinstance(obj, Raw):
        return obj.data
    if obj is None:
        return b"N"
    if obj is True:
        return b"\x88"
    if obj is False:
        return b"\x89"
    if isinstance(obj, int):
        return _int(obj)
    if isinstance(obj, float):
        return b"G" + struct.pack(">d", obj)
    if isinstance(obj, str):
        return _str(obj)
    if isinstance(obj, tuple):
        return _tuple([_enc(v, storages, byteorder) for v in obj])
    if isinstance(obj, list):
        return b"](" + b"".join(_enc(v, storages, byteorder) for v in obj) + b"e"
    if isinstance(obj, dict):
        items = b"".join(_enc(k, storages, byteorder) + _enc(v, storages, byteorder)
                         for k, v in obj.items())
        return _global("collections", "OrderedDict") + b")R(" + items + b"u"
    if isinstance(obj, Tensor):
        return _tensor(obj, storages, byteorder)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _tensor(t: Tensor, storages: dict, byteorder: str) -> bytes:
    arr = np.asarray(t.array)
    key = t.key or str(len(storages))
    flat = arr.reshape(-1)
    if key not in storages:
        storages[key] = flat.astype(flat.dtype.newbyteorder("<" if byteorder == "little" else ">"))
    stype = t.storage_type or STORAGE[flat.dtype.newbyteorder("=")]
    numel = flat.size if t.numel is None else t.numel
    pid = _tuple([_str("storage"), _global("torch", stype), _str(key), _str("cpu"), _int(numel)])
    size = t.size if t.size is not None else arr.shape
    if t.stride is not None:
        stride = t.stride
    else:
        stride = tuple(int(np.prod(size[i + 1:])) for i in range(len(size)))
    args = [pid + b"Q", _int(t.offset), _tuple([_int(n) for n in size]),
            _tuple([_int(s) for s in stride]), b"\x89", _global("collections", "OrderedDict") + b")R"]
    if t.v3_dtype is not None:
        args.append(_global("torch", t.v3_dtype))
        return _global("torch._utils", "_rebuild_tensor_v3") + _tuple(args) + b"R"
    return _global("torch._utils", "_rebuild_tensor_v2") + _tuple(args) + b"R"


def write_pt(path: str | Path, obj, *, archive: str = "archive", byteorder: str | None = None,
             pickle_bytes: bytes | None = None, extra: dict[str, bytes] | None = None,
             drop: tuple = ()) -> Path:
    """Write ``obj`` as a torch.save zip file at ``path`` (``pickle_bytes`` replaces the
    pickle; ``extra`` adds entries; ``drop`` leaves out storage keys)."""
    storages: dict[str, np.ndarray] = {}
    data = dumps(obj, storages, byteorder or "little") if pickle_bytes is None else pickle_bytes
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(f"{archive}/data.pkl", data)
        for key, arr in storages.items():
            if key not in drop:
                z.writestr(f"{archive}/data/{key}", arr.tobytes())
        z.writestr(f"{archive}/version", b"3\n")
        if byteorder is not None:
            z.writestr(f"{archive}/byteorder", byteorder.encode())
        for name, b in (extra or {}).items():
            z.writestr(f"{archive}/{name}", b)
    return path


def official_state(rng: np.random.Generator, n_in: int, H: int, C: int, *, alif: bool = False,
                   mask: bool = True, scale: float = 1.0) -> dict:
    """A state dict shaped like the official classes' (float32 tensors)."""
    f32 = np.float32
    sd = {}
    if alif:
        sd["hidden.tau_mem"] = Tensor(rng.normal(20, 5, H).astype(f32))
        sd["hidden.tau_adp"] = Tensor(rng.normal(150, 10, H).astype(f32))
    else:
        sd["hidden.omega"] = Tensor(rng.uniform(5, 10, H).astype(f32))
        sd["hidden.b_offset"] = Tensor(rng.uniform(0.1, 1, H).astype(f32))
    sd["hidden.linear.weight"] = Tensor((scale * rng.normal(0, 0.3, (H, n_in + H))).astype(f32))
    if mask:
        sd["hidden.linear.mask"] = Tensor(np.ones((H, n_in + H), f32))
    sd["out.tau_mem"] = Tensor(rng.normal(20, 5, C).astype(f32))
    sd["out.linear.weight"] = Tensor(rng.normal(0, 0.3, (C, H)).astype(f32))
    return sd


def official_checkpoint(state: dict, epoch: int = 7) -> dict:
    """The dict the official training scripts save."""
    return {"epoch": epoch, "model_state_dict": state,
            "optimizer_state_dict": {"state": {}, "param_groups": [
                {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-08, "params": [0, 1, 2, 3, 4]}]},
            "loss": 0.25}
