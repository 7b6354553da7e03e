"""Training with pruned recurrent weights (``--prune-recurrent PHI``; the BRF paper's Fig. 7).

A fixed random mask removes recurrent connections before training starts, and they stay removed
for the whole run: the network is trained from scratch as a sparser network, not pruned after
training (that is :mod:`analysis.pruning`).

**The mask.** Only the recurrent block W_rec = W_h[:, I:] (H × H) of the hidden weight matrix
W_h (H, I+H) is masked; the input block W_h[:, :I] and the readout are never touched. With
u_ij ~ U[0, 1) i.i.d.,

    keep_ij = (u_ij ≥ φ)                                                         (P1)

so every recurrent weight is removed with probability φ, independently (the official
``LinearMask`` draws ``U > φ``; ``≥`` makes φ = 0 keep every weight and φ = 1 remove every one
exactly). The realised fraction scatters around φ (sd √(φ(1 − φ)/H²): 1.4 points for ECG's
H = 36 at φ = 0.5). Because the same u serve every φ, the masks of one seed are nested: a
weight removed at φ is removed at every φ′ > φ.

**Its random stream.** u comes from its own generator,
``numpy.random.default_rng(SeedSequence(seed, spawn_key=(PRUNE_STREAM,)))``, not from the one
that initialises the parameters (``default_rng(seed)``). So the same seed gives every φ the same
initial network apart from the removed weights, and φ = 0 leaves a run bit-identical to a run
without the option.

**Keeping the weights at 0.** At initialisation the removed weights are set to +0.0. At every
training step their gradient is set to 0 before anything else reads it (the finiteness check,
the clipping norm, the optimizer), on the host (:class:`resonet.session.HostSession`) and on the
device (:class:`resonet.kernels.cuda.session.DeviceSession`). With g = 0 from the first step on,
the optimizers never move them: Adam's and RAdam's m and v and RMSprop's v stay exactly 0, and
every update is then 0 · (finite factor) = 0, since ε > 0 keeps each denominator positive
(RAdam's rectified and unrectified steps alike). The removed weights therefore stay +0.0 exactly
(tests/test_pruning.py runs each optimizer past RAdam's rectification threshold to check it).

The official code instead zeroes the masked weights on every forward pass and lets Adam move them
in between; the forward passes are the same, but its global gradient norm (clipping) includes the
masked gradients. Table 3's TBPTT column ("truncation step of 50 … in pruning") cannot be
reproduced as it was run: the official TBPTT class has no mask, and resonet's ``--truncation``
returns one gradient per sequence (docs/analysis.md, "Pruning from scratch").

**In the run directory.** Its mask file (``prune_mask.npz``, :attr:`resonet.rundir.RunDir.mask`)
holds ``keep`` (H, H) bool, ``phi``, ``seed`` and ``stream``. ``--resume`` takes the mask from it
(drawing it again from the seed only if the file is missing) and checks that the checkpoint's
removed weights are still 0.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write_bytes
from .errors import CheckpointError, ConfigError
from .spec import NetworkSpec

PRUNE_STREAM = 0x7072756E  # "prun": the spawn key of the mask's random stream
W_KEY = "hidden.linear.weight"


def check_phi(phi) -> float:
    """φ as a float in [0, 1]; ConfigError otherwise."""
    try:
        f = float(phi)
    except (TypeError, ValueError):
        raise ConfigError(f"--prune-recurrent must be a number in [0, 1], got {phi!r}") from None
    if isinstance(phi, bool) or not (math.isfinite(f) and 0.0 <= f <= 1.0):
        raise ConfigError(f"--prune-recurrent must be a number in [0, 1] (the probability that a "
                          f"recurrent weight is removed), got {phi!r}")
    return f


def mask_rng(seed: int) -> np.random.Generator:
    """The mask's own random stream for ``seed`` (module docstring)."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(PRUNE_STREAM,)))


def recurrent_keep(n_hidden: int, phi: float, seed: int) -> np.ndarray:
    """keep (H, H) bool, eq. (P1): True where the recurrent weight W_h[i, I + j] stays."""
    phi = check_phi(phi)
    u = mask_rng(seed).random((n_hidden, n_hidden))
    return u >= phi


