"""The official BRF code's trained networks (PyTorch checkpoints) as resonet specs and parameters.

The official training scripts save ``torch.save({"epoch", "model_state_dict",
"optimizer_state_dict", "loss"}, path)``; PS-MNIST runs also save their pixel permutation as a
bare int64 tensor (``*_permuted_idx.pt``). :func:`read_official` reads such a file through the
torch-free, restricted reader of :mod:`resonet.torchfile` and maps it onto resonet:

**Model from the keys.** The state dicts of the official classes (reference-spec §1.2, §7):

===========================  ==================================================================
``hidden.omega``,            a resonator: ``SimpleResRNN`` (BRF), ``SimpleVanillaRFRNN`` (RF) or
``hidden.b_offset``          ``SimpleHarmonicRNN`` (BHRF) -- the keys are the same, so which one
                             comes from the file name (below) or ``neuron=``
``hidden.tau_mem``,          ``SimpleALIFRNN`` (ALIF)
``hidden.tau_adp``
``hidden.linear.weight``     W_h (H, I+H): sizes H from the per-neuron vectors, I = columns − H
``hidden.linear.mask``       the ``LinearMask`` buffer (0/1, H × (I+H)); honoured as the official
                             forward does, W_h ← W_h ⊙ mask (all ones in every published file)
``out.tau_mem``,             the LI readout: τ_o (C,), W_o (C, H)
``out.linear.weight``
``*.bias``                   accepted only if all zero (resonet's networks have no biases, and
                             neither have the published ones)
===========================  ==================================================================

Any other key is refused with the list of what is unknown.

**Task from the sizes** (I, C): (700, 20) SHD, (4, 6) ECG, (1, 10) S-MNIST or PS-MNIST -- the
latter when the name says ``PERMUTED(True)`` or a permutation is given or found.

**From the file name** (the official scripts encode their settings in it; a ``task=``,
``neuron=``, ``label_last=`` or ``permutation=`` argument overrides what the name says):

- the resonator: ``sust_osc`` (not ``no_sust_osc``) or ``-q`` (the refractory variable) → BRF;
  ``VRF``, ``no_sust_osc`` or ``nothing`` → RF; ``HRF``/``Harmonic`` → BHRF;
- ``PERMUTED(True|False)``, ``LabelLast(True|False)`` (also ``LL(...)``) and ``sub_seq(N)`` /
  ``sub_seq_N`` / ``sub_seq_length=N``; what the name leaves open follows resonet's preset of the
  task and model (S-MNIST label-last, the ALIF sub-sequence of 10 on SHD and ECG, …).

**PS-MNIST permutation.** ``permutation=`` a file (a bare-tensor ``.pt``, a ``.npy``, or a
resonet ``data_split.npz``) or ``"identity"``; otherwise the ``*_permuted_idx.pt`` beside the
checkpoint whose name starts with the checkpoint's 14-character time stamp, as the official
statistics script finds it. It must be a permutation of 0 … 783; x̃_t = x_{perm[t]}.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import torchfile
from .data.download import file_hash
from .errors import CheckpointError, ConfigError
from .spec import NetworkSpec, check_params

__all__ = ["OfficialNetwork", "find_permutation", "is_official", "name_hints", "read_official",
           "read_permutation"]

RESONATOR_KEYS = ("hidden.omega", "hidden.b_offset")
ALIF_KEYS = ("hidden.tau_mem", "hidden.tau_adp")
COMMON_KEYS = ("hidden.linear.weight", "out.tau_mem", "out.linear.weight")
MASK_KEY = "hidden.linear.mask"
BIAS_KEYS = ("hidden.linear.bias", "out.linear.bias")
# (I, C) -> the tasks with those sizes (resonet.presets)
TASK_SIZES = {(700, 20): ("shd",), (4, 6): ("ecg",), (1, 10): ("smnist", "psmnist")}
PERM_SUFFIX = "_permuted_idx.pt"
STAMP_LEN = 14  # "MM-DD_HH-MM-SS": how the official stats script pairs a run with its permutation


def is_official(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a PyTorch (zip) file rather than a resonet run or ``.npz``."""
    p = Path(path)
    return p.is_file() and torchfile.is_torch_zip(p)


