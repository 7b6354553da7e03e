"""``python -m resonet.verify FILE.npz [FILE ...] [--backend reference|cpu|cuda] [--json]``

Check an engine against golden vectors produced by the official PyTorch code (format:
``tests/golden/README.md``). For each file: run forward, loss and BPTT in float64 with the
file's parameters and input, then print the max relative error (max |ours − golden| / max |golden|,
per tensor) of the outputs, the loss, every hidden-state trace and every gradient, and the number
of mismatching spikes.

Exit code 0 iff every file is within tolerance (relative error ≤ 1e-9 everywhere, spikes
identical), 1 if any is not, 2 with a one-line message if a file is missing or malformed.
``--json`` prints the same results as one JSON object instead of the table (for scripts, e.g.
the GPU device check): ``{"backend", "dtype", "tolerance", "passed", "n_failed", "files":
[{"path", "model", "meta", "errors": {quantity: max rel err, "inf" where it is infinite},
"spike_mismatches", "spikes_ok", "passed"}]}``.

The tolerance: float64 runs of the official code and of resonet differ only by summation order
(GEMM) and last-ulp differences of exp/sqrt; over these short sequences that leaves relative errors
of order 1e-15–1e-13 (docs/official-code.md §1). 1e-9 leaves four orders of margin and still
catches any wrong equation, which shows up at 1e-3 or worse.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from dataclasses import dataclass

import numpy as np

from .cli import run_main
from .contract import BACKEND_NAMES, CHECK_DTYPE, DTYPES
from .errors import DataError
from .network import NetworkSpec

TOLERANCE = 1e-9
# float32 tolerance (--dtype float32 against the float64 golden data): each rounded operation errs
# by u = 6e-8 and the errors add up along the ~5 roundings of a step over T steps (the damped
# dynamics do not amplify them), c·u·T = 5·6e-8·300 = 9e-5 for T <= 300; measured <= 2.2e-5.
# Spikes may legitimately flip where a membrane sits within that distance of threshold, so a
# float32 check reports flips but fails only on tensors. Derivation: docs/numerics.md.
TOLERANCE_F32 = 1e-4


@dataclass
class Golden:
    path: str
    meta: dict
    spec: NetworkSpec
    x: np.ndarray
    y: np.ndarray
    params: dict
    grads: dict
    outputs: np.ndarray
    loss: float
    num_spikes: float
    states: dict


def load_golden(path: str) -> Golden:
    """Load and validate one golden file; DataError (naming the file) if anything is off."""
    meta, spec, order, arrays = _read_golden(path)
    params: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray] = {}
    for name, shape in spec.param_shapes().items():
        for prefix, store in (("param/", params), ("grad/", grads)):
            key = prefix + name
            if key not in arrays:
                raise DataError(f"{path}: missing {key}")
            if arrays[key].shape != shape:
                raise DataError(f"{path}: {key} has shape {arrays[key].shape}, expected {shape}")
            store[name] = arrays[key].astype(np.float64)
    x = arrays["x"]
    T = x.shape[0] if x.ndim == 3 else -1
    if x.ndim != 3 or x.shape[2] != spec.n_in or T != meta.get("T", T):
        raise DataError(f"{path}: x has shape {x.shape}, expected (T, B, I={spec.n_in})")
    B = x.shape[1]
    n_rec = 1 if spec.label_last else T - spec.sub_seq_length
    if arrays["outputs"].shape != (n_rec, B, spec.n_out):
        raise DataError(
            f"{path}: outputs has shape {arrays['outputs'].shape}, expected {(n_rec, B, spec.n_out)}"
        )
    states = {}
    for l, H in enumerate(spec.layers):
        group = "hidden" if spec.n_layers == 1 else f"hidden{l + 1}"  # the file's names
        for i, name in enumerate(order):
            key = f"{group}/{i}"
            if key not in arrays or arrays[key].shape != (T, B, H):
                raise DataError(f"{path}: {key} ({name}) missing or not of shape {(T, B, H)}")
            states[spec.state_key(l, name)] = arrays[key]
    y = arrays["y"]
    if y.shape not in ((B,), (T, B)):
        raise DataError(f"{path}: y has shape {y.shape}, expected ({B},) or ({T}, {B})")
    return Golden(path, meta, spec, x.astype(np.float64), y.astype(np.int64), params, grads,
                  arrays["outputs"], float(arrays["loss"]), float(arrays["num_spikes"]), states)


def _read_golden(path: str) -> tuple[dict, NetworkSpec, list[str], dict]:
    """``(meta, spec, hidden_state_order, arrays)`` of a golden file, its keys and meta checked."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    with data:
        missing = sorted({"meta_json", "x", "y", "outputs", "loss", "num_spikes"} - set(data.files))
        if missing:
            raise DataError(f"{path}: missing keys {missing}; not a golden file (see golden/README.md)")
        try:
            meta = json.loads(str(data["meta_json"]))
            spec = golden_spec(meta)
            order = meta["hidden_state_order"].split(",")
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path}: malformed meta_json ({exc})") from None
        try:
            arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: corrupt array data ({exc})") from None
    return meta, spec, order, arrays


