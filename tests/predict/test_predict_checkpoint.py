"""Loading checkpoints for prediction: the release-style checkpoint, the class count taken from
the checkpoint, and foreign checkpoints named after the zoo model they fit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from regseg.models import build_model
from regseg.predict import ModelMismatchError, WeightsFileError, predict
from regseg.predict.checkpoint import fitting_models, load_for_prediction, signature
from regseg.predict.inference import Predictor

COMPAT = Path(__file__).resolve().parents[1] / "data" / "compat"


def _save(tmp_path, name, num_classes, filename="w.pt"):
    path = tmp_path / filename
    torch.save({"model": build_model(name, num_classes=num_classes).state_dict()}, path)
    return path


def test_release_checkpoint_predicts_the_reference_argmax():
    model, num_classes = load_for_prediction("exp48_decoder26", COMPAT / "exp48_decoder26.pt")
    assert num_classes == 19
    inputs = torch.load(COMPAT / "exp48_decoder26.input.pt", weights_only=True)
    reference = torch.load(COMPAT / "exp48_decoder26.logits.pt", weights_only=True)
    (pred,) = Predictor(model, device="cpu").predict(inputs, [tuple(inputs.shape[-2:])])
    agree = (torch.from_numpy(pred).long() == reference.argmax(1)[0]).float().mean().item()
    assert agree > 0.9999


def test_release_checkpoint_predicts_images(synthetic_dataset, tmp_path):
    image = next((synthetic_dataset / "leftImg8bit/val").rglob("*_leftImg8bit.png"))
    summary = predict("exp48_decoder26", COMPAT / "exp48_decoder26.pt", [image], tmp_path)
    assert (summary.images, summary.with_ground_truth, summary.num_classes) == (1, 1, 19)
    assert len(list(tmp_path.glob("*.png"))) == 4


def test_class_count_comes_from_the_checkpoint(tmp_path):
    model, num_classes = load_for_prediction("exp30_decoder14",
                                             _save(tmp_path, "exp30_decoder14", 11))
    assert num_classes == 11
    assert model(torch.zeros(1, 3, 32, 64)).shape == (1, 11, 32, 64)


@pytest.mark.parametrize("actual, classes", [("exp30_decoder14", 7), ("ddrnet23slim", 5)])
def test_a_foreign_checkpoint_names_the_model_it_fits(tmp_path, actual, classes):
    weights = _save(tmp_path, actual, classes)
    with pytest.raises(ModelMismatchError) as info:
        load_for_prediction("exp48_decoder26", weights)
    message = str(info.value)
    assert info.value.exit_code == 2 and "\n" not in message
    assert "do not fit exp48_decoder26" in message
    assert f"they fit {actual} ({classes} classes): use --model {actual}" in message


def test_bodies_that_differ_only_in_dilations_are_all_named_the_requested_first(tmp_path):
    weights = _save(tmp_path, "exp43_lraspp", 19)
    with pytest.raises(ModelMismatchError) as info:
        load_for_prediction("exp48_decoder26", weights)
    message = str(info.value)
    assert "use --model exp48_lraspp" in message and "exp43_lraspp (19 classes)" in message


def test_fitting_models_agrees_with_strict_loading():
    state = build_model("exp47_decoder12", num_classes=3).state_dict()
    found = fitting_models(state)
    assert ("exp47_decoder12", 3) in found
    for name, n in found:  # every name offered really loads strictly
        build_model(name, num_classes=n).load_state_dict(state, strict=True)


def test_signature_leaves_only_the_classifier_open():
    sig = signature("exp48_decoder26")
    assert dict(sig.class_dims) == {"decoder.classifier.weight": 0, "decoder.classifier.bias": 0}
    assert len(sig.shapes) == len(build_model("exp48_decoder26").state_dict())


def test_a_checkpoint_of_no_zoo_model_says_so(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({"model": {"encoder.weight": torch.zeros(3, 3)}}, path)
    with pytest.raises(ModelMismatchError, match="no zoo model fits them either"):
        load_for_prediction("exp48_decoder26", path)


def test_missing_and_unreadable_weights_files(tmp_path):
    with pytest.raises(WeightsFileError, match="expected an existing file"):
        load_for_prediction("exp48_decoder26", tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(WeightsFileError, match="not a weights-only torch file"):
        load_for_prediction("exp48_decoder26", tmp_path / "junk.pt")
