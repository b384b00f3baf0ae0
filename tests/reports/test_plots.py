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


def test_literature_file_has_split_gpu_resolution_and_source():
    rows = read_literature()
    regseg = {r["split"]: r for r in rows if r["model"].startswith("RegSeg")}
    assert (regseg["test"]["mIoU"], regseg["val"]["mIoU"]) == (78.3, 78.85)
    assert (regseg["test"]["gflops"], regseg["test"]["params_m"]) == (39.08, 3.34)
    assert {r["split"] for r in rows} == {"val", "test"}
    assert (any(r["model"] == "DDRNet-23" for r in rows)
            and any(r["model"] == "DDRNet-23-slim" for r in rows))
    assert all(r["source"].strip() and r["split"] for r in rows)
    assert all(r["gpu"].strip() for r in rows if r["fps"] is not None)  # a speed names its GPU


def _label_boxes(fig):
    from reports.labels import LABEL_GID, text_box

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), text_box(t, renderer)) for ax in fig.axes for t in ax.texts
            if t.get_gid() == LABEL_GID]


def _crowded_frame():
    from reports.mlflow_source import frame_from_records

    from tests.reports.test_tables import run

    # ten bodies with decoder14: the same GFLOPs and params, mIoU within 0.7 points
    bodies = ["exp30", "exp43", "exp46", "exp47", "exp48", "exp49", "exp50", "exp51", "exp52",
              "exp53"]
    return frame_from_records([run("backbone", f"{b}_decoder14", 75.2 + 0.07 * i, seed=s)
                               for i, b in enumerate(bodies) for s in (0, 1)])


@pytest.mark.parametrize("literature", [False, True], ids=["runs", "with-literature"])
def test_labels_never_overlap_in_the_rendered_figure(literature):
    import matplotlib.pyplot as plt

    from reports.plots import AXES, cost_figure

    points = configuration_points(_crowded_frame())
    published = read_literature() if literature else []
    for _, fact_col, lit_col, xlabel, scale in AXES:
        fig = cost_figure(points, published, fact_col=fact_col, lit_col=lit_col, xlabel=xlabel,
                          ylabel="mIoU", scale=scale)
        boxes = _label_boxes(fig)
        assert {t for t, _ in boxes} >= {p["label"] for p in points}
        for i, (ta, a) in enumerate(boxes):
            for tb, b in boxes[i + 1:]:
                assert not a.overlaps(b), (ta, tb)
        plt.close(fig)


def test_far_runs_keep_their_axes_and_literature_goes_to_the_overview():
    import matplotlib.pyplot as plt

    from reports.mlflow_source import frame_from_records
    from reports.plots import cost_figure

    from tests.reports.test_tables import run

    smoke = frame_from_records([run("smoke", "exp48_decoder26", v, seed=i, label=f"lr={i}")
                                for i, v in enumerate((18.0, 21.0, 24.0))])
    fig = cost_figure(configuration_points(smoke), read_literature(), fact_col="model_gflops",
                      lit_col="gflops", xlabel="GFLOPs", ylabel="mIoU")
    main, overview = fig.axes
    assert main.get_ylim()[1] < 30  # the runs (18-24) fill the main axes
    assert "outside the runs' range" in main.get_title()
    assert overview.get_ylim()[1] > 78  # the published points are in the overview
    plt.close(fig)
    near = cost_figure(configuration_points(_crowded_frame()), read_literature(),
                       fact_col="model_gflops", lit_col="gflops", xlabel="GFLOPs", ylabel="mIoU")
    ax = near.axes[0]  # RegSeg's published 78.3 at 39.08 GFLOPs fits next to runs at 75
    assert ax.get_ylim()[1] < 79.5 and len(near.axes) == 2  # DDRNet-23 (143.7 GFLOPs) does not
    assert any("RegSeg (exp48_decoder26) (test; RolandGao/RegSeg README.md)" == t.get_text()
               for t in ax.texts)
    plt.close(near)


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
    assert names == ["miou_vs_gflops.png", "miou_vs_gflops.svg", "miou_vs_params.png",
                     "miou_vs_params.svg"]
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


def test_band_is_mean_and_min_max_over_seeds():
    from reports.curves import band

    epochs, mean, low, high = band([[(0, 10.0), (1, 20.0)], [(0, 12.0), (1, 24.0), (2, 30.0)]])
    assert epochs == [0, 1, 2] and mean == [11.0, 22.0, 30.0]
    assert low == [10.0, 20.0, 30.0] and high == [12.0, 24.0, 30.0]


def test_curves_per_group_from_mlflow_histories(imported_store, tmp_path):
    import matplotlib.image as mpimg

    from reports.curves import curves_figure
    from reports.mlflow_source import load_histories, load_runs
    from reports.report import build_report

    uri, _ = imported_store
    rep = build_report(tracking_uri=uri, plots_dir=tmp_path / "plots")
    curve = tmp_path / "plots" / "curves_ddrnet_comparison.png"
    assert curve in rep.plot_paths and mpimg.imread(curve)[..., :3].std() > 0.01
    df = load_runs(tracking_uri=uri)
    reduced = load_histories(df["run_id"].tolist(), "mIoU_reduced", tracking_uri=uri)
    fig = curves_figure("ddrnet_comparison", df.to_dict("records"), reduced, "mIoU^R")
    (ax,) = fig.axes
    (line,) = ax.lines  # one configuration (ddrnet23, 3 seeds) -> one mean line and its band
    assert line.get_label() == "ddrnet23 (n=3)" and len(ax.collections) == 1
    ddrnet = [h for r, h in reduced.items()
              if h and df.set_index("run_id").loc[r, "model"] == "ddrnet23"]
    first = min(step for step, _ in ddrnet[0])
    assert line.get_xdata()[0] == first
    assert line.get_ydata()[0] == pytest.approx(sum(dict(h)[first] for h in ddrnet) / 3)