def weight_masks(spec: NetworkSpec, keep: np.ndarray) -> dict:
    """``{"hidden.linear.weight": (H, I+H) bool}``: ``keep`` on the recurrent block, True on the
    input block. The form the training sessions take (``masks=``)."""
    H, I = spec.width, spec.n_in
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != (H, H):
        raise ConfigError(f"recurrent mask has shape {keep.shape}, expected (H, H) = {(H, H)}")
    full = np.ones((H, I + H), dtype=bool)
    full[:, I:] = keep
    return {W_KEY: full}


def frozen_params(spec: NetworkSpec, freeze: dict | None) -> dict[str, float]:
    """The parameters ``--freeze`` fixes, with their values (``hidden.tau_mem``, or one per
    layer of a stack)."""
    return {f"{spec.prefix(l)}.{n}": v for l in range(spec.n_layers)
            for n, v in (freeze or {}).items()}


def training_masks(spec: NetworkSpec, masks: dict | None, freeze: dict | None) -> dict | None:
    """The gradient masks a training session takes: the pruned weights' (``masks``) and, for
    each frozen parameter, all False -- its gradient is set to 0, so Adam's, RAdam's and
    RMSprop's moments stay 0 and its update is exactly 0 (the value never changes). Unlike the
    pruning masks these are never applied to the parameters themselves."""
    out = dict(masks or {})
    shapes = spec.param_shapes()
    for name in frozen_params(spec, freeze):
        out[name] = np.zeros(shapes[name], dtype=bool)
    return out or None


def apply_masks(params: dict, masks: dict | None) -> None:
    """Set the removed weights to +0.0, in place."""
    for name, keep in (masks or {}).items():
        params[name][~keep] = 0.0


def mask_grads(grads: dict, masks: dict | None) -> None:
    """Set the gradients of the removed weights to 0, in place (an assignment, so a NaN there
    cannot reach the finiteness check or the clipping norm)."""
    for name, keep in (masks or {}).items():
        grads[name][~keep] = 0.0


def check_masked(params: dict, masks: dict | None, where: str) -> None:
    """CheckpointError if a removed weight of ``params`` is not 0."""
    for name, keep in (masks or {}).items():
        bad = int(np.count_nonzero(np.asarray(params[name])[~keep]))
        if bad:
            raise CheckpointError(f"{where}: {bad} pruned weight(s) of {name} are not 0; the "
                                  "checkpoint does not belong to this run's pruning mask")


def save_mask(path: str | Path, keep: np.ndarray, phi: float, seed: int) -> Path:
    """Write the mask file ``path`` (a run directory's ``prune_mask.npz``) atomically."""
    path = Path(path)
    buf = io.BytesIO()
    np.savez(buf, keep=np.asarray(keep, dtype=bool), phi=np.float64(phi), seed=np.int64(seed),
             stream=np.int64(PRUNE_STREAM))
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_mask(path: str | Path, n_hidden: int) -> np.ndarray | None:
    """``keep`` from the mask file ``path``, or None if there is none."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            keep = np.asarray(f["keep"])
    except Exception as exc:  # a zip/npz reader raises many kinds
        raise CheckpointError(f"{path}: unreadable pruning mask ({exc})") from None
    if keep.dtype != bool or keep.shape != (n_hidden, n_hidden):
        raise CheckpointError(f"{path}: mask has dtype {keep.dtype} and shape {keep.shape}, "
                              f"expected bool ({n_hidden}, {n_hidden})")
    return keep


def run_masks(spec: NetworkSpec, phi: float, seed: int, mask_path: str | Path | None = None,
              *, create: bool) -> tuple[dict | None, np.ndarray | None]:
    """The masks of a run: ``(masks, keep)``, or ``(None, None)`` for φ = 0 (nothing removed).

    ``create``: a new run, draw the mask and write it to ``mask_path`` (the run directory's mask
    file, when given); otherwise (a resume) read it from there, drawing it again from the seed
    only if the file is missing.
    """
    if check_phi(phi) == 0.0:
        return None, None
    keep = None if create or mask_path is None else load_mask(mask_path, spec.width)
    if keep is None:
        keep = recurrent_keep(spec.width, phi, seed)
        if create and mask_path is not None:
            save_mask(mask_path, keep, phi, seed)
    return weight_masks(spec, keep), keep
