"""`regseg make-synthetic`: write a synthetic Cityscapes-layout dataset; `regseg make-half-res`:
a downscaled copy of a Cityscapes dataset (the fair ablations' ``cityscapes_dataset_half``)."""

from __future__ import annotations

from pathlib import Path

import typer

from regseg.cli._output import check_format


def register(app: typer.Typer) -> None:
    app.command("make-synthetic")(make_synthetic_cmd)
    app.command("make-half-res")(make_half_res_cmd)


def make_synthetic_cmd(
    directory: Path = typer.Argument(..., help="Dataset root to write (created if missing)."),
    train: int = typer.Option(64, "--train", min=0, help="Number of train images."),
    val: int = typer.Option(16, "--val", min=0, help="Number of val images."),
    size: tuple[int, int] = typer.Option((64, 128), "--size", help="Image height and width."),
    seed: int = typer.Option(0, "--seed", help="Generator seed (same seed -> identical files)."),
    fmt: str = typer.Option("table", "--format", help="Output format: table | json.",
                            callback=check_format),
) -> None:
    """Write a synthetic dataset in the exact Cityscapes layout (leftImg8bit/ + gtFine/)."""
    import time

    from regseg.cli._output import emit
    from regseg.data.synthetic import make_synthetic

    t0 = time.perf_counter()
    root = make_synthetic(directory, train=train, val=val, size=size, seed=seed)
    emit({"root": str(root), "train": train, "val": val, "height": size[0], "width": size[1],
          "seed": seed, "seconds": round(time.perf_counter() - t0, 2)}, fmt)


def make_half_res_cmd(
    src: Path = typer.Argument(..., help="Cityscapes root to read (leftImg8bit/ + gtFine/)."),
    dst: Path = typer.Argument(..., help="Root of the downscaled copy (created if missing)."),
    factor: int = typer.Option(2, "--factor", min=1, help="Divide image width and height by this."),
    label_factor: int = typer.Option(1, "--label-factor", min=1,
                                     help="Divide label width and height by this (1: the reference "
                                          "kept full-resolution labels)."),
    splits: str = typer.Option("train,val", "--splits", help="Comma-separated splits to copy."),
    fmt: str = typer.Option("table", "--format", help="Output format: table | json.",
                            callback=check_format),
) -> None:
    """Write a copy of a Cityscapes dataset with the images downscaled by --factor and the labels
    by --label-factor (resumable)."""
    import time

    from regseg.cli._output import emit
    from regseg.data.half_res import make_half_resolution

    t0 = time.perf_counter()
    names = tuple(s.strip() for s in splits.split(",") if s.strip())
    counts = make_half_resolution(src, dst, factor=factor, splits=names, label_factor=label_factor)
    emit({"src": str(src), "dst": str(dst), "factor": factor, "splits": ",".join(names), **counts,
          "seconds": round(time.perf_counter() - t0, 2)}, fmt)