def name_hints(name: str) -> dict[str, Any]:
    """What an official file name says: ``neuron`` (brf/rf/bhrf/alif or absent), ``permuted``,
    ``label_last`` (bool or absent) and ``sub_seq_length`` (int or absent)."""
    out: dict[str, Any] = {}
    brf = bool(re.search(r"(?<!no_)sust_osc", name) or re.search(r"-q\b", name))
    rf = bool(re.search(r"VRF\(|no_sust_osc|[,(]nothing[,)]", name))
    if re.search(r"ALIF", name):
        out["neuron"] = "alif"
    elif re.search(r"HRF|[Hh]armonic", name):
        out["neuron"] = "bhrf"
    elif brf != rf:
        out["neuron"] = "brf" if brf else "rf"
    m = re.search(r"PERMUTED\((True|False)\)", name)
    if m:
        out["permuted"] = m.group(1) == "True"
    m = re.search(r"(?:LabelLast|LL)\((True|False)", name)
    if m:
        out["label_last"] = m.group(1) == "True"
    m = re.search(r"sub_seq(?:_length)?[(_=](\d+)", name)
    if m:
        out["sub_seq_length"] = int(m.group(1))
    return out


def read_permutation(path: str | os.PathLike, T: int = 784) -> np.ndarray:
    """A PS-MNIST permutation from ``path``: a bare int64 tensor (``.pt``), a ``.npy`` array or
    a resonet ``data_split.npz`` (its ``permutation``); checked to be a permutation of 0…T−1."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such permutation file")
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as f:
                if "permutation" not in f.files:
                    raise CheckpointError(f"{p}: no 'permutation' array in it (has {f.files})")
                perm = f["permutation"]
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{p}: not a readable .npz ({exc})") from None
    elif p.suffix == ".npy":
        try:
            perm = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{p}: not a readable .npy array ({exc})") from None
    else:
        perm = torchfile.load(p)
    if not isinstance(perm, np.ndarray) or perm.ndim != 1 or not np.issubdtype(perm.dtype, np.integer):
        raise CheckpointError(f"{p}: expected a 1-D integer array (a permutation of 0..{T - 1}), "
                              f"got {type(perm).__name__} {getattr(perm, 'shape', '')}")
    perm = perm.astype(np.int64)
    if perm.shape != (T,) or not np.array_equal(np.sort(perm), np.arange(T)):
        raise CheckpointError(f"{p}: not a permutation of 0..{T - 1} ({perm.size} entries)")
    return perm


def find_permutation(path: str | os.PathLike) -> Path | None:
    """The ``*_permuted_idx.pt`` beside the checkpoint ``path`` whose name starts with the same
    time stamp (the official pairing); None if there is none. Several: CheckpointError."""
    p = Path(path)
    stamp = p.name[:STAMP_LEN]
    if len(stamp) < STAMP_LEN or p.name.endswith(PERM_SUFFIX):
        return None
    found = sorted(q for q in p.parent.glob(f"*{PERM_SUFFIX}") if q.name.startswith(stamp))
    if len(found) > 1:
        raise CheckpointError(f"{p}: several permutation files share its time stamp "
                              f"({', '.join(q.name[:40] for q in found)}); give one with "
                              "--permutation FILE")
    return found[0] if found else None


@dataclass
class OfficialNetwork:
    """An official checkpoint read into resonet: ``spec``, ``params`` (float64, keyed like
    :func:`resonet.network.init_params`), ``task``, ``permutation`` (PS-MNIST, int64 (784,) or
    None) and what else the file says (``epoch``, ``loss``, ``lr``; ``notes`` on what was
    inferred and from where)."""

    path: Path
    spec: NetworkSpec
    params: dict
    task: str
    permutation: np.ndarray | None = None
    permutation_source: str | None = None
    epoch: int | None = None
    loss: float | None = None
    lr: float | None = None
    md5: str = ""
    mask_removed: int = 0
    notes: list = field(default_factory=list)

    @property
    def task_options(self) -> dict:
        """Options of :func:`resonet.data.load_task` that feed this network its data as the
        official code did (the permutation; SHD's official binning)."""
        if self.task == "psmnist":
            return {"permutation": self.permutation}
        if self.task == "shd":  # never the synthetic stand-in for a network trained on SHD
            return {"official_binning": True, "synthetic": False}
        return {}

    def config(self) -> dict:
        """The ``config`` of :func:`resonet.api.read_run` for this file."""
        return {"spec": self.spec.to_dict(), "task": self.task,
                "settings": {"task": self.task, "neuron": self.spec.neuron, "split_seed": 0},
                "meta": {"source": "official PyTorch checkpoint", "epoch": self.epoch,
                         "loss": self.loss, "lr": self.lr, "md5": self.md5},
                "path": str(self.path), "official": self, "task_options": self.task_options}


def _scalar(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, np.ndarray) and v.size == 1 and np.issubdtype(v.dtype, np.number):
        return float(v.reshape(()))
    return None


def _state_dict(obj: Any, where: str) -> tuple[dict, dict]:
    """(state dict, the rest of the saved dict) of what torchfile.load returned."""
    if isinstance(obj, np.ndarray):
        raise CheckpointError(f"{where}: holds one bare tensor {obj.shape}, not a network (a "
                              "PS-MNIST permutation? give it with --permutation)")
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where}: holds a {type(obj).__name__}, not a checkpoint dict")
    if "model_state_dict" in obj:
        sd, rest = obj["model_state_dict"], obj
    elif "state_dict" in obj:
        sd, rest = obj["state_dict"], obj
    else:
        sd, rest = obj, {}
    if not isinstance(sd, dict) or not all(isinstance(k, str) for k in sd):
        raise CheckpointError(f"{where}: the model state dict is not a dict of named tensors")
    bad = [k for k, v in sd.items() if not isinstance(v, np.ndarray)]
    if bad:
        raise CheckpointError(f"{where}: state-dict entries {bad[:5]} are not tensors")
    return sd, rest


