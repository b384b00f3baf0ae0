"""Strict types at the config boundary: numbers are numbers, booleans booleans (issue 18).

Constructors, ``--set`` values, config files and specs all reach TrainConfig, so each path is
tried with a value lax validation would have coerced, and with the spellings JSON / YAML produce
on their own (lists for tuples, ``1e-4`` read as a string by YAML 1.1), which must still load.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from regseg.cli._overrides import parse_set
from regseg.config import TrainConfig
from regseg.errors import ConfigError

COERCIBLE = [
    ("lr", True, "got True (bool)"),
    ("lr", "0.05", "got '0.05' (str)"),
    ("epochs", "6", "got '6' (str)"),
    ("epochs", 6.0, "got 6.0 (float)"),
    ("epochs", False, "got False (bool)"),
    ("mixed_precision", 1, "got 1 (int)"),
    ("mixed_precision", "yes", "got 'yes' (str)"),
    ("num_classes", 19.0, "got 19.0 (float)"),
    ("max_epochs", "10", "got '10' (str)"),
    ("exclude_classes", ["14"], "got '14' (str)"),
    ("model_name", 48, "got 48 (int)"),
]


@pytest.mark.parametrize(("field", "value", "got"), COERCIBLE)
def test_a_coercible_value_of_the_wrong_type_is_rejected(field: str, value, got: str):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{field: value})
    message = str(info.value)
    assert message.startswith(f"invalid TrainConfig: {field}")
    assert "expected " in message and got in message
    assert "\n" not in message


@pytest.mark.parametrize(("items", "field", "got"), [
    (["lr=true"], "lr", "True (bool)"),
    (["epochs='6'"], "epochs", "'6' (str)"),
    (["bn_weight_decay=0"], "bn_weight_decay", "0 (int)"),
])
def test_set_values_keep_their_yaml_type(items: list[str], field: str, got: str):
    with pytest.raises(ConfigError, match=f"{field}: expected .*got {re.escape(got)}"):
        TrainConfig(**parse_set(items))


def test_numbers_json_and_yaml_write_still_load():
    items = ["lr=1e-3", "weight_decay=5E-4", "epochs=6", "lr_scheduler=cosine"]
    cfg = TrainConfig(**parse_set(items))
    assert (cfg.lr, cfg.weight_decay, cfg.epochs) == (0.001, 0.0005, 6)
    assert TrainConfig(lr=1).lr == 1.0 and isinstance(TrainConfig(lr=1).lr, float)


def test_json_and_yaml_round_trips_keep_tuples():
    cfg = TrainConfig(train_crop_size=(64, 128), exclude_classes=(1, 2), max_epochs=30, epochs=20)
    from_json = TrainConfig(**json.loads(json.dumps(cfg.model_dump(mode="json"))))
    from_yaml = TrainConfig(**yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json"))))
    assert from_json == cfg == from_yaml
    assert from_json.exclude_classes == (1, 2) and from_json.train_crop_size == (64, 128)
    assert from_json.run_hash() == cfg.run_hash()


def test_a_config_file_error_names_the_file_field_expected_and_actual(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("epochs: 2\nlr: true\nweight_decay: 1e-4\n")
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_file(path)
    message = str(info.value)
    assert str(path) in message and "lr: expected a valid number" in message
    assert "got True (bool)" in message and "\n" not in message
    path.write_text("epochs: 2\nlr: 0.01\nweight_decay: 1e-4\ntrain_crop_size: [64, 128]\n")
    cfg = TrainConfig.from_file(path)
    assert (cfg.lr, cfg.weight_decay, cfg.train_crop_size) == (0.01, 0.0001, (64, 128))
