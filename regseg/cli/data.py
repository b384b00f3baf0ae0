"""`regseg make-synthetic`: write a synthetic Cityscapes-layout dataset."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("make-synthetic")(make_synthetic_cmd)


def make_synthetic_cmd(
    directory: Path = typer.Argument(..., help="Dataset root to write (created if missing)."),
    train: int = typer.Option(64, "--train", min=0, help="Number of train images."),
    val: int = typer.Option(16, "--val", min=0, help="Number of val images."),
    size: tuple[int, int] = typer.Option((64, 128), "--size", help="Image height and width."),
    seed: int = typer.Option(0, "--seed", help="Generator seed (same seed -> identical files)."),
    fmt: str = typer.Option("table", "--format", help="Output format: table | json."),
) -> None:
    """Write a synthetic dataset in the exact Cityscapes layout (leftImg8bit/ + gtFine/)."""
    import time

    from regseg.cli._output import emit
    from regseg.data.synthetic import make_synthetic

    t0 = time.perf_counter()
    root = make_synthetic(directory, train=train, val=val, size=size, seed=seed)
    emit({"root": str(root), "train": train, "val": val, "height": size[0], "width": size[1],
          "seed": seed, "seconds": round(time.perf_counter() - t0, 2)}, fmt)
