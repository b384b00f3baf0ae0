"""Plots render (PNG/SVG opened and checked) and the Pareto front is the non-dominated set."""

from __future__ import annotations

import math

import pytest

from reports.pareto import pareto_front
from reports.plots import configuration_points, read_literature, render_plots


@pytest.mark.parametrize("points,front", [
    ([], []),
    ([(1.0, 50.0)], [0]),
    ([(1.0, 50.0), (2.0, 60.0), (3.0, 55.0), (0.5, 40.0)], [3, 0, 1]),
    ([(2.0, 60.0), (2.0, 61.0), (1.0, 61.0)], [2]),
    ([(1.0, 50.0), (1.0, 50.0)], [0, 1]),           # exact duplicates both stay
    ([(1.0, math.nan), (2.0, 10.0), (None, 90.0)], [1]),
])
def test_pareto_front(points, front):
    assert pareto_front(points) == front


def test_pareto_front_is_exactly_the_non_dominated_points():
    import random

    rng = random.Random(0)
    pts = [(rng.uniform(1, 100), rng.uniform(50, 80)) for _ in range(300)]
    front = set(pareto_front(pts))
    for i, (c, a) in enumerate(pts):
        dominated = any(c2 <= c and a2 >= a and (c2, a2) != (c, a) for c2, a2 in pts)
        assert (i in front) == (not dominated)


def test_literature_file_has_sources_and_the_regseg_point():
    rows = read_literature()
    regseg = next(r for r in rows if r["model"].startswith("RegSeg"))
    assert (regseg["test_mIoU"], regseg["gflops"], regseg["params_m"]) == (78.3, 39.1, 3.34)
    assert any(r["model"] == "DDRNet-23" for r in rows) and any(r["model"] == "DDRNet-23-slim" for r in rows)
    assert all(r["source"].strip() for r in rows)


def test_plots_render_png_and_svg(imported_store, tmp_path):
    import matplotlib.image as mpimg

    from reports.mlflow_source import load_runs

    uri, _ = imported_store
    df = load_runs(tracking_uri=uri)
    points = configuration_points(df, metric="miou")
    assert {p["model"] for p in points} == {"ddrnet23", "exp43_decoder14"}
    # exp43_decoder14 (35.9 GFLOPs, 75.30) and ddrnet23 (143.7 GFLOPs, 77.81): both on the front
    xs = [(p["model_gflops"], p["mean"]) for p in points]
    assert len(pareto_front(xs)) == 2
    paths = render_plots(df, tmp_path / "plots")
    names = sorted(p.name for p in paths)
    assert names == ["miou_vs_gflops.png", "miou_vs_gflops.svg", "miou_vs_params.png", "miou_vs_params.svg"]
    for p in paths:
        assert p.stat().st_size > 5000
        if p.suffix == ".png":
            img = mpimg.imread(p)
            assert img.shape[0] >= 400 and img.shape[1] >= 600
            assert img[..., :3].std() > 0.01  # not a blank canvas
        else:
            text = p.read_text()
            assert text.startswith("<?xml") and "<svg" in text


def test_plots_are_byte_identical_across_renders(imported_store, tmp_path):
    from reports.mlflow_source import load_runs

    uri, _ = imported_store
    df = load_runs(tracking_uri=uri)
    a = render_plots(df, tmp_path / "a")
    b = render_plots(df, tmp_path / "b")
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
