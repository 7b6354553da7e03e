"""resonet.settings: the resolved settings are frozen, round-trip through config.json and read like
its dict; typed values with their source in messages, the settings hash, and the machine checks
(threads, the memory estimate) made before a run directory exists."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from resonet.errors import CheckpointError, ConfigError
from resonet.neurons import NEURONS
from resonet.resources import check_resources, estimate_memory
from resonet.settings import (
    Settings,
    build_parser,
    describe_sources,
    resolve,
    resolve_settings,
)

GiB = 2**30


def resolve_argv(*argv):
    return resolve_settings(build_parser().parse_args(list(argv)))


def test_round_trip_through_config_json():
    s = resolve_argv("ecg", "--neuron", "lif", "--epochs", "3", "--clip", "0")
    saved = json.loads(json.dumps(s.to_dict()))  # tuples come back as lists
    back = Settings.from_dict(saved)
    assert back.to_dict() == saved and back.clip is None and back.epochs == 3
    assert back.network.neuron == "lif" and back.preset["neuron"] == "lif"


def test_frozen_and_read_like_a_dict():
    s = resolve_argv("shd")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = 1.0
    assert s["lr"] == s.lr == 0.075 and s.get("threads") is None and dict(s) == s.to_dict()
    with pytest.raises(KeyError):
        s["nope"]
    assert s.replace(stop_after=2).stop_after == 2 and s.stop_after is None


def test_unknown_or_missing_saved_settings_are_refused():
    d = resolve_argv("shd").to_dict()
    with pytest.raises(CheckpointError, match="unknown setting"):
        Settings.from_dict({**d, "warp": 9}, "run/config.json")
    del d["task"]
    with pytest.raises(CheckpointError, match="incomplete"):
        Settings.from_dict(d, "run/config.json")


def test_reset_only_where_the_model_has_it():
    assert resolve_argv("shd", "--neuron", "rf", "--reset", "hard").spec["reset"] == "hard"
    with pytest.raises(ConfigError, match="--reset soft is not defined for the if neuron"):
        resolve_argv("shd", "--neuron", "if", "--reset", "soft")


def toml_resolve(cfg: dict, given: dict | None = None, name: str = "c.toml") -> Settings:
    given = dict(given or {})
    src = describe_sources(given, lambda k, v: f"--{k.replace('_', '-')} {v}", cfg, name)
    return resolve(given, cfg, source=src)


@pytest.mark.parametrize("cfg,needle", [
    ({"task": "ecg", "epochs": "three"}, "c.toml: epochs = 'three' must be an integer"),
    ({"task": "ecg", "epochs": 2.5}, "c.toml: epochs = 2.5 must be an integer"),
    ({"task": "ecg", "hidden": True}, "c.toml: hidden = True must be a positive integer"),
    ({"task": "ecg", "lr": "0.1"}, "c.toml: lr = '0.1' must be a number"),
    ({"task": "ecg", "download": "yes"}, "c.toml: download = 'yes' must be true or false"),
    ({"task": "ecg", "neuron": "brff"}, "c.toml: neuron = 'brff' is not one of"),
    ({"task": "ecg", "optimizer": "sgd"}, "c.toml: optimizer = 'sgd' is not one of"),
    ({"task": "ecg", "data_dir": 3}, "c.toml: data_dir = 3 must be a string"),
    ({"task": "ecg", "clip": -1.0}, "c.toml: clip = -1.0 must be >= 0"),
    ({"task": "ecg", "save_every": float("nan")}, "c.toml: save_every = nan must be >= 0"),
])
def test_config_file_values_are_type_checked_and_named(cfg, needle):
    with pytest.raises(ConfigError) as e:
        toml_resolve(cfg)
    assert needle in str(e.value)


def test_reset_from_a_config_file_is_named_as_such():
    # the reset comes from the file, the neuron from the command line: the message says so
    # (it used to say "--reset soft", a flag the user never typed)
    with pytest.raises(ConfigError) as e:
        toml_resolve({"task": "shd", "reset": "soft"}, {"neuron": "alif"})
    msg = str(e.value)
    assert msg.startswith("c.toml: reset = 'soft' is not defined for the alif neuron")
    assert "--neuron alif" in msg and "--reset" not in msg


def test_clip_zero_and_inf_disable_clipping():
    assert toml_resolve({"task": "ecg", "clip": 0}).clip is None
    assert toml_resolve({"task": "smnist", "clip": float("inf")}).clip is None
    assert toml_resolve({"task": "smnist"}).clip == 1.0  # the preset's


def test_fingerprint_survives_config_json_and_sees_every_edit():
    s = toml_resolve({"task": "ecg", "epochs": 3})
    back = Settings.from_dict(json.loads(json.dumps(s.to_dict())), "config.json")
    assert back.fingerprint() == s.fingerprint()
    assert s.replace(stop_after=1).fingerprint() == s.fingerprint()  # --resume --stop-after
    for change in ({"lr": 0.05}, {"neuron": "rf"}, {"seed": 1}, {"dtype": "float64"}):
        assert s.replace(**change).fingerprint() != s.fingerprint(), change


def test_config_json_values_are_type_checked():
    d = toml_resolve({"task": "ecg"}).to_dict()
    d["hidden"] = "36"
    with pytest.raises(CheckpointError, match=r"config.json: hidden = '36' must be an integer"):
        Settings.from_dict(d, "config.json")
    d = toml_resolve({"task": "ecg"}).to_dict()
    d["spec"] = {**d["spec"], "neuron": "nope"}
    with pytest.raises(CheckpointError, match="nope"):
        Settings.from_dict(d, "config.json")


# ---------------------------------------------------------------------------------- resources
def test_threads_above_the_cores_are_refused():
    s = toml_resolve({"task": "ecg", "threads": 3})
    with pytest.raises(ConfigError, match="--threads 3 is more than the 2 CPU core"):
        check_resources(s, threads=2, available=64 * GiB)
    check_resources(s, threads=3, available=64 * GiB)


@pytest.mark.parametrize("neuron", list(NEURONS))
@pytest.mark.parametrize("task", ["shd", "ecg"])
def test_the_cpu_tape_estimate_is_the_engines_allocation(neuron, task):
    """The estimate's BPTT tape is exactly what the cpu engine allocates for a batch."""
    tape_bytes_per_sample = pytest.importorskip("resonet.kernels.cpu").tape_bytes_per_sample
    s = toml_resolve({"task": task, "neuron": neuron, "hidden": 24, "batch": 8})
    T = s.preset["T"]
    est = estimate_memory(s)
    assert est["BPTT tape"] == 8 * tape_bytes_per_sample(s.network, T, s.np_dtype)
    P = s.network.n_params()
    size = np.dtype(s.np_dtype).itemsize  # float32, but float64 for the ECG ALIF preset
    assert est["parameters"] == P * (8 + size)  # float64 initialisation + the training copy
    moments = 1 if s.optimizer == "rmsprop" else 2  # Adam/RAdam: m and v
    assert est["optimizer state"] == moments * P * size


