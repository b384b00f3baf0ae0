"""Benchmark: `regseg report` over a real MLflow store of ``--runs`` finished runs (10,000).

The store (benchmarks/report_store.py: each run laid out as the worker logs one) is built once
through the MLflow API and kept as ``<out>/bench_mlflow_<runs>.db``; every benchmark works on a
scratch copy, because the incremental step changes it. Timed, in one process, each through
``reports.report.build_report`` (what ``regseg report`` calls), wall and CPU seconds:

- ``baseline``: the previous reader (pages of 1,000 runs, collector running, no cache), then
  the same tables and markdown: the figure the issue measured;
- ``no_cache``: ``regseg report --no-cache`` (this build's direct read);
- ``cold``: no cache file yet (reads everything, writes the cache);
- ``warm``: cache present, nothing changed;
- ``incremental``: cache present after ``--changed`` runs changed (a fifth each: new runs,
  revised tags, resumed-and-closed runs with a new metric, deleted runs, and new runs again);
- ``cli_warm``: ``regseg report --format csv`` as a subprocess on the warm cache (interpreter
  start and imports included).

Every cached report is compared byte for byte with a no-cache report of the same store state.
Prints one JSON object (ratios: baseline seconds / seconds). Usage:
``python benchmarks/bench_report.py [--runs 10000] [--changed 50] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import report_store  # noqa: E402


def previous_load_runs(uri: str):
    """The reader before the run cache (kept here as the baseline): pages of 1,000 runs per
    experiment, every run turned into a row, garbage collector running."""
    from mlflow.tracking import MlflowClient

    import orchestrator.tracking.tags as T
    from reports.mlflow_source import active_experiments, frame_from_records, run_record

    client = MlflowClient(tracking_uri=uri)
    records = []
    for exp in active_experiments(client):
        token = None
        while True:
            page = client.search_runs([exp.experiment_id], "attributes.status = 'FINISHED'",
                                      max_results=1000, page_token=token)
            records.extend(run_record(r, exp.name) for r in page
                           if r.data.tags.get(T.ARM_PARENT) != T.TRUE)
            token = page.token
            if not token:
                break
    return frame_from_records(records)


def previous_report(uri: str) -> str:
    from reports.arms import section_for
    from reports.report import report_from_frame

    df = previous_load_runs(uri)
    return report_from_frame(df).markdown + section_for(uri, df["experiment"].tolist())


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    value = fn()
    return value, {"wall_s": round(time.perf_counter() - t0, 3),
                   "cpu_s": round(time.process_time() - c0, 3)}


def change_runs(uri: str, n: int) -> dict:
    """Change ``n`` runs through the API, the ways runs change after a report (see module)."""
    import random

    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    import orchestrator.tracking.tags as T

    client = MlflowClient(tracking_uri=uri)
    exps = {e.name: e.experiment_id for e in client.search_experiments()}
    sweep = exps["regseg/sweep_lr"]
    olds = client.search_runs([sweep], f"attributes.status = 'FINISHED' AND tags.`{T.ARM_PARENT}`"
                              " IS NULL", max_results=n)
    fifth, configs, now = max(1, n // 5), report_store.configurations(), int(time.time() * 1000)
    done = {"new": 0, "revised_tag": 0, "resumed_new_metric": 0, "deleted": 0}
    for i in range(n - 3 * fifth):
        config = configs[(7 * i) % len(configs)]
        tags, params, metrics = report_store.run_layout(20_000 + i, config, random.Random(i))
        report_store.log_run(client, exps[f"regseg/{config[0]}"], tags, params, metrics,
                             now - 3_600_000, now)
        done["new"] += 1
    for run in olds[:fifth]:
        client.log_batch(run.info.run_id, metrics=[Metric(T.REVISED, float(now), now, 0)],
                         tags=[RunTag(T.CONFIG_LABEL, run.data.tags[T.CONFIG_LABEL] + ",late")])
        done["revised_tag"] += 1
    for run in olds[fifth:2 * fifth]:
        client.update_run(run.info.run_id, status="RUNNING")
        client.log_batch(run.info.run_id, metrics=[Metric("best_mIoU_reduced", 80.0, now, 600)])
        client.set_terminated(run.info.run_id, "FINISHED")
        done["resumed_new_metric"] += 1
    for run in olds[2 * fifth:3 * fifth]:
        client.delete_run(run.info.run_id)
        done["deleted"] += 1
    return done


def _warm_up() -> None:
    """Import what every report imports, so the first timing is not charged for it."""
    from reports.mlflow_source import frame_from_records
    from reports.report import report_from_frame

    report_from_frame(frame_from_records([{"run_id": "0", "experiment": "regseg/x",
                                           "group": "x", "config_label": "a", "model": "m",
                                           "status": "FINISHED", "best_mIoU": 1.0}]))


def cli_report(uri: str, home: Path) -> tuple[str, dict]:
    env = {**os.environ, "REGSEG_HOME": str(home)}
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "regseg", "report", "--tracking-uri", uri,
                          "--format", "csv"], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True).stdout
    return out, {"wall_s": round(time.perf_counter() - t0, 3)}


def bench(runs: int, changed: int, out: Path) -> dict:
    from reports.report import build_report

    db = out / f"bench_mlflow_{runs}.db"
    (reused, build) = timed(lambda: report_store.ensure_store(db, runs))
    scratch = out / "scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    shutil.copyfile(db, scratch / "mlflow.db")
    uri, home = f"sqlite:///{scratch / 'mlflow.db'}", scratch / "home"
    cache_dir = home / "report-cache"
    _warm_up()
    result: dict = {"runs": runs, "store_reused": reused, "store_build": build}
    base_md, result["baseline"] = timed(lambda: previous_report(uri))
    direct, result["no_cache"] = timed(lambda: build_report(tracking_uri=uri))
    for name in ("cold", "warm"):
        stats: dict = {}
        rep, result[name] = timed(lambda: build_report(tracking_uri=uri, cache_dir=cache_dir,
                                                       cache_stats=stats))
        result[name]["identical_to_no_cache"] = rep.markdown == direct.markdown
        result[name]["runs_reread"] = sum(s["reread"] for s in stats.values())
    cli_csv, result["cli_warm"] = cli_report(uri, home)
    result["cli_warm"]["identical_to_no_cache"] = cli_csv == direct.rows_as("csv")
    result["changes"] = change_runs(uri, changed)
    stats = {}
    rep, result["incremental"] = timed(lambda: build_report(tracking_uri=uri, cache_dir=cache_dir,
                                                            cache_stats=stats))
    result["incremental"]["runs_reread"] = sum(s["reread"] for s in stats.values())
    result["incremental"]["modes"] = sorted({s["mode"] for s in stats.values()})
    after = build_report(tracking_uri=uri)
    result["incremental"]["identical_to_no_cache"] = rep.markdown == after.markdown
    result["no_cache_identical_to_baseline"] = direct.markdown == base_md
    result["n_rows"] = direct.n_runs
    for name in ("no_cache", "cold", "warm", "incremental", "cli_warm"):
        result[name]["ratio_wall"] = round(result["baseline"]["wall_s"] /
                                           result[name]["wall_s"], 2)
        if "cpu_s" in result[name]:
            result[name]["ratio_cpu"] = round(result["baseline"]["cpu_s"] /
                                              result[name]["cpu_s"], 2)
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["cores"] = os.cpu_count()
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--changed", type=int, default=50)
    ap.add_argument("--out", type=Path, default=None,
                    help="keeps the built store for reuse (default: a temporary directory)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        print(json.dumps(bench(args.runs, args.changed, out), indent=2))


if __name__ == "__main__":
    main()
