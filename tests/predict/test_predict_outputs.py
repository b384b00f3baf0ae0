"""`predict` on the synthetic val split with trained weights: open every written PNG and check
sizes, palette colours, the overlay blend, the ground truth and the error map."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from regseg.predict import predict
from regseg.predict.palette import ERROR_COLOR, ERROR_IGNORE_COLOR, palette_for

VAL = "leftImg8bit/val"


def _rgb(path):
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def predicted(trained_run, synthetic_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("predicted")
    summary = predict("exp48_decoder26", trained_run.best, [synthetic_dataset / VAL], out,
                      overlay=0.3, batch=3, device="cpu")
    return summary, out


def test_summary_counts_every_val_image(predicted, synthetic_dataset):
    summary, out = predicted
    images = sorted((synthetic_dataset / VAL).rglob("*_leftImg8bit.png"))
    assert summary.images == len(images) == 8 and summary.with_ground_truth == 8
    assert summary.num_classes == 19 and summary.seconds > 0
    assert summary.images_per_s == pytest.approx(summary.images / summary.seconds)
    for image in images:
        stem = image.parent.name + "/" + image.name.removesuffix("_leftImg8bit.png")
        for suffix in ("_pred.png", "_overlay.png", "_gt.png", "_error.png"):
            assert (out / (stem + suffix)).is_file(), stem + suffix


def test_written_pngs_have_palette_colours_sizes_and_blend(predicted, synthetic_dataset):
    _, out = predicted
    palette = palette_for(19)
    seen_classes = set()
    for image_path in sorted((synthetic_dataset / VAL).rglob("*_leftImg8bit.png")):
        base = out / image_path.parent.name / image_path.name.removesuffix("_leftImg8bit.png")
        image = _rgb(image_path)
        pred_png = Image.open(f"{base}_pred.png")
        assert pred_png.mode == "P" and pred_png.size == (128, 64)
        ids = np.asarray(pred_png)
        assert ids.max() < 19
        seen_classes |= set(np.unique(ids).tolist())
        np.testing.assert_array_equal(_rgb(f"{base}_pred.png"), palette[ids])
        expected = np.rint(0.7 * image.astype(np.float64) + 0.3 * palette[ids].astype(np.float64))
        overlay = _rgb(f"{base}_overlay.png")
        assert overlay.shape == image.shape
        assert np.abs(overlay.astype(int) - expected.astype(int)).max() <= 1

        label = np.asarray(Image.open(str(image_path).replace("leftImg8bit", "gtFine").replace(
            "_gtFine.png", "_gtFine_labelTrainIds.png")))
        np.testing.assert_array_equal(np.asarray(Image.open(f"{base}_gt.png")), label)
        error = _rgb(f"{base}_error.png")
        wrong = (ids != label) & (label != 255)
        assert ((error[wrong] == ERROR_COLOR).all()
                and (error[label == 255] == ERROR_IGNORE_COLOR).all())
        correct = (ids == label) & (label != 255)
        dimmed = np.rint(image[correct] * 0.3).astype(int)
        assert np.abs(error[correct].astype(int) - dimmed).max() <= 1
    assert len(seen_classes) >= 3  # trained weights: not a constant map


def test_input_size_changes_the_model_input_not_the_outputs(trained_run, synthetic_dataset,
                                                            tmp_path):
    image = next((synthetic_dataset / VAL).rglob("*_leftImg8bit.png"))
    summary = predict("exp48_decoder26", trained_run.best, [image], tmp_path, input_size=(32, 64))
    assert summary.images == 1
    stem = image.name.removesuffix("_leftImg8bit.png")
    for suffix in ("_pred.png", "_overlay.png", "_gt.png", "_error.png"):
        assert Image.open(tmp_path / f"{stem}{suffix}").size == (128, 64)


def test_batching_does_not_change_predictions(trained_run, synthetic_dataset, tmp_path, predicted):
    _, batched = predicted
    predict("exp48_decoder26", trained_run.best, [synthetic_dataset / VAL], tmp_path, batch=1)
    for one in sorted(tmp_path.rglob("*_pred.png")):
        a = np.asarray(Image.open(one))
        b = np.asarray(Image.open(batched / one.relative_to(tmp_path)))
        assert (a == b).mean() > 0.999


def test_image_without_label_gets_prediction_and_overlay_only(trained_run, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(
        tmp_path / "in/sub/street.jpg")
    summary = predict("exp48_decoder26", trained_run.best, [tmp_path / "in"], tmp_path / "out")
    assert (summary.images, summary.with_ground_truth) == (1, 0)
    assert sorted(p.name for p in (tmp_path / "out" / "sub").iterdir()) == ["street_overlay.png",
                                                                             "street_pred.png"]
    assert Image.open(tmp_path / "out/sub/street_pred.png").size == (56, 40)


def test_label_ids_are_mapped_when_train_ids_are_missing(trained_run, synthetic_dataset, tmp_path):
    from regseg.data.labels import cityscapes_id_to_train_id_lut

    image = next((synthetic_dataset / VAL).rglob("*_leftImg8bit.png"))
    city, stem = image.parent.name, image.name.removesuffix("_leftImg8bit.png")
    (tmp_path / VAL / city).mkdir(parents=True)
    (tmp_path / "gtFine/val" / city).mkdir(parents=True)
    shutil.copy(image, tmp_path / VAL / city / image.name)
    ids_file = synthetic_dataset / "gtFine/val" / city / f"{stem}_gtFine_labelIds.png"
    shutil.copy(ids_file, tmp_path / "gtFine/val" / city / ids_file.name)
    summary = predict("exp48_decoder26", trained_run.best, [tmp_path], tmp_path / "out")
    assert (summary.images, summary.with_ground_truth) == (1, 1)  # gtFine/ files are not inputs
    gt = np.asarray(Image.open(tmp_path / "out" / VAL / city / f"{stem}_gt.png"))
    np.testing.assert_array_equal(gt,
                                  cityscapes_id_to_train_id_lut()[np.asarray(Image.open(ids_file))])