def test_a_huge_network_is_refused_with_its_estimate():
    s = toml_resolve({"task": "shd", "hidden": 10_000_000})
    est = estimate_memory(s)
    # W alone is H·(I + H) ≈ 1e14 entries: 728 TiB in float64
    assert est["parameters"] > 700 * 2**40
    with pytest.raises(ConfigError) as e:
        check_resources(s, available=64 * GiB)
    msg = str(e.value)
    assert "PiB" in msg and "64.0 GiB free on this machine" in msg and "--hidden" in msg
    assert "parameters" in msg


def test_the_cuda_backend_checks_host_and_gpu_memory_apart():
    s = toml_resolve({"task": "shd", "backend": "cuda", "hidden": 20_000, "batch": 256})
    est = estimate_memory(s)
    # the per-sample dW_in buffers of the device session (B·I·H entries), but no per-sample
    # copy of every parameter: dW_rec comes from the Ī tape (docs/cuda-kernels.md, grad_rec)
    P = s.network.n_params()
    device = est["gradients"] + est["BPTT tape"]
    assert 256 * 700 * 20_000 * 4 <= device < 256 * P * 4 / 10
    check_resources(s, available=1024 * GiB, device_available=2**60)
    with pytest.raises(ConfigError, match="free on the GPU; use a smaller"):
        check_resources(s, available=1024 * GiB, device_available=16 * GiB)


def test_a_huge_batch_points_at_the_batch():
    s = toml_resolve({"task": "ecg", "batch": 10_000_000})
    with pytest.raises(ConfigError, match="use a smaller --batch"):
        check_resources(s, available=64 * GiB)


@pytest.mark.parametrize("task,backend", [("shd", "cpu"), ("ecg", "cpu"), ("smnist", "cpu"),
                                          ("psmnist", "cpu"), ("shd", "reference"),
                                          ("ecg", "reference")])
def test_the_paper_presets_fit_in_one_gib(task, backend):
    """The estimate must not refuse the runs the project exists for (a laptop has far more).
    (The float64 reference keeps every state of a (P)S-MNIST batch: > 1 GiB, rightly.)"""
    s = toml_resolve({"task": task, "backend": backend})
    assert sum(estimate_memory(s).values()) < GiB
    check_resources(s, available=GiB, threads=64)


# ------------------------------------------------------------------- stacked layers and biases
@pytest.mark.parametrize("value,layers", [("128,128", (128, 128)), ("64", (64,)),
                                          (" 32, 16 ,8", (32, 16, 8)), ([128, 128], (128, 128)),
                                          ((20, 10), (20, 10)), (48, (48,))])
