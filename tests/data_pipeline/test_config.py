"""TrainConfig: reference defaults, reference-header mapping, errors, identity."""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path

import pytest

from regseg.cli._overrides import parse_set
from regseg.config import TrainConfig
from regseg.errors import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data"
LEGACY_LOGS = sorted((DATA / "legacy_logs").glob("*.txt"))
REFERENCE_HEADERS = sorted((DATA / "reference_headers").glob("**/*.txt"))

# Training-relevant values of the reference's configs/cityscapes_500epochs.yaml.
REFERENCE_500 = {
    "model_name": "exp48_decoder26", "num_classes": 19, "ignore_value": 255, "epochs": 500,
    "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0001, "bn_weight_decay": False,
    "bn_precise_stats": False, "bn_precise_num_samples": 600, "lr_scheduler": "poly",
    "poly_power": 0.9, "warmup_iters": 3000, "warmup_factor": 0.1, "mixed_precision": True,
    "seed": 0, "loss_type": "cross_entropy", "eval_while_train": True,
    "exclude_classes": (14, 15, 16), "dataset_name": "cityscapes",
    "dataset_dir": "cityscapes_dataset", "batch_size": 8, "train_min_size": 400,
    "train_max_size": 1600, "train_crop_size": (768, 768), "val_input_size": 1024,
    "val_label_size": 1024, "aug_mode": "randaug_reduced", "num_workers": 6,
    "class_uniform_pct": 0.5, "train_split": "train", "val_split": "val", "max_eval": 600,
    "pretrained_path": None, "eval_every": 25, "eval_last_k_epochs": 15,
    "save_every_k_epochs": 25, "schedule_epochs": 500,
}
# sha256 of the default config's canonical JSON. Changing a field or a default changes every run's
# identity (and re-queues known runs): update this only on purpose.
DEFAULT_HASH = "a42710dbcfc0d1f1c3ba0f25816f715e5af6db4fe1afcdf78a7548d2248bb512"


def _header(path: Path) -> dict:
    with path.open(encoding="utf-8") as fh:
        return ast.literal_eval(fh.readline())


@pytest.mark.parametrize("field,value", sorted(REFERENCE_500.items()))
def test_defaults_are_the_reference_500_epoch_config(field, value):
    assert getattr(TrainConfig(), field) == value


def test_legacy_exp43_header_maps_the_fair_ablation_setting():
    cfg, ignored = TrainConfig.from_reference(
        _header(DATA / "legacy_logs/cityscapes_exp43_decoder14_500_epochs_fair_log.txt"))
    assert (cfg.model_name, cfg.aug_mode, cfg.train_min_size, cfg.train_max_size) == (
        "exp43_decoder14", "custom3", 256, 1792)
    assert (cfg.val_input_size, cfg.val_label_size) == (1024, 1024)  # from val_size
    assert cfg.dataset_dir == "cityscapes_dataset_half" and cfg.num_workers == 4
    assert cfg.exclude_classes == (14, 15, 16)  # the logged [16] is the reference's bug
    assert cfg.eval_last_k_epochs == 20 and cfg.eval_every == 25 and cfg.seed == 0
    assert {"model_type", "save_dir", "log_path", "run", "runs", "resume"} <= set(ignored)
    assert ignored == sorted(ignored)
    assert not set(ignored) & set(TrainConfig.model_fields)


def test_legacy_ddrnet_header_maps_the_competitor_run():
    cfg, ignored = TrainConfig.from_reference(
        _header(DATA / "legacy_logs/cityscapes_ddrnet23_1000_epochs_log.txt"))
    assert (cfg.model_name, cfg.epochs, cfg.schedule_epochs, cfg.aug_mode) == (
        "ddrnet23", 1000, 1000, "randaug_reduced")
    assert (cfg.train_min_size, cfg.train_max_size, cfg.eval_last_k_epochs) == (400, 1600, 30)
    assert "model_type" in ignored
    assert cfg.eval_epochs()[-31:] == [949] + list(range(970, 1000))


@pytest.mark.parametrize("path", REFERENCE_HEADERS + LEGACY_LOGS, ids=lambda p: p.stem)
def test_every_reference_header_translates(path):
    header = _header(path)
    cfg, ignored = TrainConfig.from_reference(header)
    assert cfg.train_crop_size == tuple(header["train_crop_size"])
    assert cfg.seed == header.get("RNG_seed", 0)
    assert set(ignored) <= set(header)


def test_bootstrapped_loss_and_renames():
    cfg, ignored = TrainConfig.from_reference({"loss_type": "bootstrapped", "RNG_seed": 3,
                                               "val_size": 512, "save_every_k_epochs": 10,
                                               "pretrained_path": "",
                                               "model_type": "experimental2", "max_epochs": 600,
                                               "epochs": 500})
    assert cfg.loss_type == "bootstrapped_cross_entropy" and cfg.seed == 3
    assert (cfg.val_input_size, cfg.val_label_size, cfg.eval_every, cfg.save_every_k_epochs) == (
        512, 512, 10, 10)
    assert cfg.pretrained_path is None and cfg.schedule_epochs == 600 and ignored == ["model_type"]