def golden_spec(meta: dict) -> NetworkSpec:
    """The network of a golden file's ``meta_json``: one hidden layer (``"H": 128``) or stacked
    ones (``"H": [10, 8]``), biases if ``"bias"`` is true, the sigmoid readout if ``"readout"``
    says ``li_sigmoid`` (the official LICellSigmoid). A file of the official
    ``DoubleALIFRNN`` says ``"recorded_steps": "t > sub_seq_length ..."``: that class records the
    steps t > sub_seq_length (strictly; the one-layer classes t >= sub_seq_length), which is
    resonet's ``sub_seq_length + 1``. ``dt`` (absent from files of models without one, ALIF)
    defaults to the spec's."""
    H = meta["H"]
    sub_seq = int(meta["sub_seq_length"])
    if str(meta.get("recorded_steps", "")).replace(" ", "").startswith("t>sub_seq_length"):
        sub_seq += 1
    return NetworkSpec(
        meta["model"], int(meta["I"]), tuple(int(h) for h in H) if isinstance(H, list) else int(H),
        int(meta["C"]), dt=float(meta.get("dt", NetworkSpec.dt)), sub_seq_length=sub_seq,
        label_last=bool(meta["label_last"]), bias=bool(meta.get("bias", False)),
        readout="li_sigmoid" if str(meta.get("readout", "")).startswith("li_sigmoid") else "li",
    )


def rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours − ref| / max |ref| (scale-relative; 0/0 counts as 0)."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        return float("inf")
    diff = np.abs(ours - ref)
    if not np.all(np.isfinite(diff)):
        return float("inf")
    scale = np.abs(ref).max() if ref.size else 0.0
    num = diff.max() if diff.size else 0.0
    if scale == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return float(num / scale)


def check(g: Golden, backend_name: str = "reference", dtype=np.float64) -> tuple[list, int]:
    """Run one golden case; return rows (quantity, error) and the spike mismatch count."""
    from .backends import get_backend

    backend = get_backend(backend_name)
    res = backend.run(g.spec, g.params, g.x, g.y, dtype=dtype, return_states=True)
    rows = [("outputs", rel_err(res.outputs, g.outputs)),
            ("loss", rel_err(np.array(res.loss), np.array(g.loss))),
            ("num_spikes", rel_err(np.array(res.num_spikes.sum()), np.array(g.num_spikes)))]
    states, grads = res.states or {}, res.grads or {}
    spikes = {g.spec.state_key(l, "z") for l in range(g.spec.n_layers)}
    for name, ref in g.states.items():
        if name in spikes:
            continue
        rows.append((f"state {name}", rel_err(states[name], ref)))
    for name, ref in g.grads.items():
        rows.append((f"grad {name}", rel_err(grads[name], ref)))
    mismatches = sum(int(np.sum(states[k] != g.states[k])) for k in sorted(spikes))
    return rows, mismatches


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m resonet.verify",
        description="Compare resonet against golden vectors of the official BRF code (float64).",
    )
    ap.add_argument("files", nargs="+", metavar="FILE.npz", help="golden files (tests/golden/*.npz)")
    ap.add_argument("--backend", default="reference", choices=BACKEND_NAMES,
                    help="engine to check (default: reference)")
    ap.add_argument("--dtype", default=CHECK_DTYPE, choices=list(DTYPES),
                    help="precision of the run; float64 is the parity check (tolerance 1e-9, "
                         "spikes identical); float32 uses a looser tolerance and only reports flips")
    ap.add_argument("--tol", type=float, default=None, help="override the relative tolerance")
    ap.add_argument("--json", action="store_true",
                    help="print the results as one JSON object instead of the table")
    return ap