def test_hidden_lists_stack_layers(value, layers):
    """--hidden 128,128 (the command line), hidden = [128, 128] or "128,128" (TOML), a list or a
    tuple (Python): one recurrent layer per width; one width stays an int (the old spelling)."""
    s = toml_resolve({"task": "shd"}, {"hidden": value})
    assert s.network.layers == layers
    assert s.hidden == (list(layers) if len(layers) > 1 else layers[0])
    back = Settings.from_dict(json.loads(json.dumps(s.to_dict())), "config.json")
    assert back.hidden == s.hidden and back.network == s.network
    assert back.fingerprint() == s.fingerprint()


def test_hidden_and_bias_from_the_command_line():
    s = resolve_argv("shd", "--neuron", "alif", "--hidden", "128,128", "--bias")
    assert s.network.layers == (128, 128) and s.bias and s.network.bias
    assert not resolve_argv("shd").bias


def test_table1_shd_alif_network_has_142120_parameters():
    """Table 1's SHD ALIF row (the official DoubleALIFRNN: 700-128-128-20 ALIF with biases) is
    --neuron alif --hidden 128,128 --bias."""
    s = resolve_argv("shd", "--neuron", "alif", "--hidden", "128,128", "--bias")
    assert s.network.n_params() == 142_120
    # without biases 128 + 128 + 20 fewer; one layer of 128 is the RSNN's count
    assert resolve_argv("shd", "--neuron", "alif", "--hidden", "128,128").network.n_params() \
        == 142_120 - 128 - 128 - 20


@pytest.mark.parametrize("value", ["0", "-3", "128,0", "128,", ",", "12.5", "1e3", "abc",
                                   "128;128", ""])
def test_bad_hidden_lists_fail_with_one_line(value):
    with pytest.raises(ConfigError) as e:
        resolve_argv("shd", "--hidden", value)
    msg = str(e.value)
    assert msg.startswith(f"--hidden {value} must be a positive integer or a comma-separated list")
    assert "\n" not in msg


@pytest.mark.parametrize("value", [[128, 0], [], [12.0], [True, 3], -1, 0, "x,y", 2.5])
def test_bad_hidden_values_from_a_config_file(value):
    with pytest.raises(ConfigError, match=r"^c.toml: hidden = .* must be a positive integer"):
        toml_resolve({"task": "ecg", "hidden": value})


def test_bias_must_be_a_bool_and_fingerprints_of_older_runs_hold():
    with pytest.raises(ConfigError, match="c.toml: bias = 'yes' must be true or false"):
        toml_resolve({"task": "ecg", "bias": "yes"})
    s = toml_resolve({"task": "ecg"})
    assert s.replace(bias=True, spec={**s.spec, "bias": True}).fingerprint() != s.fingerprint()
    # a config.json written before biases existed (no "bias" anywhere) has the same fingerprint
    old = s.to_dict()
    old.pop("bias")
    old["spec"] = {k: v for k, v in old["spec"].items() if k != "bias"}
    assert Settings.from_dict(old, "config.json").fingerprint() == s.fingerprint()


def test_recurrent_pruning_of_stacked_layers_is_refused():
    with pytest.raises(ConfigError, match=r"--prune-recurrent 0.5 needs a network with one hidden "
                                          r"layer \(--hidden 8,8 stacks 2\)"):
        resolve_argv("ecg", "--hidden", "8,8", "--prune-recurrent", "0.5")


def test_split_seed_seed_draws_each_runs_split_from_its_seed():
    # the official scripts draw a fresh split per run: --split-seed seed follows --seed; the
    # resolved number is what config.json keeps (a resume gets the same split back)
    assert resolve_argv("ecg", "--seed", "3", "--split-seed", "seed").split_seed == 3
    assert resolve_argv("ecg", "--seed", "3").split_seed == 0
    assert resolve_argv("ecg", "--seed", "3", "--split-seed", "7").split_seed == 7
    assert toml_resolve({"task": "ecg", "seed": 4, "split_seed": "seed"}).split_seed == 4
    with pytest.raises(ConfigError, match="c.toml: split_seed = 'run' must be an integer or 'seed'"):
        toml_resolve({"task": "ecg", "split_seed": "run"})
    with pytest.raises(ConfigError, match="must be >= 0"):
        toml_resolve({"task": "ecg", "split_seed": -1})
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ecg", "--split-seed", "run"])


def test_the_per_run_splits_differ_between_seeds():
    from resonet.tasks.model import split_indices

    a, b = split_indices(618, 1, 0.1), split_indices(618, 2, 0.1)
    assert not np.array_equal(np.sort(a[1]), np.sort(b[1]))
    assert np.array_equal(np.sort(np.concatenate(a)), np.arange(618))
