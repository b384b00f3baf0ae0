"""A real MLflow store for the report benchmark: ``n`` finished runs with a trained run's layout.

Each run is logged through ``MlflowClient`` the way the worker logs one (docs/CONTRACTS.md,
"MLflow layout"): ~25 tags (spec, group, seed, provenance, run name, description, checkpoint
paths), ~45 params (the TrainConfig fields plus the model facts), per-epoch metrics at three
evaluated epochs for mIoU and mIoU^R, the last epoch's loss, lr, throughput, pixel accuracy
and 19 per-class IoUs, and the final ``best_*`` metrics (29 keys: what search_runs reads);
then closed FINISHED. One arm parent run per configuration (the report skips them) sits beside
the seeds, as in a store the worker filled.

Building goes through the API only: ``create_run`` carries the tags, one ``log_batch`` carries
the params and metrics, ``set_terminated`` closes the run (three calls a run). One process:
SQLite serialises writers, and two logging processes were slower than one (lock waits). The
store is
written to ``<db>.building`` and renamed when complete, with ``<db>.json`` naming its layout
version and run count, so a half-built store is never reused.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

LAYOUT_VERSION = 2
CLASSES = ("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
           "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
           "bus", "train", "motorcycle", "bicycle")
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
    "sweep_lr": (["exp48_decoder26"], 40),  # a group the report has no table for: generic
}
CROPS = ([512, 1024], [768, 768], [768, 1536], [1024, 1024])
RESIZES = ((400, 1600), (512, 2048))
EPOCHS = (24, 249, 499)
T0_MS = 1_780_000_000_000  # a fixed start of the synthetic timeline (ms since the epoch)


def configurations() -> list[tuple]:
    """Every (group, model, k, min size, max size, crop) of the benchmark's studies."""
    out = []
    for group, (models, per_model) in GROUP_MODELS.items():
        for model in models:
            for k in range(per_model):
                lo, hi = RESIZES[k % 2]
                out.append((group, model, k, lo, hi, CROPS[k % 4]))
    return out


def label(model: str, k: int, lo: int, hi: int, crop: list[int]) -> str:
    return f"model_name={model},k={k},resize={lo}-{hi},crop={crop}"


def run_layout(i: int, config: tuple, rng: random.Random) -> tuple[dict, dict, list]:
    """(tags, params, [(key, value, step)]) of the ``i``-th run."""
    group, model, k, lo, hi, crop = config
    seed = i // len(configurations())
    tags = {"regseg.spec": f"experiments/{group}.yaml", "regseg.group": group,
            "regseg.sweep": str(k + 1), "regseg.run_hash": f"{i:064x}",
            "regseg.seed": str(seed), "regseg.job_id": str(i + 1), "regseg.attempt": "1",
            "regseg.git_commit": "4fb5e05" + "0" * 33, "regseg.host": f"node{i % 8}",
            "regseg.device": "cuda:0", "regseg.source": "regseg", "regseg.model": model,
            "regseg.config_label": label(model, k, lo, hi, crop),
            "regseg.arm_key": hashlib.sha256(f"{group}|{k}|{model}".encode()).hexdigest()[:16],
            "regseg.provenance.git_dirty": "false", "regseg.provenance.python": "3.11.9",
            "regseg.provenance.torch": "2.5.1", "regseg.provenance.cuda": "12.4",
            "regseg.provenance.cudnn": "90100", "regseg.provenance.gpu": "NVIDIA T4",
            "regseg.provenance.dataset_fingerprint": "sha256:" + "ab" * 32,
            "regseg.best_checkpoint": f"/runs/{i}/checkpoints/best.pt",
            "regseg.last_checkpoint": f"/runs/{i}/checkpoints/last.pt",
            "mlflow.runName": f"{model} k{k} · s{seed}",
            "mlflow.note.content": f"spec experiments/{group}.yaml, job {i + 1}"}
    params = {"model_name": model, "train_min_size": str(lo), "train_max_size": str(hi),
              "train_crop_size": json.dumps(crop), "aug_mode": "custom3",
              "loss_type": "cross_entropy", "epochs": "500", "lr": str(0.01 * (k + 1)),
              "model_params": "3368023", "model_gflops": "35.88", "model_field_of_view": "3743"}
    params.update({f"knob_{j}": str(j * 7 % 11) for j in range(34)})
    best = 74.0 + rng.gauss(0, 0.5) + (k % 5) * 0.1
    # The store keeps every key's latest value (what search_runs reads) and the history; the
    # history is the evaluated epochs of mIoU / mIoU^R (the curves), the rest at the end only.
    metrics = [(key, best - gap - off, step) for step, gap in zip(EPOCHS, (5.0, 1.0, 0.2))
               for key, off in (("mIoU", 0.5), ("mIoU_reduced", 0.0))]
    last = EPOCHS[-1]
    metrics += [("loss", 0.22, last), ("lr", 0.0, last), ("images_per_s", 61.5, last),
                ("epoch_time", 120.0, last), ("pixel_accuracy", 94.8, last)]
    metrics += [(f"iou/{c}", best - 0.2 + j % 7 - 3, last) for j, c in enumerate(CLASSES)]
    metrics += [("best_mIoU", best - 0.5, last), ("best_mIoU_reduced", best, last),
                ("best_epoch", 480.0, last)]
    return tags, params, metrics


