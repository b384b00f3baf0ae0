"""``regseg train`` and ``regseg eval``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from regseg.cli._output import check_format


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("eval")(eval_command)


def train_command(
    config: Path = typer.Option(..., "--config", "-c", help="TrainConfig YAML/JSON file."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Run directory (checkpoints/, metrics.jsonl, summary.json)."),
    set_: Optional[List[str]] = typer.Option(None, "--set",
                                             help="Override a field: key=value (repeatable)."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Progress bars (only on a terminal)."),
    threads: Optional[int] = typer.Option(None, "--threads",
                                          help="torch CPU threads (1 is best on a busy CPU)."),
    cpu_bf16: bool = typer.Option(False, "--cpu-bf16",
                                  help="On CPU, autocast to bf16 when mixed_precision is on "
                                  "(default: fp32 on CPU; CUDA uses fp16 + GradScaler)."),
    fmt: str = typer.Option("table", "--format", help="table | json"),
) -> None:
    """Train one run; resumes from OUT/checkpoints/last.pt when it exists.

    SIGTERM/SIGINT stop at the next iteration with a resumable checkpoint (exit status 75).
    """
    from regseg.cli._output import emit
    from regseg.cli._overrides import parse_set
    from regseg.errors import TrainingInterrupted
    from regseg.train import ignore_stop_signals, install_stop_handlers, run

    # The handlers stay until the process exits (as in ``python -m regseg.train``): restoring the
    # defaults would let a duplicate SIGTERM during the teardown kill it with -15 instead of 75.
    stop = install_stop_handlers()
    try:
        summary = run(config, out, overrides=parse_set(set_ or []), stop=stop,
                      progress=None if progress else False, cpu_amp="bf16" if cpu_bf16 else None,
                      threads=threads)
    except TrainingInterrupted:
        ignore_stop_signals()
        raise
    keys = ("best_mIoU", "best_mIoU_reduced", "best_epoch", "epochs_completed", "device", "out_dir")
    emit({k: summary[k] for k in keys}, fmt)


def eval_command(
    weights: Optional[Path] = typer.Option(
        None, "--weights", "-w", help="Checkpoint ({'model': state_dict} or a state dict); a "
        "training checkpoint also gives the model, dataset, sizes and classes."),
    run: Optional[str] = typer.Option(
        None, "--run", help="Instead of --weights: a queue job id or an MLflow run id; its best "
        "checkpoint and config are used."),
    model: Optional[str] = typer.Option(None, "--model", "-m",
                                        help="Model name (default: the checkpoint's)."),
    data: Optional[Path] = typer.Option(None, "--data", "-d",
                                        help="Dataset directory (default: the checkpoint's)."),
    split: Optional[str] = typer.Option(None, "--split", help="Split (default: the checkpoint's "
                                        "val_split, else val)."),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", help="cityscapes | camvid | synthetic (default: the checkpoint's, "
        "else cityscapes)."),
    num_classes: Optional[int] = typer.Option(None, "--num-classes", help="Default: the "
                                              "checkpoint's, else the dataset's class count."),
    val_size: Optional[int] = typer.Option(
        None, "--val-size", help="Short side images and labels are resized to (default: the "
        "checkpoint's val_input_size / val_label_size, else 1024)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    max_eval: int = typer.Option(100000, "--max-eval",
                                 help="Evaluate at most this many images."),
    set_: Optional[List[str]] = typer.Option(None, "--set",
                                             help="Other TrainConfig fields: key=value."),
    db: Optional[str] = typer.Option(None, "--db", help="Queue database of --run JOB (default: "
                                     "$REGSEG_DB or sqlite:///<state>/queue.db)."),
    tracking_uri: Optional[str] = typer.Option(
        None, "--tracking-uri", help="MLflow store of --run (default: $MLFLOW_TRACKING_URI or "
        "embedded)."),
    threads: Optional[int] = typer.Option(None, "--threads",
                                          help="torch CPU threads (1 is best on a busy CPU)."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Progress bar (only on a terminal)."),
    fmt: str = typer.Option("table", "--format", help="table | json", callback=check_format),
) -> None:
    """Evaluate weights on a split: per-class IoU, mIoU and mIoU^R (percent).

    A training checkpoint carries its run's config: dataset, sizes and classes come from it
    unless an option says otherwise, and an option that disagrees with it is reported.
    """
    from regseg.cli._eval_config import eval_config
    from regseg.cli._eval_source import from_run, from_weights
    from regseg.cli._output import emit
    from regseg.cli._overrides import parse_set
    from regseg.engine.setup import evaluate_weights
    from regseg.train import set_threads

    if (weights is None) == (run is None):
        raise typer.BadParameter("expected exactly one of --weights PATH or --run JOB|RUN_ID",
                                 param_hint="--weights / --run")
    source = from_weights(weights) if weights is not None else from_run(run, db=db,
                                                                       tracking_uri=tracking_uri)
    given = {"model_name": model, "dataset_dir": None if data is None else str(data),
             "val_split": split, "dataset_name": dataset, "num_classes": num_classes,
             "val_input_size": val_size, "val_label_size": val_size}
    cfg, notes = eval_config(source, {k: v for k, v in given.items() if v is not None},
                             parse_set(set_ or []), device=device, max_eval=max_eval)
    for line in notes:
        typer.echo(line, err=True)
    set_threads(threads)
    result = evaluate_weights(cfg, source.weights, progress=None if progress else False)
    _print_eval(cfg, result, fmt, emit)


def _print_eval(cfg, result: dict, fmt: str, emit) -> None:
    ious = {k.removeprefix("iou/"): v for k, v in result.items() if k.startswith("iou/")}
    excluded = ",".join(str(c) for c in cfg.exclude_classes)
    if fmt == "json":
        emit({"model": cfg.model_name, "split": cfg.val_split, "images": int(result["eval_images"]),
              "mIoU": result["mIoU"], "mIoU_reduced": result["mIoU_reduced"],
              "exclude_classes": list(cfg.exclude_classes),
              "pixel_accuracy": result["pixel_accuracy"],
              "iou": ious, "images_per_s": result["eval_images_per_s"]}, fmt)
        return
    rows = [{"class": name, "IoU (%)": v} for name, v in ious.items()]
    rows += [{"class": "mIoU", "IoU (%)": result["mIoU"]},
             {"class": f"mIoU^R (without {excluded})", "IoU (%)": result["mIoU_reduced"]},
             {"class": "pixel accuracy", "IoU (%)": result["pixel_accuracy"]}]
    emit(rows, fmt)
