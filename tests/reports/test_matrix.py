"""Two varying axes (body x decoder, or two grid keys) also give a matrix table."""

from __future__ import annotations

from reports.matrix import axes_of, matrix_cells, varying_axes
from reports.mlflow_source import frame_from_records
from reports.report import report_from_frame

from tests.reports.test_tables import run


def test_axes_split_the_model_into_body_and_decoder():
    assert axes_of({"config_label": "model_name=exp43_decoder14,lr=0.01"}) == {
        "lr": "0.01", "body": "exp43", "decoder": "decoder14"}
    assert axes_of({"config_label": "", "model": "ddrnet23"}) == {
        "body": "ddrnet23", "decoder": "—"}


def test_body_by_decoder_sweep_is_a_matrix_in_the_markdown():
    runs = [run("my_sweep", f"{body}_{dec}", 70.0 + i + 0.5 * j + 0.1 * s, seed=s)
            for i, body in enumerate(("exp43", "exp48"))
            for j, dec in enumerate(("decoder14", "decoder26"))
            for s in (0, 1) if (body, dec) != ("exp48", "decoder14") or s == 0]
    assert varying_axes(runs) == ["body", "decoder"]
    headers, rows = matrix_cells(runs, "best_mIoU")
    assert headers == ["body \\ decoder", "decoder14", "decoder26"]
    assert rows == [["exp43", "70.05 ± 0.07 (n=2)", "70.55 ± 0.07 (n=2)"],
                    ["exp48", "71.00 (n=1)", "71.55 ± 0.07 (n=2)"]]
    rep = report_from_frame(frame_from_records(runs))
    rows_table, matrix = rep.tables
    assert matrix.headers == headers and matrix.cells == rows and not matrix.records
    assert matrix.title.endswith("body \\ decoder")
    line = next(row for row in rep.markdown.splitlines()
                if row.startswith("| exp48 ") and "71.55" in row)
    assert line.split("|")[2].strip() == "71.00 (n=1)"


def test_one_or_three_axes_give_no_matrix():
    one = [run("my_sweep", f"exp43_decoder{d}", 70.0) for d in (14, 26)]
    three = [run("my_sweep", f"{b}_{d}", 70.0, label=f"model_name={b}_{d},lr={lr}")
             for b in ("exp43", "exp48") for d in ("decoder14", "decoder26")
             for lr in ("0.1", "0.01")]
    assert matrix_cells(one, "best_mIoU") is None and matrix_cells(three, "best_mIoU") is None
    assert len([t for t in report_from_frame(frame_from_records(one)).tables]) == 1