def test_reference_key_with_unimplemented_behaviour_is_refused():
    with pytest.raises(ConfigError, match=r"edge_aware_crop.*expected False.*got True"):
        TrainConfig.from_reference({"edge_aware_crop": True})


@pytest.mark.parametrize("kwargs,needles", [
    ({"lr": -1}, ["lr", "greater than 0", "-1"]),
    ({"lr_scheduler": "linear"}, ["lr_scheduler", "'poly'", "'linear'"]),
    ({"aug_mode": "mixup"}, ["aug_mode", "'custom3'", "'mixup'"]),
    ({"train_crop_size": [768]}, ["train_crop_size", "[height, width]", "[768]"]),
    ({"train_min_size": 2000}, ["train_min_size", "<= train_max_size (1600)", "2000"]),
    ({"exclude_classes": [19]}, ["exclude_classes", "[0, 19)", "[19]"]),
    ({"device": "gpu"}, ["device", "cuda:<index>", "'gpu'"]),
    ({"epochs": "many"}, ["epochs", "integer", "'many'"]),
    ({"class_uniform_pct": 1.5}, ["class_uniform_pct", "less than or equal to 1", "1.5"]),
    ({"learning_rate": 0.1}, ["learning_rate", "unknown field", "0.1"]),
])
def test_validation_errors_name_field_expected_and_actual(kwargs, needles):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**kwargs)
    for needle in needles:
        assert needle in str(info.value)


def test_unknown_field_suggests_the_close_name():
    with pytest.raises(ConfigError, match="did you mean warmup_iters"):
        TrainConfig(warmup_iter=10)


def test_frozen():
    cfg = TrainConfig()
    with pytest.raises(ConfigError, match="frozen"):
        cfg.lr = 0.1
    assert cfg.with_overrides(lr=0.1).lr == 0.1 and cfg.lr == 0.05


def test_run_hash_is_pinned_and_ignores_spelling():
    assert TrainConfig().run_hash() == DEFAULT_HASH
    a = TrainConfig(train_crop_size=[512, 1024], exclude_classes=[14, 15, 16], max_epochs=500)
    b = TrainConfig.from_dict(json.loads(a.canonical_json()))
    c = TrainConfig(exclude_classes=(14, 15, 16), train_crop_size=(512, 1024))
    assert a.run_hash() == b.run_hash() == c.run_hash()
    assert a.with_overrides(seed=1).run_hash() != a.run_hash()
    assert json.loads(a.canonical_json()).keys() == TrainConfig.model_fields.keys()


@pytest.mark.parametrize("epochs,every,last,expected", [
    (2, 25, 15, [0, 1]),
    (60, 25, 3, [0, 24, 49, 57, 58, 59]),
    (50, 25, 0, [0, 24, 49]),
])
def test_eval_epochs_follow_the_reference_schedule(epochs, every, last, expected):
    cfg = TrainConfig(epochs=epochs, eval_every=every, eval_last_k_epochs=last)
    assert cfg.eval_epochs() == expected
    assert cfg.should_evaluate(expected[-1]) and not cfg.with_overrides(
        eval_while_train=False).eval_epochs()


def test_parse_set_yaml_types_and_overrides():
    kv = parse_set(["lr=0.01", "train_crop_size=[512, 1024]", "mixed_precision=false",
                    "pretrained_path=", "model_name=exp48_decoder14"])
    assert kv == {"lr": 0.01, "train_crop_size": [512, 1024], "mixed_precision": False,
                  "pretrained_path": None, "model_name": "exp48_decoder14"}
    cfg = TrainConfig().with_overrides(**kv)
    assert cfg.train_crop_size == (512, 1024) and cfg.mixed_precision is False
    with pytest.raises(ConfigError, match="key=value"):
        parse_set(["lr"])


@pytest.mark.parametrize("suffix,text", [(".yaml", "lr: 0.01\ntrain_crop_size: [64, 128]\n"),
                                         (".json", '{"lr": 0.01, "train_crop_size": [64, 128]}')])
def test_from_file(tmp_path, suffix, text):
    path = tmp_path / f"cfg{suffix}"
    path.write_text(text)
    cfg = TrainConfig.from_file(path)
    assert cfg.lr == 0.01 and cfg.train_crop_size == (64, 128)


def test_from_file_errors_name_the_path(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        TrainConfig.from_file(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml.*mapping"):
        TrainConfig.from_file(bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("lr: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ConfigError, match=r"unsafe.yaml.*could not determine a constructor "
                                          r"for the tag .*python/object/apply"):
        TrainConfig.from_file(unsafe)


def test_aug_mode_names_match_the_registry():
    from regseg.data.augment import list_aug_modes

    assert sorted(typing.get_args(
        TrainConfig.model_fields["aug_mode"].annotation)) == list_aug_modes()


def test_regseg_exports_trainconfig():
    import regseg

    assert regseg.TrainConfig is TrainConfig
