"""Palettes, the overlay blend and the error map, against independently computed values."""

from __future__ import annotations

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import trainId2label

from regseg.predict.palette import (
    ERROR_COLOR,
    ERROR_IGNORE_COLOR,
    blend,
    colorize,
    error_map,
    palette_for,
)


def test_cityscapes_palette_is_the_label_tables_colours():
    table = palette_for(19)
    assert table.shape == (256, 3) and table.dtype == np.uint8
    for t in range(19):
        assert tuple(table[t]) == trainId2label[t].color, trainId2label[t].name
    assert tuple(table[255]) == (0, 0, 0)
    assert tuple(table[0]) == (128, 64, 128)  # road, as printed in the Cityscapes docs


def test_camvid_palette_and_generated_palettes_are_distinct():
    camvid = palette_for(11)
    assert tuple(camvid[5]) == (128, 64, 128) and tuple(camvid[2]) == (128, 128, 128)
    for n in (2, 5, 40):
        colours = {tuple(c) for c in palette_for(n)[:n]}
        assert len(colours) == n and (0, 0, 0) not in colours


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
def test_blend_weights_colours_by_alpha(alpha):
    image = np.array([[[10, 200, 255], [0, 0, 0]]], dtype=np.uint8)
    colours = np.array([[[110, 0, 55], [255, 255, 255]]], dtype=np.uint8)
    out = blend(image, colours, alpha)
    expected = np.rint((1 - alpha) * image.astype(float) + alpha * colours.astype(float))
    np.testing.assert_array_equal(out, expected.astype(np.uint8))


def test_error_map_marks_wrong_red_ignore_grey_and_dims_correct():
    image = np.full((1, 4, 3), 200, dtype=np.uint8)
    label = np.array([[1, 2, 255, 3]], dtype=np.uint8)
    pred = np.array([[1, 5, 7, 3]], dtype=np.uint8)
    out = error_map(image, pred, label)
    assert tuple(out[0, 0]) == (60, 60, 60) and tuple(out[0, 3]) == (60, 60, 60)
    assert tuple(out[0, 1]) == ERROR_COLOR
    assert tuple(out[0, 2]) == ERROR_IGNORE_COLOR


def test_colorize_maps_ids_to_rows():
    ids = np.array([[0, 10], [255, 13]], dtype=np.uint8)
    rgb = colorize(ids, palette_for(19))
    assert rgb.shape == (2, 2, 3)
    assert [tuple(rgb[0, 1]), tuple(rgb[1, 0]), tuple(rgb[1, 1])] == [(70, 130, 180), (0, 0, 0),
                                                                     (0, 0, 142)]
