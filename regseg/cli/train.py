"""``regseg train`` and ``regseg eval``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)


def train_command(
    config: Path = typer.Option(..., "--config", "-c", help="TrainConfig YAML/JSON file."),
    out: Path = typer.Option(..., "--out", "-o", help="Run directory (checkpoints/, metrics.jsonl, summary.json)."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Override a field: key=value (repeatable)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars (only on a terminal)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (1 is best on a busy CPU)."),
    cpu_bf16: bool = typer.Option(False, "--cpu-bf16", help="On CPU, autocast to bf16 when mixed_precision is on "
                                  "(default: fp32 on CPU; CUDA uses fp16 + GradScaler)."),
    fmt: str = typer.Option("table", "--format", help="table | json"),
) -> None:
    """Train one run; resumes from OUT/checkpoints/last.pt when it exists.

    SIGTERM/SIGINT stop at the next iteration with a resumable checkpoint (exit status 75).
    """
    from regseg.cli._output import emit
    from regseg.config import parse_set
    from regseg.train import run, stop_on_signals

    with stop_on_signals() as stop:
        summary = run(config, out, overrides=parse_set(set_ or []), stop=stop,
                      progress=None if progress else False, cpu_amp="bf16" if cpu_bf16 else None,
                      threads=threads)
    keys = ("best_mIoU", "best_mIoU_reduced", "best_epoch", "epochs_completed", "device", "out_dir")
    emit({k: summary[k] for k in keys}, fmt)


def eval_command(
    model: str = typer.Option(..., "--model", "-m", help="Model name, e.g. exp48_decoder26."),
    weights: Path = typer.Option(..., "--weights", "-w", help="Checkpoint ({'model': state_dict} or a state dict)."),
    data: Path = typer.Option(..., "--data", "-d", help="Dataset directory."),
    split: str = typer.Option("val", "--split", help="Split to evaluate."),
    dataset: str = typer.Option("cityscapes", "--dataset", help="cityscapes | camvid | synthetic"),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Default: the dataset's class count."),
    val_size: int = typer.Option(1024, "--val-size", help="Short side the images (and labels) are resized to."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    max_eval: int = typer.Option(100000, "--max-eval", help="Evaluate at most this many images."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="Other TrainConfig fields: key=value."),
    threads: Optional[int] = typer.Option(None, "--threads", help="torch CPU threads (1 is best on a busy CPU)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar (only on a terminal)."),
    fmt: str = typer.Option("table", "--format", help="table | json"),
) -> None:
    """Evaluate weights on a split: per-class IoU, mIoU and mIoU^R (percent)."""
    from regseg.cli._output import emit
    from regseg.config import REDUCED_EXCLUDE, TrainConfig, parse_set
    from regseg.data.datasets import get_dataset_spec
    from regseg.engine.setup import evaluate_weights
    from regseg.train import set_threads

    set_threads(threads)

    fields = {"model_name": model, "dataset_name": dataset, "dataset_dir": str(data),
              "val_split": split, "val_input_size": val_size, "val_label_size": val_size,
              "device": device, "max_eval": max_eval, "class_uniform_pct": 0.0, "num_workers": 0}
    n = num_classes if num_classes is not None else len(get_dataset_spec(dataset).classes)
    # mIoU^R leaves out Cityscapes' truck/bus/train; ids beyond a smaller dataset's classes go.
    fields.update(num_classes=n, exclude_classes=[c for c in REDUCED_EXCLUDE if c < n])
    fields.update(parse_set(set_ or []))
    cfg = TrainConfig(**fields)
    result = evaluate_weights(cfg, weights, progress=None if progress else False)
    _print_eval(cfg, result, fmt, emit)


def _print_eval(cfg, result: dict, fmt: str, emit) -> None:
    ious = {k.removeprefix("iou/"): v for k, v in result.items() if k.startswith("iou/")}
    excluded = ",".join(str(c) for c in cfg.exclude_classes)
    if fmt == "json":
        emit({"model": cfg.model_name, "split": cfg.val_split, "images": int(result["eval_images"]),
              "mIoU": result["mIoU"], "mIoU_reduced": result["mIoU_reduced"],
              "exclude_classes": list(cfg.exclude_classes), "pixel_accuracy": result["pixel_accuracy"],
              "iou": ious, "images_per_s": result["eval_images_per_s"]}, fmt)
        return
    rows = [{"class": name, "IoU (%)": v} for name, v in ious.items()]
    rows += [{"class": "mIoU", "IoU (%)": result["mIoU"]},
             {"class": f"mIoU^R (without {excluded})", "IoU (%)": result["mIoU_reduced"]},
             {"class": "pixel accuracy", "IoU (%)": result["pixel_accuracy"]}]
    emit(rows, fmt)