def verify(goldens: list[Golden], backend: str, dtype, tol: float) -> dict:
    """Every golden case on ``backend``: the results that ``main`` prints (``--json``'s object)."""
    files = []
    for g in goldens:
        rows, mism = check(g, backend, dtype)
        spikes_ok = mism == 0 or np.dtype(dtype) != np.float64
        ok = spikes_ok and all(err <= tol for _, err in rows)
        files.append({"path": g.path, "model": g.meta["model"], "meta": g.meta,
                      "errors": dict(rows), "spike_mismatches": mism, "spikes_ok": spikes_ok,
                      "passed": ok})
    n_failed = sum(not f["passed"] for f in files)
    return {"backend": backend, "dtype": np.dtype(dtype).name, "tolerance": tol,
            "passed": n_failed == 0, "n_failed": n_failed, "files": files}


def _print_table(res: dict) -> None:
    tol = res["tolerance"]
    for f in res["files"]:
        m = f["meta"]
        H = ",".join(map(str, m["H"])) if isinstance(m["H"], list) else m["H"]
        print(f"{f['path']}: {m['model']} I={m['I']} H={H} C={m['C']} T={m['T']} B={m['B']} "
              f"sub_seq={m['sub_seq_length']} label_last={m['label_last']}"
              f"{' bias' if m.get('bias') else ''} "
              f"[{res['backend']}, {res['dtype']}]")
        for name, err in f["errors"].items():
            print(f"  {name:<28s} max rel err {err:10.3e}  {'ok' if err <= tol else 'FAIL'}")
        print(f"  {'spike mismatches':<28s} {f['spike_mismatches']:10d}  "
              f"{'ok' if f['spikes_ok'] else 'FAIL'}")
        print(f"  => {'PASS' if f['passed'] else 'FAIL'} (tolerance {tol:g})")
    n = len(res["files"])
    print(f"{n} file(s): " + ("all within tolerance" if res["passed"]
                              else f"{res['n_failed']} FAILED"))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    dtype = DTYPES[args.dtype]
    tol = args.tol if args.tol is not None else (TOLERANCE if dtype == np.float64 else TOLERANCE_F32)
    goldens = [load_golden(f) for f in args.files]  # validate every file before running any
    res = verify(goldens, args.backend, dtype, tol)
    if args.json:
        print(json.dumps(_strict(res)))
    else:
        _print_table(res)
    return 0 if res["passed"] else 1


def _strict(o):
    """``o`` for strict JSON: NumPy scalars as Python numbers, an infinite or NaN error (a shape
    mismatch, a non-finite result) as the string "inf" / "nan"."""
    if isinstance(o, dict):
        return {k: _strict(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_strict(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not np.isfinite(o):
        return "nan" if np.isnan(o) else "inf"
    return o


def write_json(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` (atomically; infinite errors as the string "inf")."""
    import os

    def fix(v):
        if isinstance(v, float) and not np.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {k: fix(x) for k, x in v.items()}
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(fix(obj), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(run_main(main))
