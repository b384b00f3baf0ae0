"""Benchmark: `regseg report` time for 10,000 runs.

Two measurements, reported separately (the sum is the end-to-end estimate):

1. ``frame``: 10,000 synthetic runs built directly as the runs DataFrame that
   ``reports.mlflow_source.load_runs`` returns (same columns), then tables + markdown (and the
   plots) timed exactly -- no extrapolation.
2. ``mlflow``: N runs (default 1,000) logged into a real SQLite MLflow store with the contract's
   layout (tags, ~45 params, best/last metrics, 3 evaluated epochs each); ``load_runs`` timed on
   it and extrapolated linearly to 10,000 runs (reading is paginated 1,000 runs per call, so
   the cost is linear in the run count). ``--mlflow-runs 10000`` measures it directly instead.

Usage: ``python benchmarks/bench_report.py [--runs 10000] [--mlflow-runs 1000] [--out DIR]``
(an existing ``DIR/bench_mlflow.db`` is reused instead of logging the runs again).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GROUP_MODELS = {  # group -> (models, configurations per model)
    "backbone": ([f"{b}_decoder14" for b in ("exp30", "exp43", "exp46", "exp47", "exp48", "exp49",
                                              "exp50", "exp51", "exp52", "regnety600mf")], 1),
    "decoder": ([f"exp43_{d}" for d in ("decoder4", "decoder10", "decoder12", "decoder14",
                                        "decoder26", "lraspp", "SFNetDecoder", "BisenetDecoder")],
                                        1),
    "resize_crop": (["exp49_decoder14"], 7),
    "training_techniques": (["exp48_decoder26"], 3),
    "reproducibility": (["exp49_decoder14"], 1),
    "ddrnet_comparison": (["exp48_decoder26", "ddrnet23"], 1),
    "sweep_lr": (["exp48_decoder26"], 40),  # an unknown group: generic table
}
CROPS = ([512, 1024], [768, 768], [768, 1536], [1024, 1024])
RESIZES = ((400, 1600), (512, 2048))


def synthetic_records(n: int, seed: int = 0) -> list[dict]:
    """``n`` run rows spread round-robin over every (group, configuration)."""
    rng = random.Random(seed)
    configs = []
    for group, (models, per_model) in GROUP_MODELS.items():
        for model in models:
            for k in range(per_model):
                lo, hi = RESIZES[k % 2]
                configs.append((group, model, k, lo, hi, CROPS[k % 4]))
    rows = []
    for i in range(n):
        group, model, k, lo, hi, crop = configs[i % len(configs)]
        best = 74.0 + rng.gauss(0, 0.5) + (k % 5) * 0.1
        rows.append({
            "run_id": f"{i:032x}", "experiment": f"regseg/{group}", "status": "FINISHED",
            "group": group, "model": model,
            "config_label": f"model_name={model},k={k},resize={lo}-{hi},crop={crop}",
            "source": "regseg", "seed": str(i // len(configs)), "reference_file": "",
            "reference_run": "", "best_mIoU": best - 0.5, "best_mIoU_reduced": best,
            "best_epoch": 480.0, "last_mIoU": best - 0.7, "last_mIoU_reduced": best - 0.2,
            "model_params": 3368023.0, "model_gflops": 35.88, "model_field_of_view": 3743.0,
            "param.train_min_size": str(lo), "param.train_max_size": str(hi),
            "param.train_crop_size": json.dumps(crop), "param.aug_mode": "custom3",
            "param.loss_type": "cross_entropy", "param.epochs": "500",
            "param.lr": str(0.01 * (k + 1)),
        })
    return rows


def bench_frame(n: int, out: Path) -> dict:
    from reports.mlflow_source import frame_from_records
    from reports.report import report_from_frame

    t0 = time.perf_counter()
    df = frame_from_records(synthetic_records(n))
    t1 = time.perf_counter()
    rep = report_from_frame(df)  # cold: includes importing scipy/tabulate
    t2 = time.perf_counter()
    rep_plots = report_from_frame(df, plots_dir=out / "plots")
    t3 = time.perf_counter()
    again = report_from_frame(df).markdown
    t4 = time.perf_counter()
    return {"runs": n, "build_frame_s": round(t1 - t0, 3), "tables_markdown_s": round(t2 - t1, 3),
            "tables_markdown_warm_s": round(t4 - t3, 3),
            "tables_markdown_plots_s": round(t3 - t2, 3), "tables": len(rep.tables),
            "markdown_bytes": len(rep.markdown.encode()), "deterministic": again == rep.markdown,
            "plots": [p.name for p in rep_plots.plot_paths]}


def _log_runs(uri: str, n: int) -> None:
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp_ids = {}
    for rec in synthetic_records(n):
        exp = rec["experiment"]
        if exp not in exp_ids:
            exp_ids[exp] = client.create_experiment(exp)
        run_id = client.create_run(exp_ids[exp]).info.run_id
        tags = {"regseg.group": rec["group"], "regseg.model": rec["model"],
                "regseg.source": "regseg",
                "regseg.config_label": rec["config_label"], "regseg.seed": rec["seed"]}
        params = {k[6:]: v for k, v in rec.items() if k.startswith("param.")}
        params.update({f"knob_{j}": str(j) for j in range(36)}, model_params="3368023",
                      model_gflops="35.88", model_field_of_view="3743")
        metrics = [Metric("mIoU", rec["best_mIoU"] - d, 0, s) for s, d in ((24, 5), (249, 1), (499,
                                                                                               0.2))]
        metrics += [Metric(k, rec[k], 0, 499) for k in ("best_mIoU", "best_mIoU_reduced",
                                                        "best_epoch")]
        client.log_batch(run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()],
                         tags=[RunTag(k, v) for k, v in tags.items()])
        client.set_terminated(run_id, "FINISHED")


def bench_mlflow(n: int, target: int, out: Path) -> dict:
    """Log ``n`` runs (unless ``out/bench_mlflow.db`` already exists: reused) and time reading."""
    from reports.mlflow_source import load_runs
    from reports.report import report_from_frame

    db = out / "bench_mlflow.db"
    uri = f"sqlite:///{db}"
    t0 = time.perf_counter()
    reused = db.exists()
    if not reused:
        _log_runs(uri, n)
    t1, c1 = time.perf_counter(), time.process_time()
    df = load_runs(tracking_uri=uri)
    t2, c2 = time.perf_counter(), time.process_time()
    report_from_frame(df)
    t3 = time.perf_counter()
    n = len(df)
    return {"runs": n, "store_reused": reused, "log_runs_s": round(t1 - t0, 2),
            "load_runs_s": round(t2 - t1, 3), "load_runs_cpu_s": round(c2 - c1, 3),
            "report_from_frame_s": round(t3 - t2, 3),
            f"load_runs_extrapolated_to_{target}_s": round((t2 - t1) / n * target, 2),
            f"load_runs_cpu_extrapolated_to_{target}_s": round((c2 - c1) / n * target, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--mlflow-runs", type=int, default=1_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        frame = bench_frame(args.runs, out)
        mlflow = bench_mlflow(args.mlflow_runs, args.runs, out) if args.mlflow_runs else None
    est = None
    if mlflow:
        est = round(mlflow[f"load_runs_extrapolated_to_{args.runs}_s"] + frame["tables_markdown_s"],
                    2)
    print(json.dumps({"frame": frame, "mlflow": mlflow,
                      f"estimated_end_to_end_{args.runs}_runs_s": est}, indent=2))


if __name__ == "__main__":
    main()