def read_official(path: str | os.PathLike, *, task: str | None = None, neuron: str | None = None,
                  permutation: str | os.PathLike | np.ndarray | None = None,
                  label_last: bool | None = None) -> OfficialNetwork:
    """Read the official checkpoint ``path`` (see the module docstring). Raises
    :class:`CheckpointError` (file) or :class:`ConfigError` (arguments), one line each."""
    from .presets import get_preset

    p = Path(path)
    where = str(p)
    sd, rest = _state_dict(torchfile.load(p), where)
    notes: list[str] = []
    hints = name_hints(p.name)
    neuron, per = _model_of(sd, where, neuron, hints, notes)
    H, n_in, C = _sizes(sd, per, where)
    W, removed = _weights(sd, where, notes)
    task = _task_of(where, n_in, H, C, task, hints, permutation, notes)

    # -- recorded steps ------------------------------------------------------------------------
    preset = get_preset(task, neuron)
    sub_seq = hints.get("sub_seq_length", preset.sub_seq_length)
    if label_last is None:
        label_last = hints.get("label_last", preset.label_last)
        if "label_last" in hints:
            notes.append(f"label_last={label_last} from the file name")
    try:
        spec = NetworkSpec(neuron, int(n_in), int(H), int(C), sub_seq_length=int(sub_seq),
                           label_last=bool(label_last))
    except ConfigError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    params = {k: np.asarray(sd[k], dtype=np.float64) for k in spec.param_shapes()}
    params["hidden.linear.weight"] = W
    try:
        check_params(spec, params)
        spec.model.derive({n: params[f"hidden.{n}"] for n in spec.model.PARAM_NAMES}, spec)
    except ConfigError as exc:
        raise CheckpointError(f"{where}: {exc}") from None

    perm, perm_src = _permutation_of(p, task, permutation, notes)
    lr = None
    opt = rest.get("optimizer_state_dict")
    if isinstance(opt, dict) and isinstance(opt.get("param_groups"), list) and opt["param_groups"]:
        g = opt["param_groups"][0]
        lr = _scalar(g.get("lr")) if isinstance(g, dict) else None
    epoch = _scalar(rest.get("epoch"))
    return OfficialNetwork(path=p, spec=spec, params=params, task=task, permutation=perm,
                           permutation_source=perm_src,
                           epoch=None if epoch is None else int(epoch),
                           loss=_scalar(rest.get("loss")), lr=lr, md5=file_hash(p),
                           mask_removed=removed, notes=notes)


