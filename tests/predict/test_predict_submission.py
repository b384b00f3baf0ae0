"""`--cityscapes-submission`: the labelIds files, scored by cityscapesscripts' own evaluation
against the synthetic ground truth, give the mIoU `regseg eval` reports for the same weights."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from regseg.predict import predict


@pytest.fixture(scope="module")
def submission(trained_run, synthetic_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("submission")
    summary = predict("exp48_decoder26", trained_run.best, [synthetic_dataset / "leftImg8bit/val"],
                      root / "visuals", submission_dir=root / "results", batch=4, device="cpu")
    return summary, root / "results"


def test_submission_layout_and_label_ids(submission, synthetic_dataset):
    from cityscapesscripts.helpers.labels import labels

    summary, results = submission
    evaluated_ids = {lb.id for lb in labels if not lb.ignoreInEval}
    images = sorted((synthetic_dataset / "leftImg8bit/val").rglob("*_leftImg8bit.png"))
    written = sorted(results.rglob("*.png"))
    assert [p.relative_to(results).as_posix() for p in written] == \
        [f"{p.parent.name}/{p.name}" for p in images]
    for path in written:
        im = Image.open(path)
        assert im.mode == "L" and im.size == (128, 64)
        assert set(np.unique(np.asarray(im)).tolist()) <= evaluated_ids


def _regseg_eval_miou(weights, data, capsys, monkeypatch) -> float:
    from regseg.cli import main

    monkeypatch.setattr(sys, "argv", ["regseg", "eval", "--model", "exp48_decoder26", "--weights",
                                      str(weights), "--data", str(data), "--dataset", "synthetic",
                                      "--val-size", "64", "--device", "cpu", "--no-progress",
                                      "--format", "json"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code in (0, None)
    return json.loads(capsys.readouterr().out)["mIoU"]


def _cityscapes_miou(results, data, monkeypatch) -> float:
    from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs

    for name, value in {"predictionPath": str(results), "predictionWalk": None, "quiet": True,
                        "JSONOutput": False, "evalInstLevelScore": False,
                        "evalPixelAccuracy": False}.items():
        monkeypatch.setattr(cs.args, name, value, raising=False)
    ground_truth = sorted(str(p) for p in (data / "gtFine/val").rglob("*_gtFine_labelIds.png"))
    predictions = [cs.getPrediction(cs.args, gt) for gt in ground_truth]
    result = cs.evaluateImgLists(predictions, ground_truth, cs.args)
    return 100.0 * result["averageScoreClasses"]


def test_cityscapes_evaluation_matches_regseg_eval(submission, trained_run, synthetic_dataset,
                                                    capsys, monkeypatch):
    _, results = submission
    ours = _regseg_eval_miou(trained_run.best, synthetic_dataset, capsys, monkeypatch)
    theirs = _cityscapes_miou(results, synthetic_dataset, monkeypatch)
    print(f"regseg eval mIoU {ours:.4f}, cityscapesscripts mIoU {theirs:.4f}")
    assert ours > 1.0  # trained weights, several classes right
    assert theirs == pytest.approx(ours, abs=0.01)
