"""Reading PyTorch checkpoint files (``torch.save``, zip format) without PyTorch, and without
running the code a pickle can carry.

**The format.** Since PyTorch 1.6 a ``.pt`` file is a zip archive whose entries all sit under
one folder (``<archive>/``, any name):

- ``<archive>/data.pkl``: a pickle of the saved object (here: a dict with ``model_state_dict``,
  ``optimizer_state_dict``, ``epoch``, ``loss``; or one bare tensor). Tensors appear in it as
  calls ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad,
  backward_hooks[, metadata])``; each ``storage`` is a *persistent id*
  ``("storage", torch.<Type>Storage, key, location, numel)``;
- ``<archive>/data/<key>``: the raw bytes of that storage (``numel`` elements of its type);
- ``<archive>/byteorder`` (``little`` or ``big``; absent in older files, which are
  little-endian), ``<archive>/version`` and other small records, ignored.

A tensor is the strided view ``t[i₀, …] = storage[offset + Σ_k i_k·stride_k]``.

**Safety.** A pickle is a program: unpickling an untrusted file with :mod:`pickle` can run any
code (``os.system`` through a ``REDUCE``, …). :class:`RestrictedUnpickler` resolves only the
globals a saved state dict needs -- ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
(and ``_v3``, ``_rebuild_parameter``), the ``torch.<Type>Storage`` types, the ``torch.<dtype>``
names and ``torch.Size`` -- each to a function of this module that builds NumPy arrays and
checks its arguments. Any other global, and any persistent id other than a storage, ends the
read with :class:`resonet.errors.CheckpointError` (one line, naming the file and the global).
Nothing in the file is ever called or imported.

Corrupt input (not a zip, truncated, a missing or short storage, a view outside its storage, a
bad pickle) is a CheckpointError naming the file as well. The legacy (pre-1.6) non-zip format and
TorchScript archives are recognised and refused with the fix.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError

__all__ = ["RestrictedUnpickler", "is_torch_zip", "load"]

# torch.<Type>Storage -> NumPy dtype of its elements (little-endian; swapped for 'big' files).
STORAGE_DTYPES = {
    "DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2", "BFloat16Storage": "bf16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?", "UntypedStorage": "u1",
}
# torch.<dtype> (the dtype argument of _rebuild_tensor_v3) -> the storage type name
TORCH_DTYPES = {
    "float64": "DoubleStorage", "double": "DoubleStorage", "float32": "FloatStorage",
    "float": "FloatStorage", "float16": "HalfStorage", "half": "HalfStorage",
    "bfloat16": "BFloat16Storage", "int64": "LongStorage", "long": "LongStorage",
    "int32": "IntStorage", "int": "IntStorage", "int16": "ShortStorage", "short": "ShortStorage",
    "int8": "CharStorage", "uint8": "ByteStorage", "bool": "BoolStorage",
}
MAX_NDIM = 64
MAX_RATIO = 200  # a compressed entry that would expand more than this is refused (a zip bomb)
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a pre-1.6 torch.save file


class _StorageType:
    """What ``torch.<Type>Storage`` resolves to: a tag carrying the element dtype."""

    def __init__(self, name: str):
        self.name = name
        self.code = STORAGE_DTYPES[name]

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _TorchDtype:
    """What ``torch.<dtype>`` resolves to (the dtype argument of ``_rebuild_tensor_v3``)."""

    def __init__(self, name: str):
        self.storage = _StorageType(TORCH_DTYPES[name])


class _Storage:
    """A storage read from ``data/<key>``: a 1-D array of its elements, and their type code."""

    def __init__(self, array: np.ndarray, key: str, code: str):
        self.array = array
        self.key = key
        self.code = code


def _numpy_dtype(code: str, byteorder: str) -> np.dtype:
    if code in ("?", "i1", "u1"):
        return np.dtype(code)
    if code == "bf16":
        return np.dtype(("<" if byteorder == "little" else ">") + "u2")
    return np.dtype(("<" if byteorder == "little" else ">") + code)


def _bad(msg: str) -> CheckpointError:
    return CheckpointError(msg)


def _int_tuple(v: Any, what: str) -> tuple[int, ...]:
    if not isinstance(v, tuple) or len(v) > MAX_NDIM or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in v):
        raise _bad(f"tensor {what} must be a tuple of integers, got {type(v).__name__}")
    return v


def _view(storage: Any, offset: Any, size: Any, stride: Any) -> np.ndarray:
    """The strided view of ``storage`` as a new C-contiguous array, checked to lie inside it."""
    if not isinstance(storage, _Storage):
        raise _bad(f"a tensor's storage must be a storage record, got {type(storage).__name__}")
    size, stride = _int_tuple(size, "size"), _int_tuple(stride, "stride")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise _bad(f"tensor storage offset must be an integer >= 0, got {offset!r}")
    if len(size) != len(stride) or any(n < 0 for n in size) or any(s < 0 for s in stride):
        raise _bad(f"tensor size {size} and stride {stride} do not describe a view")
    flat = storage.array
    if 0 in size:
        return np.zeros(size, dtype=flat.dtype)
    n = 1
    for k in size:
        n *= k
    if n > flat.size:  # a broadcast (stride-0) view: memory must stay bounded by the file's size
        raise _bad(f"a tensor of size {size} has more elements than its storage {storage.key} "
                   f"({flat.size})")
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= flat.size:
        raise _bad(f"a tensor of size {size} at offset {offset} reaches element {last} of storage "
                   f"{storage.key}, which has {flat.size}")
    idx = np.full((), offset, dtype=np.int64)
    for n, s in zip(size, stride):
        idx = idx[..., None] + np.arange(n, dtype=np.int64) * s
    return np.array(flat[idx])  # a new C-ordered array (0-d for a scalar tensor)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _view(storage, offset, size, stride)


def _rebuild_tensor_v3(storage, offset, size, stride, requires_grad=False, backward_hooks=None,
                       dtype=None, metadata=None):
    """v2 with an explicit dtype: an untyped (byte) storage is read as that dtype first."""
    if not isinstance(dtype, _TorchDtype) or not isinstance(storage, _Storage):
        raise _bad("_rebuild_tensor_v3 called with unexpected arguments")
    if storage.code != dtype.storage.code:
        if storage.code != "u1" or dtype.storage.code == "bf16":
            raise _bad(f"tensor dtype {dtype.storage.name} differs from its storage's")
        dt = np.dtype(dtype.storage.code)
        if storage.array.size % dt.itemsize:
            raise _bad(f"storage {storage.key} does not hold whole {dtype.storage.name} elements")
        storage = _Storage(storage.array.view(dt), storage.key, dtype.storage.code)
    return _view(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, np.ndarray):
        raise _bad(f"a parameter must wrap a tensor, got {type(data).__name__}")
    return data


def _ordered_dict(*args):
    """``collections.OrderedDict()`` (what torch writes), or from a list of pairs."""
    if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, dict))):
        raise _bad("collections.OrderedDict called with unexpected arguments")
    return collections.OrderedDict(*args)


def _torch_size(*args):
    if len(args) != 1:
        raise _bad("torch.Size called with unexpected arguments")
    return _int_tuple(tuple(args[0]) if isinstance(args[0], list) else args[0], "size")


# The only globals a file may name: (module, name) -> what it resolves to.
_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _ordered_dict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): _torch_size,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
    **{("torch.storage", "UntypedStorage"): _StorageType("UntypedStorage")},
    **{("torch", name): _TorchDtype(name) for name in TORCH_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of :data:`_ALLOWED` (see the module
    docstring) and storages of ``archive`` as persistent ids; anything else is refused."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile | None, prefix: str, byteorder: str,
                 where: str):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.byteorder, self.where = archive, prefix, byteorder, where
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise _bad(f"{self.where}: refusing to load the global {module}.{name}: a checkpoint "
                       "holds tensors and plain values only; this file may run code, do not "
                       "load it with torch either") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[4], int) and not isinstance(pid[4], bool) and pid[4] >= 0):
            raise _bad(f"{self.where}: unexpected persistent id {str(pid)[:80]}; only tensor "
                       "storages are read")
        stype, key, numel = pid[1], pid[2], pid[4]
        if key in self.storages:
            return self.storages[key]
        if self.archive is None:
            raise _bad(f"{self.where}: a storage outside a zip archive")
        entry = f"{self.prefix}data/{key}"
        try:
            raw = _read_entry(self.archive, entry, self.where)
        except KeyError:
            raise _bad(f"{self.where}: storage {key} is missing from the archive (truncated or "
                       "corrupt file); download it again") from None
        dt = _numpy_dtype(stype.code, self.byteorder)
        if len(raw) != numel * dt.itemsize:
            raise _bad(f"{self.where}: storage {key} has {len(raw)} bytes, expected "
                       f"{numel} x {dt.itemsize}; the file is corrupt")
        arr = np.frombuffer(raw, dtype=dt)
        if stype.code == "bf16":  # bfloat16 = the high 16 bits of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = arr.astype(dt.newbyteorder("="), copy=True)
        st = _Storage(arr, key, stype.code)
        self.storages[key] = st
        return st


def _read_entry(z: zipfile.ZipFile, name: str, where: str) -> bytes:
    """The bytes of entry ``name``; a compressed entry that would expand more than
    :data:`MAX_RATIO` times is refused (torch stores its entries uncompressed)."""
    info = z.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED and \
            info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise _bad(f"{where}: entry {name} would expand {info.file_size} bytes from "
                   f"{info.compress_size}; refusing it (a zip bomb?)")
    return z.read(name)


def is_torch_zip(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zip archive with a ``<archive>/data.pkl`` (a torch.save file)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as z:
            return any(_is_data_pkl(n) for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _is_data_pkl(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[1] == "data.pkl"


def load(path: str | os.PathLike) -> Any:
    """The object saved in the PyTorch file ``path``, with tensors as NumPy arrays (their own
    dtype and shape), dicts, lists, tuples, numbers and strings as themselves. Raises
    :class:`CheckpointError` (one line naming the file) for anything else; see the module
    docstring."""
    where = str(path)
    p = Path(path)
    if not p.is_file():
        raise _bad(f"{where}: no such file" if not p.exists() else f"{where}: not a file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise _bad(f"{where}: cannot read it ({exc.strerror or exc})") from None
    if not zipfile.is_zipfile(p):
        if _is_legacy(head):
            raise _bad(f"{where}: a PyTorch file in the legacy format (torch < 1.6), which resonet "
                       "does not read; re-save it with torch.save in a current PyTorch")
        raise _bad(f"{where}: not a PyTorch checkpoint (not a zip archive; truncated or another "
                   "kind of file)")
    try:
        with zipfile.ZipFile(p) as z:
            prefix, byteorder = _archive_layout(z, where)
            up = RestrictedUnpickler(_read_entry(z, f"{prefix}data.pkl", where), z, prefix,
                                     byteorder, where)
            return up.load()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise _bad(f"{where}: corrupt or truncated archive ({exc}); download it again") from None
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            struct.error, RecursionError, MemoryError, UnicodeDecodeError) as exc:
        raise _bad(f"{where}: unreadable data.pkl ({type(exc).__name__}: "
                   f"{str(exc)[:100]}); the file is corrupt or not a checkpoint") from None


def _archive_layout(z: zipfile.ZipFile, where: str) -> tuple[str, str]:
    """The archive's record prefix (``<archive>/``) and its tensors' byte order."""
    names = z.namelist()
    pkls = [n for n in names if _is_data_pkl(n)]
    if not pkls:
        if any(n.split("/")[-1] == "constants.pkl" for n in names):
            raise _bad(f"{where}: a TorchScript archive (torch.jit.save), not a checkpoint; "
                       "save the model's state_dict with torch.save instead")
        raise _bad(f"{where}: a zip archive without <archive>/data.pkl; not a PyTorch "
                   "checkpoint")
    if len(pkls) > 1:
        raise _bad(f"{where}: several data.pkl records ({', '.join(pkls[:3])}); corrupt")
    prefix = pkls[0][: -len("data.pkl")]
    byteorder = "little"
    if f"{prefix}byteorder" in names:
        byteorder = z.read(f"{prefix}byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise _bad(f"{where}: unknown byte order {byteorder[:20]!r}")
    return prefix, byteorder


def _is_legacy(head: bytes) -> bool:
    """A pre-1.6 torch.save file starts with the pickled magic number (protocol 2, LONG1)."""
    return head[:3] == b"\x80\x02\x8a" and head[3] == 10 and \
        int.from_bytes(head[4:14], "little") == _LEGACY_MAGIC
