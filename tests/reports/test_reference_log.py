"""Parser of the reference training logs: the real samples and a corpus of malformed variants."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from reports.errors import LogFormatError
from reports.reference_log import parse_log

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_logs"
EXP43 = LEGACY / "cityscapes_exp43_decoder14_500_epochs_fair_log.txt"
DDRNET = LEGACY / "cityscapes_ddrnet23_1000_epochs_log.txt"


def test_exp43_sample_best_reduced_miou_is_the_ablation_value():
    (run,) = parse_log(EXP43)
    assert run.run == 1 and run.header["model_name"] == "exp43_decoder14"
    assert sorted(run.epochs) == list(range(500))
    assert len(run.evaluated) == 40
    best_reduced = max(ep.miou_reduced() for ep in run.evaluated)
    assert round(best_reduced, 2) == 75.75
    # the logged mIOU_reduced (only class 16 excluded) is not what we report
    assert round(max(ep.miou for ep in run.evaluated), 2) == 75.30


def test_ddrnet_sample_has_three_runs_with_readme_values():
    runs = parse_log(DDRNET)
    assert [r.run for r in runs] == [1, 2, 3]
    best = [round(max(ep.miou for ep in r.evaluated), 2) for r in runs]
    assert best == [77.84, 78.07, 77.53]
    assert [round(r.summary["best_miou"], 2) for r in runs] == best
    assert len({r.digest for r in runs}) == 3


def test_reduced_miou_excludes_truck_bus_train():
    (run,) = parse_log(EXP43)
    ep = run.evaluated[-1]
    expected = sum(v for i, v in enumerate(ep.iou) if i not in (14, 15, 16)) / 16
    assert ep.miou_reduced() == pytest.approx(expected)
    assert ep.miou_reduced() != pytest.approx(sum(ep.iou) / 19)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write(tmp_path: Path, lines: list[str],
           name="cityscapes_exp43_decoder14_500_epochs_fair_log.txt") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def test_resume_keeps_the_last_complete_copy_of_an_epoch(tmp_path):
    lines = _lines(EXP43)
    i = lines.index("epoch: 25")
    # a crash at the start of epoch 25 (no loss), then the resumed copy with a different loss;
    # and a crash while evaluating epoch 24 (loss, no IoU) before its complete copy
    j = lines.index("epoch: 24")
    resumed = (lines[:j] + ["epoch: 24", "loss: 9.0"] + lines[j:i] + ["epoch: 25"]
               + ["epoch: 25", "loss: 0.123"] + lines[i + 2:])
    (run,) = parse_log(_write(tmp_path, resumed))
    (orig,) = parse_log(EXP43)
    assert sorted(run.epochs) == list(range(500))
    assert run.epochs[25].loss == 0.123
    assert run.epochs[24].loss == orig.epochs[24].loss and run.epochs[24].iou == orig.epochs[24].iou
    assert run.digest != orig.digest


def _corpus():
    """(name, transform(lines) -> lines, expected 1-based line of the error or None=last)."""
    def cut_mid_iou(ls):
        k = next(i for i, s in enumerate(ls) if s.startswith("IOU:") and i > 100)
        return ls[:k] + [ls[k][:40]]
    return [
        ("truncated_mid_run", lambda ls: ls[:600], 600),
        ("truncated_mid_line", cut_mid_iou, None),
        ("no_summary", lambda ls: ls[:-3], None),
        ("corrupt_header", lambda ls: [ls[0][:-10]] + ls[1:], 1),
        ("header_not_dict", lambda ls: ["[1, 2, 3]"] + ls[1:], 1),
        ("header_code_not_literal", lambda ls: ["{'a': __import__('os').getcwd()}"] + ls[1:], 1),
        ("missing_run_line", lambda ls: ls[:1] + ls[2:], 2),
        ("garbage_line", lambda ls: ls[:10] + ["lorem ipsum"] + ls[10:], 11),
        ("iou_wrong_count", lambda ls: [s.replace("IOU: [", "IOU: [1.0, ", 1) if i == 4 else s
                                        for i, s in enumerate(ls)], 5),
        ("iou_not_numbers", lambda ls: [("IOU: ['a']" if i == 4 else s)
                                        for i, s in enumerate(ls)], 5),
        ("miou_without_iou", lambda ls: ls[:4] + ls[5:], 5),
        ("iou_without_miou", lambda ls: ls[:5] + ls[6:], 5),
        ("loss_without_epoch", lambda ls: ls[:3] + ls[4:], 4),
        ("epoch_gap", lambda ls: [s for s in ls if s != "epoch: 7"] , None),
        ("bad_float", lambda ls: [("loss: 0.3.1" if s.startswith("loss: 0.31") else s)
                                  for s in ls], None),
        ("empty", lambda ls: [], None),
    ]


@pytest.mark.parametrize("name,transform,line", _corpus(), ids=[c[0] for c in _corpus()])
def test_malformed_logs_raise_naming_file_and_line(tmp_path, name, transform, line):
    bad = transform(_lines(EXP43))
    path = _write(tmp_path, bad)
    with pytest.raises(LogFormatError) as info:
        parse_log(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:"), msg
    if line is not None:
        assert msg.startswith(f"{path}:{line}:"), msg
    assert info.value.exit_code == 2


def test_nan_iou_of_an_absent_class_is_accepted(tmp_path):
    from reports.import_logs import run_metrics

    lines = _lines(EXP43)
    assert lines[4].startswith("IOU:") and lines[4].endswith("0.0, 0.0]")
    lines[4] = lines[4][:-len("0.0]")] + "nan]"
    (run,) = parse_log(_write(tmp_path, lines))
    assert math.isnan(run.epochs[0].iou[-1]) and math.isnan(run.epochs[0].miou_reduced())
    best = {k: v for k, v, _ in run_metrics(run) if k.startswith("best_mIoU")}
    assert round(best["best_mIoU_reduced"], 2) == 75.75
