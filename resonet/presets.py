"""The paper's training presets (Table 3, as the official scripts ran them; docs/official-code.md
§4).

Every default of ``python -m resonet.train``: network sizes, recorded steps, initialisation
ranges, optimizer, learning rate, batch size, epochs and clipping, per task and neuron. What a
task fixes for every model (sizes, label kind, input form) is declared by the task
(:mod:`resonet.tasks`); what a model chooses (initial ranges, optimizer, learning rate, …) is
declared by the model itself (``PRESETS`` in ``resonet/neurons/<model>.py``); this module puts the
two together. Values marked "official" come from the official scripts or
committed checkpoints; "paper" from Table 3 only; "resonet" are our choices where neither exists
(documented in docs/training.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .errors import ConfigError
from .neurons import DEFAULT_NEURON, NEURONS
from .tasks import Task, get_task, preset_tasks

TASKS = preset_tasks()  # the paper's tasks (those the neuron models declare presets for)


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
    events: bool = False  # the samples are spike events (the task's input form)
    readout: str = "li"  # the readout's α (resonet.neurons.li): "li" or "li_sigmoid"
    dtype: str | None = None  # the training precision where the preset fixes it (else the backend's)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_overrides(self, **kw) -> Preset:
        unknown = set(kw) - set(self.to_dict())
        if unknown:
            raise ConfigError(f"unknown preset setting(s): {sorted(unknown)}")
        return replace(self, **kw)


def task_events(task: str) -> bool:
    """Whether the task's samples are spike events (what its loader returns as an
    ``EventDataset``): the registry's declaration."""
    return get_task(task).events


def task_has_stand_in(task: str) -> bool:
    """Whether the task has a generated stand-in (``--synthetic``) for absent real files."""
    return get_task(task).stand_in


def get_preset(task: str | Task, neuron: str = DEFAULT_NEURON, base: str | None = None) -> Preset:
    """The default settings for ``task`` and ``neuron``: what the task fixes (sizes, label kind,
    input form; :mod:`resonet.tasks`), then the model's own ``PRESETS[task]`` (declared in its
    module, resonet.neurons.<model>).

    A task whose files decide its sizes (custom, after :meth:`Task.with_files`) takes the
    presets of ``base`` (``--preset TASK``), else of its ``defaults_from`` task (SHD): that
    task's H and the model's settings for it; its labels stay the files' own, except that
    one label per sample is scored on the last step only where ``base`` does so (S-MNIST)."""
    t = get_task(task) if isinstance(task, str) else task
    if neuron not in NEURONS:  # every registered model has a preset for every paper task
        raise ConfigError(f"unknown neuron {neuron!r}; choose one of {', '.join(NEURONS)}")
    if t.n_in is None or t.n_out is None or t.T is None:
        raise ConfigError(f"task {t.name} takes its sizes from its files: give --train and --test")
    if base is not None and not t.from_files:
        raise ConfigError(f"--preset {base} is for the task custom; the task {t.name} has its own "
                          "presets")
    key = base or (t.name if t.has_presets else t.defaults_from)
    if key not in preset_tasks():
        raise ConfigError(f"--preset {key!r}: choose one of {', '.join(preset_tasks())}")
    pt = get_task(key)
    labels = t.labels
    if t.from_files and pt.label_last:
        if labels == "step":
            raise ConfigError(f"--preset {key} scores only the last step, but the labels are per "
                              "step (y is (N, T)); choose another --preset")
        labels = "last"
    settings = {"per_step_labels": labels == "step", "label_last": labels == "last",
                **NEURONS[neuron].PRESETS[key]}
    return Preset(task=t.name, neuron=neuron, n_in=t.n_in, n_hidden=pt.n_hidden,
                  n_out=t.n_out, T=t.T, events=t.events, **settings)
