"""``python -m resonet.data``: inspect, fetch, generate and check data files.

    python -m resonet.data info  TASK [--data-dir D] [--split-seed S] [--synthetic | --no-synthetic]
    python -m resonet.data fetch {shd,ecg,mnist,ecg-raw,official-models} [--data-dir D] [--base-url URL ...]
    python -m resonet.data synth [--data-dir D | --out DIR] [--seed S] [--n-train N] [--n-test N]
    python -m resonet.data check FILE [FILE ...]
    python -m resonet.data ecg-raw RAW_DIR --out DIR [--annotation q1c] [--test-fraction 0.2]
    python -m resonet.data export TASK --out DIR [--data-dir D] [--split-seed S] [--download]

Bad or missing files end with one line, ``error: <file>: <what is wrong>; <fix>``, and exit
code 2 (set ``RESONET_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cli import run_main
from ..errors import DataError
from ..tasks import export_task, get_task, load_task, preset_tasks, task_names
from . import custom, ecg, mnist, official_models, shd, synthetic
from .paths import resolve_data_dir
from .userdata import read_split

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


def check_file(path: Path) -> dict[str, Any]:
    """Validate one file of any supported kind (by extension, else by its first bytes)."""
    if not path.is_file():
        raise DataError(f"{path}: no such file; check the path")
    with open(path, "rb") as f:
        head = f.read(128)
    name = path.name.lower()
    zipped = head.startswith(b"PK")  # a numpy .npz or a PyTorch file (both zip archives)
    if (zipped and _is_npz(path)) or (head.startswith(_HDF5_MAGIC) and not _is_shd(path)):
        return _check_custom(path)
    if name.endswith((".h5", ".hdf5")) or head.startswith(_HDF5_MAGIC):
        return shd.check_shd_file(path)
    if name.endswith(".mat") or head.startswith(b"MATLAB"):
        x, lab = ecg.read_qtdb_mat(path)
        return {"file": str(path), "format": "QTDB .mat", "x": list(x.shape), **ecg.label_statistics(lab)}
    if "idx" in name or head[:2] == b"\x00\x00":
        arr = mnist.read_idx(path)
        return {"file": str(path), "format": "IDX uint8", "shape": list(arr.shape)}
    if head.startswith(b"PK") and name.endswith(official_models.PERM_SUFFIX):
        from ..official import read_permutation

        return {"file": str(path), "format": "PyTorch tensor (PS-MNIST permutation)",
                "length": int(read_permutation(path).size)}
    if head.startswith(b"PK"):
        from ..official import read_official

        net = read_official(path)
        return {"file": str(path), "format": "PyTorch checkpoint (official BRF code)",
                "task": net.task, "spec": net.spec.to_dict(), "parameters": net.spec.n_params(),
                "epoch": net.epoch, "md5": net.md5, "notes": net.notes}
    raise DataError(f"{path}: unknown file type; expected a split of resonet's format (.npz/.h5), "
                    "an SHD .h5, a QTDB .mat, an MNIST IDX file or an official PyTorch checkpoint "
                    "(.pt)")


def _is_shd(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "spikes" in f
    except OSError:
        return False


def _check_custom(path: Path) -> dict[str, Any]:
    """A split of resonet's file format, read and checked whole (docs/data.md)."""
    s = read_split(path)
    out: dict[str, Any] = {"file": str(path), "format": f"resonet split, version {custom.FORMAT_VERSION}",
                           "form": "events" if s.events else "dense", "N": len(s), "T": s.n_steps,
                           "I": s.n_inputs, "labels": "per step" if s.per_step else "per sample",
                           "classes": int(s.y.max()) + 1 if s.n_classes is None else s.n_classes}
    if s.events:
        out["events"] = s.n_events
        out["values"] = "binary" if s.values is None else "valued"
    return out


