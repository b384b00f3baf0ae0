"""``regseg predict``: colour predictions, overlays, error maps and Cityscapes submissions."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from regseg.cli._output import check_format


def register(app: typer.Typer) -> None:
    app.command("predict")(predict_command)


def predict_command(
    inputs: List[Path] = typer.Argument(...,
                                        help="Image files or directories (searched recursively)."),
    model: str = typer.Option(..., "--model", "-m", help="Model name, e.g. exp48_decoder26."),
    weights: Path = typer.Option(..., "--weights", "-w",
                                 help="Checkpoint ({'model': state_dict} or a state dict)."),
    out: Path = typer.Option(..., "--out", "-o",
                             help="Directory for <name>_pred/_overlay/_gt/_error.png."),
    overlay: float = typer.Option(0.5, "--overlay",
                                  help="Weight of the colours in the overlay (0-1)."),
    input_size: Optional[tuple[int, int]] = typer.Option(
        None, "--input-size", help="Resize images to H W for the model (default: as stored); "
        "outputs keep the stored size."),
    batch: int = typer.Option(1, "--batch",
                              help="Images per forward pass (consecutive images of one size)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    amp: bool = typer.Option(True, "--amp/--no-amp", help="fp16 autocast on CUDA (CPU: fp32)."),
    submission: Optional[Path] = typer.Option(
        None, "--cityscapes-submission", help="Also write labelIds PNGs for the Cityscapes "
        "benchmark server: DIR/<city>/<city>_<seq>_<frame>_leftImg8bit.png."),
    threads: Optional[int] = typer.Option(None, "--threads",
                                          help="torch CPU threads (1 is best on a busy CPU)."),
    progress: bool = typer.Option(True, "--progress/--no-progress",
                                  help="Progress bar (only on a terminal)."),
    fmt: str = typer.Option("table", "--format", callback=check_format, help="table | json"),
) -> None:
    """Predict images: colour prediction and overlay per image; ground truth and error map when
    a Cityscapes label sits next to the image (leftImg8bit/<split>/<city>/ -> gtFine/...).

    The class count comes from the checkpoint; a checkpoint of another zoo model is named.
    """
    import sys

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from regseg.cli._output import emit
    from regseg.predict import predict
    from regseg.train import set_threads

    set_threads(threads)
    show = progress and sys.stderr.isatty()
    columns = (TextColumn("predict"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=not show) as bar:
        task = bar.add_task("predict", total=None)
        summary = predict(model, weights, inputs, out, overlay=overlay, input_size=input_size,
                          batch=batch, device=device, amp=amp, submission_dir=submission,
                          on_progress=lambda done, total: bar.update(task, completed=done,
                                                                     total=total))
    if fmt == "json":
        emit(summary.as_dict(), fmt)
        return
    extra = f", submission in {summary.submission_dir}" if summary.submission_dir else ""
    print(f"{summary.images} images ({summary.with_ground_truth} with ground truth) in "
          f"{summary.seconds:.1f} s, {summary.images_per_s:.2f} images/s on {summary.device} "
          f"-> {summary.out_dir}{extra}")
