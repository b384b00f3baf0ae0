"""Helpers shared by the tracking tests (imported as a plain module)."""

from __future__ import annotations


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    """(step, value) of every logged point of ``key``, sorted by step (duplicates kept)."""
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def artifact_paths(client, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for info in client.list_artifacts(run_id, path):
        out |= artifact_paths(client, run_id, info.path) if info.is_dir else {info.path}
    return out


def epoch_metrics(epoch: int, *, evaluated: bool = True) -> dict[str, float]:
    """A metrics dict shaped like the engine's (docs/CONTRACTS.md), values derived from epoch."""
    from regseg.data import CITYSCAPES_CLASSES

    metrics = {"loss": 2.0 - 0.1 * epoch, "lr": 0.05 * (1 - epoch / 10), "images_per_s": 100.0 + epoch,
               "epoch_time": 1.5}
    if evaluated:
        metrics.update({"mIoU": 10.0 + epoch, "mIoU_reduced": 11.0 + epoch, "pixel_accuracy": 50.0})
        metrics.update({f"iou/{name}": float(i + epoch) for i, name in enumerate(CITYSCAPES_CLASSES)})
    return metrics


def unreachable_uri() -> str:
    from orchestrator.tracking_server import free_port

    return f"http://127.0.0.1:{free_port()}"