def _is_npz(path: Path) -> bool:
    """Whether a zip archive is a numpy .npz (its members are .npy arrays), not a PyTorch file."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return all(n.endswith(".npy") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return path.name.lower().endswith(".npz")  # a broken one: read_split names the fault


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m resonet.data", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    pi = sub.add_parser("info", help="load a task and print its sizes and metadata")
    pi.add_argument("task", choices=preset_tasks())
    pi.add_argument("--data-dir")
    pi.add_argument("--split-seed", type=int, default=0)
    pi.add_argument("--download", action="store_true")
    g = pi.add_mutually_exclusive_group()
    g.add_argument("--synthetic", dest="synthetic", action="store_true", default=None)
    g.add_argument("--no-synthetic", dest="synthetic", action="store_false")
    pi.add_argument("--official-binning", action="store_true", help="shd: the official rule")

    pf = sub.add_parser(
        "fetch",
        help="download published files (needs internet); files already there are MD5-checked",
    )
    pf.add_argument("what", choices=("shd", "ecg", "mnist", "ecg-raw", "official-models"),
                    help="shd: shd_{train,test}.h5; ecg: QTDB_{train,test}.mat; mnist: the four IDX "
                         "files; ecg-raw: the raw PhysioNet QT database (via wfdb); official-models: "
                         "the BRF paper's trained networks and result arrays (29 files, 11 MB) into "
                         "<data dir>/official-models")
    pf.add_argument("--data-dir", help="data directory (default $RESONET_DATA, else ~/.cache/resonet)")
    pf.add_argument("--base-url", action="append",
                    help="download from this base URL instead of the built-in mirrors (shd, ecg, "
                         "mnist, official-models); repeat it to give several, tried in order")

    ps = sub.add_parser("synth", help="generate the synthetic SHD-format stand-in")
    ps.add_argument("--data-dir")
    ps.add_argument("--out", help="write shd_{train,test}.h5 here instead of the cache")
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--n-train", type=int, default=shd.N_TRAIN)
    ps.add_argument("--n-test", type=int, default=shd.N_TEST)

    pc = sub.add_parser("check", help="validate data files")
    pc.add_argument("files", nargs="+", type=Path)

    px = sub.add_parser("export", help="write a paper task's preprocessed train/test data as "
                                       "files of resonet's format (DIR/train.npz, DIR/test.npz)")
    px.add_argument("task", choices=[n for n in task_names() if not get_task(n).from_files])
    px.add_argument("--out", type=Path, required=True, help="folder for train.npz and test.npz")
    px.add_argument("--data-dir")
    px.add_argument("--split-seed", type=int, default=0,
                    help="psmnist: the permutation's seed (as train --split-seed)")
    px.add_argument("--download", action="store_true")
    gx = px.add_mutually_exclusive_group()
    gx.add_argument("--synthetic", dest="synthetic", action="store_true", default=None)
    gx.add_argument("--no-synthetic", dest="synthetic", action="store_false")

    pe = sub.add_parser("ecg-raw", help="raw QTDB records -> QTDB_{train,test}.mat")
    pe.add_argument("raw_dir", type=Path)
    pe.add_argument("--out", type=Path, required=True)
    pe.add_argument("--annotation", default="q1c")
    pe.add_argument("--test-fraction", type=float, default=0.2)
    pe.add_argument("--seed", type=int, default=0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    {"info": _info, "fetch": _fetch, "synth": _synth, "check": _check, "ecg-raw": _ecg_raw,
     "export": _export}[a.cmd](a)
    return 0


def _info(a: argparse.Namespace) -> None:
    opts = {"official_binning": True} if a.official_binning and "official_binning" in \
        get_task(a.task).options else {}
    td = load_task(
        a.task, a.data_dir, split_seed=a.split_seed, download=a.download, synthetic=a.synthetic, **opts
    )
    info = {k: v for k, v in td.info.items() if k != "permutation"}
    _print(info)
    if td.train.synthetic:
        print(synthetic.SYNTHETIC_WARNING, file=sys.stderr)


def _fetch(a: argparse.Namespace) -> None:
    d = resolve_data_dir(a.data_dir)
    if a.what == "shd":
        out: Any = shd.fetch_shd(d, base_url=a.base_url)
    elif a.what == "ecg":
        out = ecg.fetch_qtdb_mat(d, base_url=a.base_url)
    elif a.what == "mnist":
        out = mnist.fetch_mnist(d, base_url=a.base_url)
    elif a.what == "official-models":
        out = official_models.fetch_official_models(d, base_url=a.base_url)
    else:
        out = ecg.fetch_qtdb_raw(d)
    _print(out)


def _synth(a: argparse.Namespace) -> None:
    if a.out:
        files = synthetic.write_synthetic_shd(a.out, seed=a.seed, n_train=a.n_train, n_test=a.n_test)
    else:
        files = synthetic.ensure_synthetic_shd(
            resolve_data_dir(a.data_dir), seed=a.seed, n_train=a.n_train, n_test=a.n_test
        )
    _print({k: str(v) for k, v in files.items()})
    print(synthetic.SYNTHETIC_WARNING, file=sys.stderr)


def _check(a: argparse.Namespace) -> None:
    for f in a.files:
        _print(check_file(f))


def _export(a: argparse.Namespace) -> None:
    synthetic_ok = {"synthetic": a.synthetic} if get_task(a.task).stand_in else {}
    paths = export_task(a.task, a.out, a.data_dir, split_seed=a.split_seed, download=a.download,
                        **synthetic_ok)
    _print({split: _check_custom(p) for split, p in paths.items()})


def _ecg_raw(a: argparse.Namespace) -> None:
    res = ecg.qtdb_from_raw(a.raw_dir, annotation=a.annotation, test_fraction=a.test_fraction, seed=a.seed)
    out: dict[str, Any] = {}
    for split in ("train", "test"):
        x, lab = res[split]
        out[split] = str(ecg.write_qtdb_mat(a.out / ecg.MAT_FILES[split], x, lab))
        out[f"{split}_segments"] = int(x.shape[0])
    out["records"] = res["records"]
    _print(out)


if __name__ == "__main__":
    sys.exit(run_main(main))
