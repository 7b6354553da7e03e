"""What fixes a network's computation apart from its parameter values: the contract every engine
reads (the NumPy reference, the CPU and the CUDA kernels).

- :class:`NetworkSpec`: neuron model, sizes, time step, reset, recorded steps; the parameter
  names and shapes in the official ``named_parameters()`` order.
- :func:`check_params`: every parameter present, with its shape, finite.
- :func:`truncation_cuts`: where truncated BPTT detaches the states.

Shape letters (fixed everywhere in resonet): T time, B batch, I inputs, H hidden, C classes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import ConfigError
from .neurons import get_neuron
from .neurons.model import NeuronModel

RESETS = ("none", "soft", "hard")


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that fixes the computation except the parameter values."""

    neuron: str  # a name of resonet.neurons.NEURONS
    n_in: int  # I
    n_hidden: int  # H
    n_out: int  # C
    dt: float = 0.01  # δ of the resonator updates
    p_dt: float = 0.01  # δ used in p(ω): the official code fixes it at 0.01 whatever dt is
    reset: str = "none"  # "none" | "soft" | "hard", for the models that declare them (rf)
    sub_seq_length: int = 0  # steps t < sub_seq_length are not recorded
    label_last: bool = False  # record only the last step

    def __post_init__(self) -> None:
        model = get_neuron(self.neuron)  # raises ConfigError for an unknown name
        for name in ("n_in", "n_hidden", "n_out"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if not (0 < self.dt <= 1) or not (0 < self.p_dt <= 1):
            raise ConfigError(f"dt and p_dt must lie in (0, 1], got dt={self.dt}, p_dt={self.p_dt}")
        if self.reset not in RESETS:
            raise ConfigError(f"reset must be one of {RESETS}, got {self.reset!r}")
        if self.reset not in model.RESETS:
            raise ConfigError(f"reset={self.reset!r} is not defined for the {self.neuron} neuron "
                              f"(it has: {', '.join(model.RESETS)})")
        if self.sub_seq_length < 0:
            raise ConfigError(f"sub_seq_length must be >= 0, got {self.sub_seq_length}")

    @property
    def model(self) -> NeuronModel:
        """The neuron model's module (its declaration; see :mod:`resonet.neurons`)."""
        return get_neuron(self.neuron)

    @property
    def hidden_param_names(self) -> tuple[str, ...]:
        return tuple(f"hidden.{n}" for n in self.model.PARAM_NAMES)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter names and shapes, in the official ``named_parameters()`` order."""
        H, I, C = self.n_hidden, self.n_in, self.n_out
        shapes: dict[str, tuple[int, ...]] = {n: (H,) for n in self.hidden_param_names}
        shapes["hidden.linear.weight"] = (H, I + H)
        shapes["out.tau_mem"] = (C,)
        shapes["out.linear.weight"] = (C, H)
        return shapes

    def n_params(self) -> int:
        return int(sum(np.prod(s) for s in self.param_shapes().values()))

    def recorded(self, T: int) -> np.ndarray:
        """Indices of the recorded steps (eq. (N4))."""
        if self.sub_seq_length >= T:
            raise ConfigError(
                f"sub_seq_length={self.sub_seq_length} leaves no recorded step of a T={T} sequence"
            )
        if self.label_last:
            return np.array([T - 1])
        return np.arange(self.sub_seq_length, T)

    def to_dict(self) -> dict:
        return asdict(self)


def check_params(spec: NetworkSpec, params: dict) -> None:
    """Every parameter present, with its shape, finite; raises ConfigError naming the tensor."""
    for name, shape in spec.param_shapes().items():
        if name not in params:
            raise ConfigError(f"parameter {name} is missing (expected shape {shape})")
        p = np.asarray(params[name])
        if p.shape != shape:
            raise ConfigError(f"parameter {name} has shape {p.shape}, expected {shape}")
        if not np.all(np.isfinite(p)):
            raise ConfigError(f"parameter {name} contains NaN or Inf")


def truncation_cuts(T: int, truncation: int | None) -> np.ndarray | None:
    """cut[t] is True where the states are detached after step t: chunks of k steps.

    Cuts after t = k−1, 2k−1, … (so chunks [0, k), [k, 2k), …). The official TBPTT classes cut
    after t ≡ 0 (mod k) instead (chunks {0}, [1, k], [k+1, 2k], …) and also update the
    parameters after every chunk; resonet returns one gradient for the whole sequence.
    """
    if truncation is None:
        return None
    if truncation < 1:
        raise ConfigError(f"truncation length must be >= 1, got {truncation}")
    cut = (np.arange(T) + 1) % truncation == 0
    cut[-1] = False
    return cut