def _model_of(sd: dict, where: str, neuron: str | None, hints: dict,
              notes: list[str]) -> tuple[str, tuple]:
    """The neuron model from the state dict's keys (and, for the resonators, whose state dicts
    are alike, from ``neuron`` or the file name), and its per-neuron parameter keys."""
    keys = set(sd)
    known = set(RESONATOR_KEYS + ALIF_KEYS + COMMON_KEYS + BIAS_KEYS) | {MASK_KEY}
    unknown = sorted(keys - known)
    if unknown:
        raise CheckpointError(f"{where}: unknown state-dict key(s) {unknown}; resonet reads the "
                              "official one-layer networks (SimpleResRNN, SimpleVanillaRFRNN, "
                              "SimpleHarmonicRNN, SimpleALIFRNN)")
    if set(RESONATOR_KEYS) <= keys and not keys & set(ALIF_KEYS):
        family, per = "resonator", RESONATOR_KEYS
    elif set(ALIF_KEYS) <= keys and not keys & set(RESONATOR_KEYS):
        family, per = "alif", ALIF_KEYS
    else:
        raise CheckpointError(f"{where}: its keys {sorted(keys)} are neither a resonator network's "
                              f"({', '.join(RESONATOR_KEYS)}) nor an ALIF network's "
                              f"({', '.join(ALIF_KEYS)})")
    missing = [k for k in COMMON_KEYS if k not in keys]
    if missing:
        raise CheckpointError(f"{where}: state-dict key(s) {missing} missing; truncated or not a "
                              "network checkpoint")
    if family == "alif":
        if neuron not in (None, "alif"):
            raise ConfigError(f"{where} is an ALIF network (hidden.tau_mem, hidden.tau_adp); "
                              f"--neuron {neuron} does not fit it")
        neuron = "alif"
    elif neuron is None:
        neuron = hints.get("neuron")
        if neuron is None or neuron == "alif":
            raise ConfigError(f"{where}: a resonator network whose name does not say whether it is "
                              "BRF, RF or BHRF (their state dicts are alike); give --neuron brf, "
                              "rf or bhrf")
        notes.append(f"neuron {neuron} from the file name")
    elif neuron not in ("brf", "rf", "bhrf"):
        raise ConfigError(f"{where} is a resonator network (hidden.omega, hidden.b_offset); "
                          f"--neuron {neuron} does not fit it (brf, rf or bhrf)")

    return neuron, per


def _sizes(sd: dict, per: tuple, where: str) -> tuple[int, int, int]:
    """(H, inputs, classes) from the tensors' shapes, which must agree with each other."""
    H = sd[per[0]].shape[0] if sd[per[0]].ndim == 1 else 0
    W, tau_o, W_o = sd["hidden.linear.weight"], sd["out.tau_mem"], sd["out.linear.weight"]
    if H < 1 or any(sd[k].shape != (H,) for k in per) or W.ndim != 2 or W.shape[0] != H \
            or W.shape[1] <= H or tau_o.ndim != 1 or W_o.shape != (tau_o.shape[0], H):
        shapes = {k: tuple(v.shape) for k, v in sd.items()}
        raise CheckpointError(f"{where}: inconsistent tensor shapes {shapes}")
    n_in, C = W.shape[1] - H, tau_o.shape[0]
    for k in sd:
        if not np.issubdtype(sd[k].dtype, np.floating):
            raise CheckpointError(f"{where}: {k} has dtype {sd[k].dtype}, expected floating point")
    return H, n_in, C


