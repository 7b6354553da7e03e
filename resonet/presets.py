"""The paper's training presets (Table 3, as the official scripts ran them; docs/official-code.md
§4).

Every default of ``python -m resonet.train``: network sizes, recorded steps, initialisation
ranges, optimizer, learning rate, batch size, epochs and clipping, per task and neuron. What a
task fixes for every model (sizes, labelling) is here; what a model chooses (initial ranges,
optimizer, learning rate, …) is declared by the model itself (``PRESETS`` in
``resonet/neurons/<model>.py``). Values marked "official" come from the official scripts or
committed checkpoints; "paper" from Table 3 only; "resonet" are our choices where neither exists
(documented in docs/training.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .errors import ConfigError
from .neurons import DEFAULT_NEURON, NEURONS

TASKS = ("shd", "ecg", "smnist", "psmnist")


@dataclass(frozen=True)
class Preset:
    task: str
    neuron: str
    n_in: int
    n_hidden: int
    n_out: int
    T: int
    sub_seq_length: int = 0
    label_last: bool = False
    per_step_labels: bool = False
    init: dict = field(default_factory=dict)  # neuron param ranges + "out_tau" (mean, std)
    optimizer: str = "adam"
    lr: float = 0.1
    batch: int = 32
    eval_batch: int = 256
    epochs: int = 20
    clip: float | None = None  # global-norm clipping (S-MNIST only in the official code)
    best_rule: str = "<"  # "<" keeps the first minimum of the validation loss, "<=" the last
    source: str = "official"

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, **kw) -> Preset:
        unknown = set(kw) - set(self.to_dict())
        if unknown:
            raise ConfigError(f"unknown preset setting(s): {sorted(unknown)}")
        return replace(self, **kw)


# What a task fixes whatever the model: sizes I, H, C, T and how it is labelled and scored.
_SIZES = {  # I, H, C, T
    "shd": (700, 128, 20, 250),
    "ecg": (4, 36, 6, 1300),
    "smnist": (1, 256, 10, 784),
    "psmnist": (1, 256, 10, 784),
}
# How a task's samples come: spike events (SHD: lists of (step, channel)) or dense arrays. An
# engine that skips zeros takes events as such (resonet.contract.feeds_events).
_EVENTS = {"shd": True, "ecg": False, "smnist": False, "psmnist": False}
# The tasks with a generated stand-in for when the real files are absent (resonet.data.synthetic).
_STAND_IN = {"shd"}
_TASK_DEFAULTS = {
    "shd": {},
    "ecg": {"per_step_labels": True},  # a label per step (−1 unlabelled)
    "smnist": {"label_last": True},  # the official S-MNIST records only the last step
    "psmnist": {},  # the official PS-MNIST records every step
}


def task_events(task: str) -> bool:
    """Whether the task's samples are spike events (what its loader returns as an
    ``EventDataset``)."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return _EVENTS[task]


def task_has_stand_in(task: str) -> bool:
    """Whether the task has a generated stand-in (``--synthetic``) for absent real files."""
    return task in _STAND_IN


def get_preset(task: str, neuron: str = DEFAULT_NEURON) -> Preset:
    """The default settings for ``task`` and ``neuron``: the task's sizes and labelling, then the
    model's own ``PRESETS[task]`` (declared in its module, resonet.neurons.<model>)."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if neuron not in NEURONS:  # every registered model has a preset for every task
        raise ConfigError(f"unknown neuron {neuron!r}; choose one of {', '.join(NEURONS)}")
    I, H, C, T = _SIZES[task]
    settings = {**_TASK_DEFAULTS[task], **NEURONS[neuron].PRESETS[task]}
    return Preset(task=task, neuron=neuron, n_in=I, n_hidden=H, n_out=C, T=T, **settings)
