"""The engine's own per-epoch throughput, fast path against the plain eager engine.

    python benchmarks/bench_engine_epoch.py [--rounds 3] [--epochs 2] [--json]

Runs real `regseg train` commands on a generated synthetic dataset (Cityscapes layout, 256x512
photos) at the train-step benchmark's setting (exp48_decoder26, batch 4, 256x256 crops, one
torch thread, loader in the main process), alternating this build's engine with the plain
eager engine (benchmarks/_plain_engine/sitecustomize.py: the same engine with the fast-path
functions replaced by `regseg benchmark --baseline`'s). Reads the images/s each run logs for
its last epoch (training) and for its evaluation from metrics.jsonl, and prints the medians and
the median of the per-round ratios, the figure to set beside `regseg benchmark --suite`'s
train-step and eval ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLAIN = Path(__file__).resolve().parent / "_plain_engine"


def config(data: Path, epochs: int) -> dict:
    return {"model_name": "exp48_decoder26", "num_classes": 19, "dataset_name": "synthetic",
            "dataset_dir": str(data), "epochs": epochs, "batch_size": 4, "lr": 0.02,
            "warmup_iters": 2, "mixed_precision": False, "aug_mode": "baseline",
            "class_uniform_pct": 0.0, "train_min_size": 256, "train_max_size": 320,
            "train_crop_size": [256, 256], "val_input_size": 256, "val_label_size": 256,
            "num_workers": 0, "max_eval": 8, "eval_every": 1, "eval_last_k_epochs": 0,
            "save_every_k_epochs": 0, "device": "cpu"}


def train(cfg: Path, out: Path, plain: bool) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if plain:
        env["PYTHONPATH"] = os.pathsep.join([str(PLAIN), str(ROOT), env.get("PYTHONPATH", "")])
        env["REGSEG_PLAIN_ENGINE"] = "1"
    done = subprocess.run([sys.executable, "-m", "regseg", "train", "--config", str(cfg),
                           "--out", str(out), "--threads", "1", "--no-progress", "--format",
                           "json"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    if plain != ("plain eager engine: regseg.engine.fastpath replaced" in done.stderr):
        raise SystemExit(f"the plain engine was {'not ' if plain else ''}in place: {out}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    return {"train_images_per_s": last["images_per_s"],
            "eval_images_per_s": last.get("eval_images_per_s")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from regseg.data.synthetic import make_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_synthetic(root / "data", train=24, val=8, size=(256, 512), seed=0)
        cfg = root / "config.json"
        cfg.write_text(json.dumps(config(data, args.epochs)))
        runs: dict[str, list[dict]] = {"plain": [], "engine": []}
        for i in range(args.rounds):
            for name in ("plain", "engine"):
                runs[name].append(train(cfg, root / f"{name}{i}", name == "plain"))
                print(f"round {i + 1} {name}: {runs[name][-1]}", file=sys.stderr)
    result = {"setting": "exp48_decoder26, batch 4, 256x256 crops, 1 thread, CPU, "
                         f"{args.epochs} epochs of 24 images, last epoch", "rounds": args.rounds,
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    for key in ("train_images_per_s", "eval_images_per_s"):
        plain = [r[key] for r in runs["plain"]]
        fast = [r[key] for r in runs["engine"]]
        result[key] = {"plain": statistics.median(plain), "engine": statistics.median(fast),
                       "ratio": statistics.median(f / p for f, p in zip(fast, plain)),
                       "per_round": [round(f / p, 3) for f, p in zip(fast, plain)]}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
