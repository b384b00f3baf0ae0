"""The suite's system rows (regseg/benchmark/system.py): a real benchmarks/ script's JSON becomes
rows with the baseline beside the figure, a failing or missing script gives no row and a reason,
and the markdown says which way the ratio reads."""

from __future__ import annotations

import pytest

from regseg.benchmark import system
from regseg.benchmark.suite import markdown_table


def test_report_rows_from_a_real_bench_report_run(tmp_path):
    result = system.run_script("bench_report.py", ["--runs", "20", "--changed", "5",
                                                   "--out", str(tmp_path)], timeout=600)
    rows = system.report_rows(result, 20)
    assert [r["unit"] for r in rows] == ["s", "s", "s"]
    cold = rows[0]
    assert "cold" in cold["name"] and cold["value"] == result["cold"]["wall_s"]
    assert cold["baseline"] == result["baseline"]["wall_s"]
    assert cold["ratio"] == pytest.approx(cold["baseline"] / cold["value"])


def test_a_report_that_differs_from_a_direct_read_is_no_row():
    same = {"identical_to_no_cache": True, "wall_s": 1.0}
    result = {"baseline": {"wall_s": 2.0}, "cold": same, "warm": same,
              "cli_warm": {**same, "identical_to_no_cache": False}}
    with pytest.raises(RuntimeError, match="cli_warm report differs"):
        system.report_rows(result, 10)


def test_queue_and_idle_rows_read_the_scripts_layout():
    rows = [{"backend": b, "path": p, "workers": n, "measure": "claims/s", "value": v}
            for b, p, n, v in [("sqlite", "legacy", 8, 100.0), ("sqlite", "new", 8, 400.0),
                               ("sqlite", "new", 1, 999.0), ("postgresql", "legacy", 8, 75.0),
                               ("postgresql", "new", 8, 525.0)]]
    got = system.queue_rows(rows, 8)
    assert [(r["name"].split(", ")[-1], r["ratio"]) for r in got] == [("sqlite", 4.0),
                                                                      ("postgresql", 7.0)]
    idle = system.idle_row({"idle": {"median": 0.5}, "gaps": 4}, {"idle": {"median": 10.0}})
    assert idle["ratio"] == 20.0 and idle["baseline"] == 10.0 and "4 gaps" in idle["name"]


def test_a_failing_or_missing_script_is_skipped_with_its_reason(tmp_path, monkeypatch):
    (tmp_path / "bad.py").write_text("import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n")
    monkeypatch.setattr(system, "BENCH", tmp_path)
    with pytest.raises(RuntimeError, match="bad.py exited 3: boom"):
        system.run_script("bad.py", [])
    rows, skipped = system.system_rows(quick=True, state_dir=tmp_path, progress=lambda _: None)
    assert rows == [] and len(skipped) == 3
    assert all("benchmarks/ is part of the checkout" in why for why in skipped)


def test_markdown_says_how_a_ratio_reads_and_what_was_not_measured():
    record = {"date": "2026-01-01T00:00:00", "quick": False,
              "machine": {"cpu": "C", "cores": 2, "torch_threads": 2, "gpu": "no GPU",
                          "torch": "2.x"},
              "results": [{"name": "report cold", "unit": "s", "baseline": 30.0, "value": 10.0,
                           "ratio": 3.0}],
              "skipped": ["queue: bench_queue.py exited 1: no database"]}
    text = markdown_table(record)
    assert "| report cold | 30.00 s | 10.00 s | x3.00 |" in text
    assert "baseline / this build for seconds" in text
    assert text.endswith("Not measured: queue: bench_queue.py exited 1: no database\n")