def log_run(client, experiment_id: str, tags: dict, params: dict, metrics: list,
            start_ms: int, end_ms: int) -> str:
    """One finished run through the API (create with tags, one batch, close): its id."""
    from mlflow.entities import Metric, Param

    run_id = client.create_run(experiment_id, start_time=start_ms, tags=tags).info.run_id
    client.log_batch(run_id, params=[Param(k, v) for k, v in params.items()],
                     metrics=[Metric(k, v, start_ms, s) for k, v, s in metrics])
    client.set_terminated(run_id, "FINISHED", end_time=end_ms)
    return run_id


def _log_parents(client, exp_ids: dict[str, str]) -> None:
    from mlflow.entities import Metric

    for group, model, k, lo, hi, crop in configurations():
        tags = {"regseg.arm_parent": "true", "regseg.group": group,
                "regseg.config_label": label(model, k, lo, hi, crop)}
        run_id = client.create_run(exp_ids[group], start_time=T0_MS, tags=tags).info.run_id
        client.log_batch(run_id, metrics=[Metric("best_mIoU_reduced", 74.0, T0_MS, 1)])
        client.set_terminated(run_id, "FINISHED", end_time=T0_MS)


def _build(uri: str, n: int, progress) -> None:
    from mlflow.tracking import MlflowClient

    client, configs = MlflowClient(tracking_uri=uri), configurations()
    exp_ids = {group: client.create_experiment(f"regseg/{group}") for group in GROUP_MODELS}
    _log_parents(client, exp_ids)
    for i in range(n):
        config = configs[i % len(configs)]
        tags, params, metrics = run_layout(i, config, random.Random(i))
        begin = T0_MS + i * 60_000
        log_run(client, exp_ids[config[0]], tags, params, metrics, begin, begin + 3_600_000)
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1)


def ensure_store(db: Path, n: int, *, progress=None) -> bool:
    """A complete ``n``-run store at ``db`` (built unless a complete one is there); returns
    whether an existing store was reused."""
    manifest = db.with_suffix(".json")
    want = {"layout": LAYOUT_VERSION, "runs": n}
    if db.exists() and manifest.exists():
        try:
            if json.loads(manifest.read_text()) == want:
                return True
        except (OSError, ValueError):
            pass
    building = db.with_name(db.name + ".building")
    building.unlink(missing_ok=True)
    _build(f"sqlite:///{building}", n, progress)
    manifest.unlink(missing_ok=True)
    building.replace(db)
    manifest.write_text(json.dumps(want) + "\n")
    return False
