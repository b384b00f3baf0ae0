"""Metrics: hand-computed confusion matrices, and agreement with cityscapesscripts' evaluation."""

import math

import numpy as np
import pytest
import torch

from regseg.metrics import (
    ConfusionMatrix,
    iou_per_class,
    mean_iou,
    miou_reduced,
    pixel_accuracy,
    summarize,
)


def _matrix(target, pred, n):
    cm = ConfusionMatrix(n)
    cm.update(torch.as_tensor(target), torch.as_tensor(pred))
    return cm


def test_confusion_matrix_rows_are_ground_truth_and_ignore_is_skipped():
    cm = _matrix([0, 0, 1, 1, 2, 255], [0, 1, 1, 1, 0, 2], 3)
    assert cm.numpy().tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert cm.numpy().dtype == np.int64


def test_update_accumulates_and_reset_clears():
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([[0, 1]]), torch.tensor([[0, 1]]))
    cm.update(torch.tensor([1]), torch.tensor([0]))
    assert cm.numpy().tolist() == [[1, 0], [1, 1]]
    cm.reset()
    assert cm.numpy().sum() == 0


def test_hand_computed_ious_in_percent():
    # class 0: TP 1, FN 1, FP 1 -> 1/3; class 1: TP 2, FP 1 -> 2/3; class 2: TP 0 -> 0
    cm = _matrix([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 3)
    assert iou_per_class(cm) == pytest.approx([100 / 3, 200 / 3, 0.0])
    assert mean_iou(cm) == pytest.approx(100 / 3)
    assert pixel_accuracy(cm) == pytest.approx(60.0)
    assert miou_reduced(cm, exclude_classes=[2]) == pytest.approx(50.0)


def test_absent_class_is_nan_and_skipped_by_the_means():
    cm = _matrix([0, 1], [0, 1], 3)  # class 2 neither present nor predicted
    ious = iou_per_class(cm)
    assert ious[:2].tolist() == [100.0, 100.0] and math.isnan(ious[2])
    assert mean_iou(cm) == 100.0


def test_summarize_uses_contract_names_and_default_reduced_classes():
    n = 19
    target = torch.arange(n).repeat(2)
    pred = target.clone()
    pred[14:17] = 0  # first copy of truck/bus/train wrong -> their IoU 50, road IoU 2/5
    m = summarize(_matrix(target, pred, n), class_names=[f"c{i}" for i in range(n)])
    assert m["iou/c14"] == pytest.approx(50.0)
    assert m["iou/c0"] == pytest.approx(40.0)
    assert m["mIoU"] == pytest.approx((40 + 3 * 50 + 15 * 100) / 19)
    assert m["mIoU_reduced"] == pytest.approx((40 + 15 * 100) / 16)
    assert m["pixel_accuracy"] == pytest.approx(100 * 35 / 38)
    assert list(m)[:3] == ["mIoU", "mIoU_reduced", "pixel_accuracy"]


def _write_cityscapes_pair(root, pred_dir, index, train_gt, train_pred):
    from cityscapesscripts.helpers.labels import trainId2label
    from PIL import Image

    def to_label_ids(a):
        out = np.zeros(a.shape, dtype=np.uint8)  # 0 = "unlabeled", ignored in evaluation
        for train_id in range(19):
            out[a == train_id] = trainId2label[train_id].id
        return out

    stem = f"tinycity_000000_{index:06d}"
    gt_path = root / "gtFine" / "val" / "tinycity" / f"{stem}_gtFine_labelIds.png"
    gt_path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_label_ids(train_gt)).save(gt_path)
    Image.fromarray(to_label_ids(train_pred)).save(pred_dir / f"{stem}_leftImg8bit.png")
    return str(gt_path)


def _cityscapes_scores(gt_files, pred_dir):
    import cityscapesscripts.evaluation.evalPixelLevelSemanticLabeling as cs_eval

    args = cs_eval.args
    saved = dict(vars(args))
    try:
        args.predictionPath = str(pred_dir)
        args.predictionWalk = None
        args.evalInstLevelScore = False
        args.JSONOutput = False
        args.quiet = True
        args.colorized = False
        preds = [cs_eval.getPrediction(args, gt) for gt in gt_files]
        return cs_eval.evaluateImgLists(preds, gt_files, args)
    finally:
        vars(args).clear()
        vars(args).update(saved)


def test_miou_matches_cityscapesscripts(tmp_path):
    from cityscapesscripts.helpers.labels import trainId2label

    rng = np.random.default_rng(0)
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    cm = ConfusionMatrix(19)
    gt_files = []
    for index in range(3):
        gt = rng.integers(0, 17, size=(16, 32))           # classes 17, 18 never in the ground truth
        gt[rng.random(gt.shape) < 0.1] = 255              # some pixels ignored
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, 17, size=gt.shape))
        pred = np.where(pred == 255, 3, pred)
        gt[0, 0], pred[0, 0] = 5, 18                      # class 18 predicted once: IoU 0
        pred[1, 0] = 17 if gt[1, 0] == 255 else pred[1, 0]  # on an ignored pixel: not counted
        gt_files.append(_write_cityscapes_pair(tmp_path, pred_dir, index, gt, pred))
        cm.update(torch.from_numpy(gt), torch.from_numpy(pred))

    results = _cityscapes_scores(gt_files, pred_dir)
    ours = iou_per_class(cm)
    assert math.isnan(ours[17]) and math.isnan(results["classScores"][trainId2label[17].name])
    assert ours[18] == 0.0
    for train_id in range(17):
        theirs = results["classScores"][trainId2label[train_id].name]
        assert ours[train_id] == pytest.approx(100.0 * theirs, abs=1e-9), train_id
    assert results["classScores"][trainId2label[18].name] == 0.0
    assert mean_iou(cm) == pytest.approx(100.0 * results["averageScoreClasses"], abs=1e-9)
    assert 20.0 < mean_iou(cm) < 90.0  # a non-trivial case
