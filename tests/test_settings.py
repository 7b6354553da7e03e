"""resonet.settings: the resolved settings are frozen, round-trip through config.json, and read
like its dict."""

from __future__ import annotations

import dataclasses
import json

import pytest

from resonet.errors import CheckpointError, ConfigError
from resonet.settings import Settings, build_parser, resolve_settings


def resolve(*argv):
    return resolve_settings(build_parser().parse_args(list(argv)))


def test_round_trip_through_config_json():
    s = resolve("ecg", "--neuron", "lif", "--epochs", "3", "--clip", "0")
    saved = json.loads(json.dumps(s.to_dict()))  # tuples come back as lists
    back = Settings.from_dict(saved)
    assert back.to_dict() == saved and back.clip is None and back.epochs == 3
    assert back.network.neuron == "lif" and back.preset["neuron"] == "lif"


def test_frozen_and_read_like_a_dict():
    s = resolve("shd")
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.lr = 1.0
    assert s["lr"] == s.lr == 0.075 and s.get("threads") is None and dict(s) == s.to_dict()
    with pytest.raises(KeyError):
        s["nope"]
    assert s.replace(stop_after=2).stop_after == 2 and s.stop_after is None


def test_unknown_or_missing_saved_settings_are_refused():
    d = resolve("shd").to_dict()
    with pytest.raises(CheckpointError, match="unknown setting"):
        Settings.from_dict({**d, "warp": 9}, "run/config.json")
    del d["task"]
    with pytest.raises(CheckpointError, match="incomplete"):
        Settings.from_dict(d, "run/config.json")


def test_reset_only_where_the_model_has_it():
    assert resolve("shd", "--neuron", "rf", "--reset", "hard").spec["reset"] == "hard"
    with pytest.raises(ConfigError, match="--reset soft is not defined for --neuron if"):
        resolve("shd", "--neuron", "if", "--reset", "soft")