def _weights(sd: dict, where: str, notes: list[str]) -> tuple[np.ndarray, int]:
    """W (float64) with ``hidden.linear.mask`` applied, and how many weights the mask removes;
    all-zero biases are dropped, nonzero ones refused."""
    for k in BIAS_KEYS:
        if k in sd:
            if np.any(sd[k] != 0):
                raise CheckpointError(f"{where}: {k} is nonzero; resonet's networks have no biases "
                                      "(nor have the published official ones)")
            notes.append(f"{k} (all zero) dropped")
    W = np.asarray(sd["hidden.linear.weight"], dtype=np.float64)
    removed = 0
    if MASK_KEY in sd:
        mask = sd[MASK_KEY]
        if mask.shape != W.shape or not np.all((mask == 0) | (mask == 1)):
            raise CheckpointError(f"{where}: {MASK_KEY} must be a 0/1 array of W's shape {W.shape}")
        removed = int(np.count_nonzero(mask == 0))
        W = W * mask  # as LinearMask.forward does before every use
        if removed:
            notes.append(f"{MASK_KEY} removes {removed} weights (set to 0)")
    return W, removed


def _task_of(where: str, n_in: int, H: int, C: int, task: str | None, hints: dict,
             permutation, notes: list[str]) -> str:
    """The task: given (and checked against the sizes), else from the sizes, else from the file
    name or a given permutation (S-MNIST and PS-MNIST networks have the same sizes)."""
    from .presets import TASKS, get_preset

    fits = TASK_SIZES.get((n_in, C), ())
    if task is not None:
        if task not in TASKS:
            raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        if task not in fits:
            raise ConfigError(f"{where}: a {n_in}-{H}-{C} network does not fit task {task} "
                              f"(inputs-classes {get_preset(task).n_in}-{get_preset(task).n_out})")
    elif len(fits) == 1:
        task = fits[0]
    elif fits:  # S-MNIST or PS-MNIST
        if "permuted" in hints:
            task = "psmnist" if hints["permuted"] else "smnist"
            notes.append(f"task {task} from the file name")
        elif permutation is not None:
            task = "psmnist"
        else:
            raise ConfigError(f"{where}: a {n_in}-{H}-{C} network is S-MNIST or PS-MNIST and its name "
                              "does not say which; give --task smnist or --task psmnist")
    else:
        raise ConfigError(f"{where}: a {n_in}-{H}-{C} network fits none of resonet's tasks "
                          "(SHD 700-·-20, ECG 4-·-6, (P)S-MNIST 1-·-10)")
    return task


def _permutation_of(p: Path, task: str, permutation, notes: list[str]):
    """A PS-MNIST network's pixel order and where it came from: given (array, file or
    "identity") or the ``*_permuted_idx.pt`` with the checkpoint's time stamp beside it."""
    where = str(p)
    perm, perm_src = None, None
    if task == "psmnist":
        if isinstance(permutation, np.ndarray):
            perm, perm_src = np.asarray(permutation, dtype=np.int64), "given array"
        elif permutation is not None and str(permutation) == "identity":
            perm, perm_src = np.arange(784, dtype=np.int64), "identity (given)"
        elif permutation is not None:
            perm, perm_src = read_permutation(permutation), str(permutation)
        else:
            found = find_permutation(p)
            if found is None:
                raise ConfigError(f"{where}: a PS-MNIST network, but no *{PERM_SUFFIX} with its time "
                                  f"stamp {p.name[:STAMP_LEN]!r} beside it; give --permutation FILE "
                                  "or identity (permutation= in Python)")
            perm, perm_src = read_permutation(found), str(found)
            notes.append(f"permutation from {found.name}")
        if perm.shape != (784,) or not np.array_equal(np.sort(perm), np.arange(784)):
            raise ConfigError("the permutation must be a permutation of 0..783")
    elif permutation is not None:
        raise ConfigError(f"--permutation applies to PS-MNIST only; {where} is a {task} network")
    return perm, perm_src
