"""reports.prediction_grid: one column per configuration, the same images in every column."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from reports.errors import ReportError
from reports.prediction_grid import TITLE_HEIGHT, prediction_grid


def _images(tmp_path, label, count, colour):
    paths = []
    for k in range(count):
        path = tmp_path / label / f"sample_{k:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((130, 258, 3), colour, dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_grid_size_follows_columns_rows_and_aspect(tmp_path):
    images = {"model_name=exp48_decoder26": _images(tmp_path, "a", 3, (255, 0, 0)),
              "model_name=exp48_decoder14": _images(tmp_path, "b", 3, (0, 0, 255))}
    out = prediction_grid(images, tmp_path / "grid.png", cell_width=2.0, dpi=50)
    with Image.open(out) as im:
        width, height = im.size
        rgb = np.asarray(im.convert("RGB"))
    assert width == 2 * 2.0 * 50
    assert height == pytest.approx((TITLE_HEIGHT + 3 * 2.0 * 130 / 258) * 50, abs=1)
    middle_left, middle_right = rgb[height // 2, width // 4], rgb[height // 2, 3 * width // 4]
    assert tuple(middle_left[:3]) == (255, 0, 0) and tuple(middle_right[:3]) == (0, 0, 255)


def test_a_shorter_column_leaves_cells_missing(tmp_path):
    images = {"a": _images(tmp_path, "a", 2, (0, 255, 0)),
              "b": _images(tmp_path, "b", 1, (0, 0, 0))}
    out = prediction_grid(images, tmp_path / "grid.png", cell_width=1.0, dpi=40)
    with Image.open(out) as im:
        assert im.size[0] == 80
        bottom_right = np.asarray(im.convert("RGB"))[-10, 60]
    assert tuple(bottom_right) != (0, 0, 0)  # no image drawn there


def test_errors(tmp_path):
    with pytest.raises(ReportError, match="at least one configuration"):
        prediction_grid({}, tmp_path / "g.png")
    (tmp_path / "bad.png").write_text("no png")
    with pytest.raises(ReportError, match="bad.png"):
        prediction_grid({"a": [tmp_path / "bad.png"]}, tmp_path / "g.png")
