"""The suite's system rows: report, queue and slot idle, measured by the checkout's own
benchmarks/ scripts, each run as a subprocess that prints one JSON document.

Those scripts drive the orchestrator and the report (real MLflow stores, real worker
processes, real databases), which regseg.benchmark does not import; running them as commands
keeps that boundary and measures what a user's command gets. Rows (``unit`` "s": seconds,
lower is better, ratio = baseline / this build; "claims/s": higher is better):

- ``bench_report.py``: ``regseg report`` over ``runs`` finished runs (10,000; 1,000 with
  ``--quick``) cold, warm in process and warm as a command, against the previous reader;
- ``bench_queue.py``: claims/s of 8 worker processes on SQLite, and on PostgreSQL when
  ``$REGSEG_TEST_PG_URL`` is set (tools/with-postgres), against the claim path before the
  one-statement claim;
- ``bench_slot_idle.py``: a slot's idle gap between two jobs (previous exit -> next first
  iteration), pre-started processes against ``--no-prestart`` (a fresh process per job), with
  6 smoke jobs of 6 epochs (quick: 3 of 4), each longer than the pre-started process's imports.

A script that is missing (an installed package without the checkout), fails or times out gives
no row; its reason is kept in ``skipped``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
TIMEOUT_S = 3600


def run_script(name: str, args: list[str], *, timeout: float = TIMEOUT_S) -> Any:
    """The JSON a benchmarks/ script prints (its last JSON document on stdout)."""
    script = BENCH / name
    if not script.is_file():
        raise FileNotFoundError(f"{script} (benchmarks/ is part of the checkout)")
    done = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"{name} exited {done.returncode}: {tail[0]}")
    lines = done.stdout.splitlines(keepends=True)
    for i, line in enumerate(lines):  # the first line that opens a document that parses
        if line.lstrip().startswith(("{", "[")):
            try:
                return json.loads("".join(lines[i:]))
            except ValueError:
                continue
    raise ValueError(f"{name}: no JSON document in its output")


def _row(name: str, unit: str, baseline: float, value: float, baseline_is: str) -> dict:
    ratio = baseline / value if unit == "s" else value / baseline
    return {"name": name, "unit": unit, "baseline": baseline, "value": value, "ratio": ratio,
            "baseline_is": baseline_is}


def report_rows(result: dict, runs: int) -> list[dict]:
    """Rows from bench_report.py's JSON."""
    base = result["baseline"]["wall_s"]
    was = "previous reader: pages of 1,000 runs, collector running, no cache (in process)"
    for key in ("cold", "warm", "cli_warm"):
        if not result[key].get("identical_to_no_cache"):
            raise RuntimeError(f"bench_report.py: the {key} report differs from a direct read")
    return [_row(f"regseg report, {runs:,} finished runs, cold (no cache yet, in process)", "s",
                 base, result["cold"]["wall_s"], was),
            _row(f"regseg report, {runs:,} finished runs, warm cache (in process)", "s",
                 base, result["warm"]["wall_s"], was),
            _row(f"regseg report, {runs:,} finished runs, warm cache, as a command (interpreter "
                 "and imports included)", "s", base, result["cli_warm"]["wall_s"], was)]


def queue_rows(rows: list[dict], workers: int) -> list[dict]:
    """Rows from bench_queue.py's JSON (claims/s, legacy against new, per backend)."""
    rate = {(r["backend"], r["path"]): r["value"] for r in rows
            if r["measure"] == "claims/s" and r["workers"] == workers}
    return [_row(f"queue claims/s, {workers} worker processes, {backend}", "claims/s",
                 rate[(backend, "legacy")], rate[(backend, "new")],
                 "claim path before the one-statement claim (benchmarks/_queue_legacy.py)")
            for backend in ("sqlite", "postgresql") if (backend, "new") in rate]


def idle_row(prestarted: dict, fresh: dict) -> dict:
    """The slot-idle row from two bench_slot_idle.py results (medians over the gaps)."""
    return _row(f"slot idle between two jobs (exit -> first iteration, median of "
                f"{prestarted['gaps']} gaps)", "s", fresh["idle"]["median"],
                prestarted["idle"]["median"], "the same worker with --no-prestart (a fresh "
                "process per job)")


def system_rows(*, quick: bool, state_dir: Path, progress: Callable[[str], None] = print
                ) -> tuple[list[dict], list[str]]:
    """(rows, skipped): every system row this checkout and machine can measure."""
    runs = 1_000 if quick else 10_000
    # jobs long enough for the next job's pre-started process to finish its imports (about 7 s
    # on a 2-core CPU): a real job, hours on a GPU, always is; a shorter one shows the imports
    jobs, epochs = (3, 4) if quick else (6, 6)
    steps: list[tuple[str, Callable[[], list[dict]]]] = [
        ("report", lambda: report_rows(run_script(
            "bench_report.py", ["--runs", str(runs), "--out", str(state_dir / "bench-report")]),
            runs)),
        ("queue", lambda: queue_rows(run_script(
            "bench_queue.py", ["--jobs", "500" if quick else "2000", "--workers", "8",
                               "--submit-runs", "0", "--json"]), 8)),
        ("slot idle", lambda: [idle_row(*(run_script(
            "bench_slot_idle.py", ["--jobs", str(jobs), "--epochs", str(epochs), "--json",
                                   *extra]) for extra in ([], ["--", "--no-prestart"])))]),
    ]
    rows, skipped = [], []
    for what, step in steps:
        progress(f"benchmark suite: {what} ...")
        try:
            rows += step()
        except (OSError, RuntimeError, ValueError, KeyError, subprocess.SubprocessError) as exc:
            skipped.append(f"{what}: {exc}")
    return rows, skipped
