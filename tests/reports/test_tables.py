"""Table shapes on synthetic run frames (no MLflow needed): every layout, borrowing, ordering."""

from __future__ import annotations

import json

import pytest

from reports.mlflow_source import frame_from_records
from reports.report import report_from_frame
from reports.shapes import SHAPES, shape_for
from reports.tables import LAYOUTS, build_tables

_N = iter(range(10**6))


def run(group, model, best, *, last=None, label=None, seed=0, ref_run="", **params):
    i = next(_N)
    rec = {"run_id": f"{i:032x}", "experiment": f"regseg/{group}", "status": "FINISHED",
           "group": group, "model": model, "config_label": label or f"model_name={model}",
           "source": "regseg", "seed": str(seed), "reference_file": "", "reference_run": ref_run,
           "best_mIoU": best, "best_mIoU_reduced": best, "best_epoch": 10.0,
           "last_mIoU": last if last is not None else best - 1,
           "last_mIoU_reduced": last if last is not None else best - 1,
           "model_params": 3368023.0, "model_gflops": 35.88, "model_field_of_view": 3743.0}
    rec.update({f"param.{k}": v if isinstance(v, str) else json.dumps(v)
                for k, v in params.items()})
    return rec


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_every_registered_shape_renders(shape):
    group = shape.groups[0]
    runs = [run(group, "exp48_decoder26", 70.0 + k, seed=k, label=f"c{k % 2}",
                train_min_size=400, train_max_size=1600 + 448 * (k % 2),
                train_crop_size=[768, 768 + 256 * (k % 3)]) for k in range(4)]
    tables = build_tables(frame_from_records(runs))
    assert tables and all(t.group == group for t in tables)
    assert shape.layout in LAYOUTS
    for t in tables:
        assert all(len(row) == len(t.headers) for row in t.cells)
    assert {rid for t in tables for _, ids in t.trace for rid in ids} == {r["run_id"] for r in runs}


def test_backbone_table_borrows_exp43_decoder14_and_has_paper_columns():
    runs = [run("backbone", "exp48_decoder14", 75.9),
            run("backbone", "regnety600mf_decoder14", 73.2),
            run("decoder", "exp43_decoder14", 75.75), run("decoder", "exp43_decoder26", 75.8)]
    tables = {t.group: t for t in build_tables(frame_from_records(runs))}
    bb = tables["backbone"]
    assert bb.headers[:5] == ["body", "dilation rates", "field of view", "params", "GFLOPs"]
    assert [row[0] for row in bb.cells] == ["exp48", "exp43", "regnety600mf"]  # by mean, desc
    exp48 = bb.cells[0]
    assert exp48[1] == "(1,1)+(1,2)+4*(1,4)+7*(1,14)"  # from the zoo's body table
    assert exp48[-1] == "75.85"  # the paper's value, for comparison
    assert "+2.70" in exp48 and bb.cells[2][bb.headers.index("Δ vs regnety600mf")] == "baseline"
    dec = tables["decoder"]
    assert [row[0] for row in dec.cells] == ["decoder26", "decoder14"]
    assert dec.cells[0][1] == "Sec 3.4 decoder"


def test_resize_crop_is_a_matrix():
    runs = []
    for lo, hi in ((400, 1600), (512, 2048)):
        for crop, v in (([512, 1024], 74.0), ([768, 768], 75.0), ([1024, 1024], 75.5)):
            for seed in (0, 1):
                runs.append(run("resize_crop", "exp49_decoder14",
                                v + (hi == 2048) * 0.2 + seed * 0.1, seed=seed,
                                train_min_size=lo, train_max_size=hi, train_crop_size=crop))
    matrix, detail = build_tables(frame_from_records(runs))
    assert matrix.headers == ["resize \\ crop", "512x1024", "768x768", "1024x1024"]
    assert [r[0] for r in matrix.cells] == ["400-1600", "512-2048"]
    assert matrix.cells[1][2] == "75.25 ± 0.07 (n=2)"
    assert "baseline" in next(r for r in detail.cells if r[:2] == ["400-1600", "768x768"])


def test_competitor_comparison_lists_runs_then_mean():
    runs = [run("ddrnet_comparison", "exp48_decoder26", v, ref_run=str(i + 1), seed=i)
            for i, v in enumerate((77.76, 78.85, 78.07))]
    runs += [run("ddrnet_comparison", "ddrnet23", v, ref_run=str(i + 1))
             for i, v in enumerate((77.84, 78.07, 77.53))]
    (table,) = build_tables(frame_from_records(runs))
    assert table.headers == ["run", "exp48_decoder26", "ddrnet23"]
    assert table.cells[0] == ["run 1", "77.76", "77.84"]
    assert table.cells[2] == ["run 3", "78.07", "77.53"]
    assert table.cells[3] == ["mean ± std (n)", "78.23 ± 0.56 (n=3)", "77.81 ± 0.27 (n=3)"]
    assert table.cells[5][1] == "+0.41" and table.cells[5][2] == "baseline"


def test_reproducibility_and_generic_groups():
    runs = [run("reproducibility", "exp49_decoder14", v, label="same")
            for v in (75.5, 75.6, 75.2, 75.3)]
    runs += [run("my_sweep", "exp48_decoder26", 70.0, label="lr=0.1"),
             run("my_sweep", "exp48_decoder26", 71.0, label="lr=0.01")]
    tables = build_tables(frame_from_records(runs))
    assert [t.group for t in tables] == ["reproducibility", "my_sweep"]
    rep, gen = tables
    assert [r[0] for r in rep.cells[:4]] == ["run 1", "run 2", "run 3", "run 4"]
    assert rep.cells[4][1] == "75.40 ± 0.18 (n=4)"
    assert gen.headers[0] == "configuration" and gen.cells[0][0] == "lr=0.01"
    assert shape_for("my_sweep").key == "config_label"


def test_rows_are_independent_of_input_order():
    runs = [run("decoder", f"exp43_decoder{d}", 75.0, seed=s) for d in (4, 10, 14) for s in (0, 1)]
    a = report_from_frame(frame_from_records(runs)).markdown
    b = report_from_frame(frame_from_records(list(reversed(runs)))).markdown
    assert a == b


def test_training_techniques_baseline_is_the_reference_configuration_not_the_best():
    from reports.import_logs import config_label

    def label(lo, hi, loss):
        return config_label({"model_name": "exp48_decoder26", "dataset_name": "cityscapes",
                             "epochs": "500", "train_min_size": str(lo), "train_max_size": str(hi),
                             "train_crop_size": "[768, 768]", "aug_mode": "randaug_reduced",
                             "loss_type": loss})
    runs = [run("training_techniques", "exp48_decoder26", v, label=label(lo, hi, loss),
                train_min_size=lo, train_max_size=hi, loss_type=loss)
            for lo, hi, loss, v in ((400, 1600, "cross_entropy", 75.0),
                                    (512, 2048, "cross_entropy", 76.0),
                                    (400, 1600, "bootstrapped_cross_entropy", 75.5))]
    (table,) = build_tables(frame_from_records(runs))
    delta = table.headers.index("Δ vs baseline")
    by_loss_resize = {(r[4], r[2]): r[delta] for r in table.cells}
    assert by_loss_resize[("cross_entropy", "400-1600")] == "baseline"
    assert by_loss_resize[("cross_entropy", "512-2048")] == "+1.00"
    assert by_loss_resize[("bootstrapped_cross_entropy", "400-1600")] == "+0.50"
