"""The sample-images callback in a real (tiny) training run, and its index choice."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from regseg.predict.palette import palette_for
from regseg.predict.samples import SampleImagesCallback, evenly_spaced_indices


@pytest.mark.parametrize("length, count, expected", [
    (8, 3, [0, 4, 7]), (500, 4, [0, 166, 333, 499]), (3, 4, [0, 1, 2]), (10, 1, [0]), (0, 4, []),
])
def test_evenly_spaced_indices(length, count, expected):
    assert evenly_spaced_indices(length, count) == expected


def test_panels_are_written_at_the_best_epoch(trained_run):
    samples = trained_run.samples
    summary = json.loads((trained_run.out_dir / "summary.json").read_text())
    assert samples.epoch == summary["best_epoch"]
    assert trained_run.best_calls >= 1
    assert [p.name for p in samples.written] == ["sample_00000.png", "sample_00004.png",
                                                 "sample_00007.png"]
    assert all(p.parent == trained_run.out_dir / "predictions" for p in samples.written)
    assert samples.total_seconds >= samples.last_seconds > 0
    print(f"sample images: {samples.last_seconds:.3f} s per call for {len(samples.indices)} "
          f"64x128 images ({trained_run.best_calls} calls, {samples.total_seconds:.3f} s in all)")


def test_panel_holds_image_ground_truth_prediction_and_errors(trained_run):
    samples = trained_run.samples
    palette = palette_for(19)
    colours = {tuple(c) for c in palette[:19]} | {(0, 0, 0)}
    for path, index in zip(samples.written, samples.indices):
        panel = np.asarray(Image.open(path).convert("RGB"))
        assert panel.shape == (2 * 64 + 2, 2 * 128 + 2, 3)
        assert (panel[64:66] == 255).all() and (panel[:, 128:130] == 255).all()  # white gaps
        _, label = samples.dataset[index]
        gt = panel[:64, 130:]
        np.testing.assert_array_equal(gt, palette[label.numpy().astype(np.uint8)])
        prediction = panel[66:, :128]
        assert {tuple(c) for c in prediction.reshape(-1, 3)} <= colours


def test_a_call_keeps_the_train_mode_and_predicts_like_the_model(trained_run):
    from regseg.models import build_model

    samples = trained_run.samples
    model = build_model("exp48_decoder26")
    model.load_state_dict(torch.load(trained_run.best, weights_only=True)["model"])
    model.train()
    callback = SampleImagesCallback(samples.dataset, [4], trained_run.out_dir / "again")
    (path,) = callback.write(model)
    assert model.training
    image, _ = samples.dataset[4]
    model.eval()
    with torch.no_grad():
        expected = model(image[None]).argmax(1)[0].numpy().astype(np.uint8)
    panel = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(panel[66:, :128], palette_for(19)[expected])
    with pytest.raises(Exception, match="expected 0 <= index < 8"):
        SampleImagesCallback(samples.dataset, [8], trained_run.out_dir)
