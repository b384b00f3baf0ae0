"""Run identity survives the config growing: a field added with a behaviour-preserving default
keeps every existing run hash; setting it to another value gives a new identity."""

from __future__ import annotations

from typing import Literal

from regseg.config import SCHEMA1_FIELDS, TrainConfig


class GrownConfig(TrainConfig):
    """TrainConfig as a later version might extend it."""

    label_smoothing: float = 0.0
    sampler: Literal["uniform", "balanced"] = "uniform"
    extra_sizes: tuple[int, ...] = (1, 2)


CONFIGS = [
    {},
    {"model_name": "exp43_decoder26", "lr": 0.02, "seed": 3},
    {"train_crop_size": [512, 1024], "epochs": 1000, "class_uniform_pct": 0.0},
]


def test_a_field_added_with_its_default_keeps_existing_hashes():
    for values in CONFIGS:
        assert GrownConfig(**values).run_hash() == TrainConfig(**values).run_hash(), values


def test_a_field_set_away_from_its_default_is_a_new_identity():
    base = TrainConfig(seed=1).run_hash()
    assert GrownConfig(seed=1, label_smoothing=0.1).run_hash() != base
    assert GrownConfig(seed=1, sampler="balanced").run_hash() != base
    assert GrownConfig(seed=1, extra_sizes=(3,)).run_hash() != base
    assert GrownConfig(seed=1, extra_sizes=(1, 2)).run_hash() == base  # the default again


def test_schema1_fields_are_still_fields_and_always_hashed():
    assert SCHEMA1_FIELDS <= set(TrainConfig.model_fields)
    identity = TrainConfig().identity()
    assert set(identity) >= SCHEMA1_FIELDS  # defaults of schema 1 stay in, as hashes had them
    # fields added after schema 1 stay out while they keep their default
    assert not (set(identity) - SCHEMA1_FIELDS)


def test_the_complete_config_is_still_stored():
    import json

    assert set(json.loads(TrainConfig().canonical_json())) == set(TrainConfig.model_fields)
