"""Benchmark: MLflow tracking overhead as a share of training time.

Trains a real RegSeg model with ``regseg.engine.train`` on generated synthetic data with an
``MlflowCallback`` logging into a real store, and reports the time spent inside the callback's
hooks (``MlflowCallback.hook_seconds``: durable buffer append + fsync + log_batch, complexity at
train start, artifacts at train end) against the training wall time.

Figures (one JSON object on stdout):
- ``overhead_pct``: all hook time / training wall time, for this (tiny, CPU) run;
- ``per_epoch_ms``: mean ``on_epoch_end`` cost (one log_batch of ~30 metrics), and
  ``per_epoch_pct``: that over the mean epoch time;
- ``start_s`` / ``end_s``: one-off costs (GFLOPs count at 1x3x1024x2048 on the meta device,
  config/confusion-matrix artifacts, best checkpoint upload);
- ``cityscapes_epoch_pct``: per-epoch cost over a paper-setting epoch (2975 images at the
  ``--paper-images-per-s`` throughput, default 25 img/s ~ one T4 with AMP at 768x768 crops);
- ``checkpoint_upload_s`` / ``checkpoint_upload_pct`` / ``checkpoint_mb``: with ``--http`` every
  ``last.pt`` is copied into the run (hosts that share no disk resume from it): its mean cost
  per epoch, over the mean epoch time and over a paper-setting epoch (``..._cityscapes_pct``).

Usage: ``python benchmarks/bench_tracking.py [--epochs 6] [--train 16] [--size 128x256]
[--http]`` (``--http``: log through a local ``mlflow server`` subprocess instead of sqlite).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CITYSCAPES_TRAIN_IMAGES = 2975


@dataclass
class _Job:  # the JobInfo fields of docs/CONTRACTS.md
    config: dict
    id: int = 1
    spec_name: str = "bench"
    group: str = "bench"
    sweep_id: int = 1
    run_hash: str = "bench"
    attempt: int = 1
    mlflow_run_id: str | None = None


def _config(data_dir: Path, args):
    from regseg.config import TrainConfig

    h, w = (int(x) for x in args.size.split("x"))
    return TrainConfig(model_name=args.model, dataset_name="synthetic", dataset_dir=str(data_dir),
                       epochs=args.epochs, batch_size=4, lr=0.01, warmup_iters=2,
                       mixed_precision=args.amp, aug_mode="baseline", class_uniform_pct=0.0,
                       train_min_size=h, train_max_size=w, train_crop_size=(h, w),
                       val_input_size=h, val_label_size=h, num_workers=0, max_eval=args.val,
                       eval_every=1, eval_last_k_epochs=0, save_every_k_epochs=0,
                       device=args.device)


def _measure(cfg, tracking_uri: str, out: Path) -> dict:
    from orchestrator.tracking import MlflowCallback, Tracker
    from regseg.engine import train

    run_id = Tracker(tracking_uri, artifact_root=out / "mlartifacts").ensure_run(
        _Job(config=cfg.model_dump(mode="json")))
    cb = MlflowCallback(tracking_uri=tracking_uri, run_id=run_id, out_dir=out / "job")
    started = time.perf_counter()
    summary = train(cfg, out_dir=out / "job", callbacks=[cb], progress=False)
    wall = time.perf_counter() - started
    epochs = [json.loads(line) for line in (out / "job" / "metrics.jsonl").read_text().splitlines()]
    last = out / "job" / "checkpoints" / "last.pt"
    return {"wall": wall, "hooks": dict(cb.hook_seconds), "total": cb.seconds,
            "checkpoint_bytes": last.stat().st_size if last.exists() else 0,
            "epoch_time": sum(e["epoch_time"] for e in epochs) / len(epochs),
            "device": str(summary.get("device"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--train", type=int, default=16, help="synthetic train images")
    parser.add_argument("--val", type=int, default=4, help="synthetic val images")
    parser.add_argument("--size", default="128x256", help="image HxW")
    parser.add_argument("--model", default="exp48_decoder26")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--amp", action="store_true", help="mixed precision (CUDA)")
    parser.add_argument("--http", action="store_true", help="log through a local mlflow server")
    parser.add_argument("--paper-images-per-s", type=float, default=25.0)
    args = parser.parse_args()

    from orchestrator.tracking.server import MlflowServer
    from orchestrator.tracking.store import configure_mlflow_env
    from regseg.data.synthetic import make_synthetic

    configure_mlflow_env()
    with tempfile.TemporaryDirectory(prefix="bench_tracking_") as tmp:
        out = Path(tmp)
        h, w = (int(x) for x in args.size.split("x"))
        data = make_synthetic(out / "data", train=args.train, val=args.val, size=(h, w), seed=0)
        cfg = _config(data, args)
        server = None
        uri = f"sqlite:///{out / 'mlflow.db'}"
        if args.http:
            server = MlflowServer(backend_store_uri=uri, artifacts_destination=out / "served")
            uri = server.start(wait_s=180).url
        try:
            m = _measure(cfg, uri, out)
        finally:
            if server is not None:
                server.stop()
    per_epoch = m["hooks"].get("on_epoch_end", 0.0) / args.epochs
    upload = m["hooks"].get("on_checkpoint", 0.0) / args.epochs
    paper_epoch = CITYSCAPES_TRAIN_IMAGES / args.paper_images_per_s
    result = {
        "store": "http" if args.http else "sqlite", "device": m["device"], "model": args.model,
        "epochs": args.epochs,
        "train_images": args.train, "size": args.size, "train_wall_s": round(m["wall"], 2),
        "hook_s": round(m["total"], 3),
        "overhead_pct": round(100 * m["total"] / m["wall"], 3),
        "start_s": round(m["hooks"].get("on_train_start", 0.0), 3),
        "end_s": round(m["hooks"].get("on_train_end", 0.0), 3),
        "per_epoch_ms": round(1000 * per_epoch, 2),
        "mean_epoch_s": round(m["epoch_time"], 3),
        "per_epoch_pct": round(100 * per_epoch / m["epoch_time"], 3),
        "cityscapes_epoch_s": round(paper_epoch, 1),
        "cityscapes_epoch_pct": round(100 * per_epoch / paper_epoch, 5),
        "checkpoint_mb": round(m["checkpoint_bytes"] / 2**20, 1),
        "checkpoint_upload_s": round(upload, 3),
        "checkpoint_upload_pct": round(100 * upload / m["epoch_time"], 2),
        "checkpoint_upload_cityscapes_pct": round(100 * upload / paper_epoch, 4),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
