"""`regseg predict` through the real CLI entry point: the summary, and one-line errors with
exit status 2 (no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from regseg.models import build_model

VAL = "leftImg8bit/val"


def _run(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    from regseg.cli import main

    monkeypatch.setattr(sys, "argv", ["regseg", "predict", *map(str, args)])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


def _assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_json_summary_and_table_line(trained_run, synthetic_dataset, tmp_path, monkeypatch, capsys):
    code, out, _ = _run(monkeypatch, capsys, synthetic_dataset / VAL, "--model", "exp48_decoder26",
                        "--weights", trained_run.best, "--out", tmp_path / "a", "--batch", "4",
                        "--overlay", "0.25", "--device", "cpu", "--format", "json")
    summary = json.loads(out)
    assert code == 0 and summary["images"] == 8 and summary["with_ground_truth"] == 8
    assert summary["images_per_s"] == pytest.approx(8 / summary["seconds"])
    code, out, _ = _run(monkeypatch, capsys, synthetic_dataset / VAL, "-m", "exp48_decoder26",
                        "-w", trained_run.best, "-o", tmp_path / "b", "--input-size", "32", "64",
                        "--threads", "1")
    assert code == 0 and len(out.strip().splitlines()) == 1
    assert out.startswith("8 images (8 with ground truth) in ") and "images/s" in out


def test_unreadable_image(trained_run, tmp_path, monkeypatch, capsys):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code, _, err = _run(monkeypatch, capsys, tmp_path / "broken.png", "-m", "exp48_decoder26",
                        "-w", trained_run.best, "-o", tmp_path / "out")
    _assert_one_line_error(code, err, "broken.png", "cannot be read")


def test_missing_weights_file(synthetic_dataset, tmp_path, monkeypatch, capsys):
    code, _, err = _run(monkeypatch, capsys, synthetic_dataset / VAL, "-m", "exp48_decoder26",
                        "-w", tmp_path / "nope.pt", "-o", tmp_path / "out")
    _assert_one_line_error(code, err, "--weights", "nope.pt")


def test_empty_input_directory(trained_run, tmp_path, monkeypatch, capsys):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    code, _, err = _run(monkeypatch, capsys, tmp_path / "empty", "-m", "exp48_decoder26",
                        "-w", trained_run.best, "-o", tmp_path / "out")
    _assert_one_line_error(code, err, "empty", "found none")


def test_checkpoint_of_another_model(synthetic_dataset, tmp_path, monkeypatch, capsys):
    weights = tmp_path / "other.pt"
    torch.save({"model": build_model("exp30_decoder4", num_classes=19).state_dict()}, weights)
    code, _, err = _run(monkeypatch, capsys, synthetic_dataset / VAL, "-m", "exp48_decoder26",
                        "-w", weights, "-o", tmp_path / "out")
    _assert_one_line_error(code, err, "do not fit exp48_decoder26", "use --model exp30_decoder4")


@pytest.mark.parametrize("args, fragment", [
    (["--overlay", "1.5"], "--overlay"),
    (["--batch", "0"], "--batch"),
    (["--model", "exp99_decoder26"], "model_name"),
])
def test_bad_options(trained_run, synthetic_dataset, tmp_path, monkeypatch, capsys, args, fragment):
    base = ["-m", "exp48_decoder26", "-w", trained_run.best, "-o", tmp_path / "out"]
    code, _, err = _run(monkeypatch, capsys, synthetic_dataset / VAL, *base, *args)
    _assert_one_line_error(code, err, fragment)


def test_submission_needs_cityscapes_names(trained_run, tmp_path, monkeypatch, capsys):
    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(tmp_path / "photo.png")
    code, _, err = _run(monkeypatch, capsys, tmp_path / "photo.png", "-m", "exp48_decoder26",
                        "-w", trained_run.best, "-o", tmp_path / "out",
                        "--cityscapes-submission", tmp_path / "sub")
    _assert_one_line_error(code, err, "<city>_<seq>_<frame>_leftImg8bit", "photo.png")


def test_console_script_prints_one_line_without_traceback(tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "regseg", "predict", str(tmp_path / "x.png"),
                           "-m", "exp48_decoder26", "-w", str(tmp_path / "w.pt"), "-o",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    _assert_one_line_error(done.returncode, done.stderr, "x.png")
