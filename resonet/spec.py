"""What fixes a network's computation apart from its parameter values: the contract every engine
reads (the NumPy reference, the CPU and the CUDA kernels).

- :class:`NetworkSpec`: neuron model, sizes (one or several stacked hidden layers), biases, time
  step, reset, recorded steps; the parameter names and shapes in the official
  ``named_parameters()`` order.
- :func:`check_params`: every parameter present, with its shape, finite.
- :func:`truncation_cuts`: where truncated BPTT detaches the states.

Shape letters (fixed everywhere in resonet): T time, B batch, I inputs, H hidden, C classes;
with stacked layers H_l is the width of layer l and I_l its input (I_1 = I, I_l = H_{l−1}).

Parameter names follow the official modules: one hidden layer is ``hidden.*`` (``RSNN``), stacked
layers are ``hidden1.*``, ``hidden2.*``, … (``DoubleALIFRNN``); each layer has its neuron
parameters, ``linear.weight`` (H_l, I_l + H_l) and, with ``bias``, ``linear.bias`` (H_l,); the
readout ``out.tau_mem``, ``out.linear.weight`` (C, H_L) and, with ``bias``, ``out.linear.bias``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .errors import ConfigError
from .neurons import get_neuron
from .neurons.li import READOUTS
from .neurons.model import NeuronModel, ablations

RESETS = ("none", "soft", "hard", "mod")


@dataclass(frozen=True)
class NetworkSpec:
    """Everything that fixes the computation except the parameter values."""

    neuron: str  # a name of resonet.neurons.NEURONS
    n_in: int  # I
    n_hidden: int | tuple[int, ...]  # H, or (H_1, …, H_L) for L >= 2 stacked recurrent layers
    n_out: int  # C
    dt: float = 0.01  # δ of the resonator updates
    p_dt: float = 0.01  # δ used in p(ω): the official code fixes it at 0.01 whatever dt is
    reset: str = "none"  # "none" | "soft" | "hard" | "mod", for the models that declare them
    sub_seq_length: int = 0  # steps t < sub_seq_length are not recorded
    label_last: bool = False  # record only the last step
    bias: bool = False  # hidden and readout biases (the official ``bias=True``)
    readout: str = "li"  # "li" (α = exp(−1/|τ_o|)) | "li_sigmoid" (α = σ(τ_o)), resonet.neurons.li
    # mechanisms removed from the model (its ABLATIONS): given as names or "a,b", kept sorted
    ablate: tuple[str, ...] | str = ()

    def __post_init__(self) -> None:
        model = get_neuron(self.neuron)  # raises ConfigError for an unknown name
        # one width is an int, several a tuple (a list from JSON or TOML becomes one); a sequence
        # of one width is that int, so a one-layer spec has one spelling (and one hash)
        object.__setattr__(self, "n_hidden", _widths(self.n_hidden))
        for name in ("n_in", "n_out"):
            v = getattr(self, name)
            if not _positive(v):
                raise ConfigError(f"{name} must be a positive integer, got {v!r}")
        if not isinstance(self.bias, (bool, np.bool_)):
            raise ConfigError(f"bias must be true or false, got {self.bias!r}")
        if not (0 < self.dt <= 1) or not (0 < self.p_dt <= 1):
            raise ConfigError(f"dt and p_dt must lie in (0, 1], got dt={self.dt}, p_dt={self.p_dt}")
        if self.readout not in READOUTS:
            raise ConfigError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        if self.reset not in RESETS:
            raise ConfigError(f"reset must be one of {RESETS}, got {self.reset!r}")
        if self.reset not in model.RESETS:
            raise ConfigError(f"reset={self.reset!r} is not defined for the {self.neuron} neuron "
                              f"(it has: {', '.join(model.RESETS)})")
        if self.reset == "mod" and len(self.layers) > 1:
            raise ConfigError("reset='mod' (graded spikes) runs one hidden layer: stacked layers "
                              "pass binary spikes between them; give one width")
        if self.sub_seq_length < 0:
            raise ConfigError(f"sub_seq_length must be >= 0, got {self.sub_seq_length}")
        object.__setattr__(self, "ablate", check_ablate(self.neuron, self.ablate))

    @property
    def model(self) -> NeuronModel:
        """The neuron model's module (its declaration; see :mod:`resonet.neurons`)."""
        return get_neuron(self.neuron)

    @property
    def layers(self) -> tuple[int, ...]:
        """The widths (H_1, …, H_L) of the recurrent layers, input side first."""
        return self.n_hidden if isinstance(self.n_hidden, tuple) else (int(self.n_hidden),)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def layer_inputs(self) -> tuple[int, ...]:
        """The input width I_l of every layer: I, then the width of the layer below."""
        return (self.n_in,) + self.layers[:-1]

    @property
    def width(self) -> int:
        """H of a network with one hidden layer; ConfigError for stacked layers (for what is
        defined on one layer only: the analyses, recurrent pruning)."""
        if self.n_layers != 1:
            raise ConfigError(f"this needs a network with one hidden layer; this one has "
                              f"{self.n_layers} ({','.join(map(str, self.layers))})")
        return self.layers[0]

    def prefix(self, layer: int) -> str:
        """The parameter prefix of layer ``layer`` (0-based): ``hidden`` for a single layer,
        ``hidden1``, ``hidden2``, … for stacked ones (the official module names)."""
        return "hidden" if self.n_layers == 1 else f"hidden{layer + 1}"

    def state_key(self, layer: int, name: str) -> str:
        """The key of a state trace in ``Result.states``: the state's name (``z``, ``u``, …) for a
        single layer, ``hidden<l>.<name>`` for stacked ones."""
        return name if self.n_layers == 1 else f"{self.prefix(layer)}.{name}"

    @property
    def hidden_param_names(self) -> tuple[str, ...]:
        """The neuron parameters of every layer (``hidden.omega``, or ``hidden1.omega``, …)."""
        return tuple(f"{self.prefix(l)}.{n}" for l in range(self.n_layers)
                     for n in self.model.PARAM_NAMES)

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Parameter names and shapes, in the official ``named_parameters()`` order (a module's
        own parameters before its ``linear`` child's: neuron parameters, weight, bias)."""
        C = self.n_out
        shapes: dict[str, tuple[int, ...]] = {}
        for l, (I, H) in enumerate(zip(self.layer_inputs, self.layers)):
            pre = self.prefix(l)
            for n in self.model.PARAM_NAMES:
                shapes[f"{pre}.{n}"] = (H,)
            shapes[f"{pre}.linear.weight"] = (H, I + H)
            if self.bias:
                shapes[f"{pre}.linear.bias"] = (H,)
        shapes["out.tau_mem"] = (C,)
        shapes["out.linear.weight"] = (C, self.layers[-1])
        if self.bias:
            shapes["out.linear.bias"] = (C,)
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
        d = asdict(self)
        if d["readout"] == "li":  # the readout every spec had before there was a choice: left
            del d["readout"]  # out, so that older run directories and checkpoints still match
        if d["ablate"]:
            d["ablate"] = list(self.ablate)
        else:  # the same for the ablations: the whole model, as every spec before them
            del d["ablate"]
        if isinstance(self.n_hidden, tuple):
            d["n_hidden"] = list(self.n_hidden)  # as JSON and TOML write it
        return d

    def describe(self) -> str:
        """``700-128-20`` or ``700-128,128-20`` (the sizes as the command line writes them)."""
        return f"{self.n_in}-{','.join(map(str, self.layers))}-{self.n_out}"


def check_ablate(neuron: str, value) -> tuple[str, ...]:
    """The ablations of a spec as a sorted tuple of names the model declares (its ``ABLATIONS``,
    :func:`resonet.neurons.model.ablations`); ConfigError for anything else."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"ablate must be a list of names, got {value!r}")
    known = ablations(get_neuron(neuron))
    bad = [v for v in value if v not in known]
    if bad:
        have = ", ".join(known) if known else "none"
        raise ConfigError(f"ablate: {bad[0]!r} is not a mechanism of the {neuron} neuron that can "
                          f"be removed (it has: {have})")
    return tuple(sorted(set(value)))


def _positive(v) -> bool:
    return bool(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) and v >= 1)


def _widths(v) -> int | tuple[int, ...]:
    """``n_hidden`` as stored: an int for one layer, a tuple of ints for several."""
    if isinstance(v, Sequence) and not isinstance(v, str):
        if not v or not all(_positive(h) for h in v):
            raise ConfigError(f"n_hidden must be a positive integer or a list of them (one per "
                              f"layer), got {list(v)!r}")
        ws = tuple(int(h) for h in v)
        return ws[0] if len(ws) == 1 else ws
    if not _positive(v):
        raise ConfigError(f"n_hidden must be a positive integer or a list of them (one per "
                          f"layer), got {v!r}")
    return int(v)


def layer_params(spec: NetworkSpec, params: dict, layer: int) -> dict:
    """The parameters of hidden layer ``layer`` without their prefix: the neuron parameters by
    name, ``weight`` (H_l, I_l + H_l) and ``bias`` (H_l,) or None."""
    pre = spec.prefix(layer)
    out = {n: params[f"{pre}.{n}"] for n in spec.model.PARAM_NAMES}
    out["weight"] = params[f"{pre}.linear.weight"]
    out["bias"] = params.get(f"{pre}.linear.bias") if spec.bias else None
    return out


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
