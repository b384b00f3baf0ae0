"""`regseg models` (the zoo with params, GFLOPs, field of view) and `regseg benchmark`."""

from __future__ import annotations

from typing import Optional

import typer

from regseg.cli._output import check_format

MODEL_COLUMNS = ("name", "body", "decoder", "params", "gflops", "field_of_view", "dilation_rates")


def register(app: typer.Typer) -> None:
    app.command("models")(models_cmd)
    app.command("benchmark")(benchmark_cmd)


def model_rows(names: list[str], input_size: tuple[int, int], *, progress: bool,
               table=None) -> list[dict]:
    """One row per model: MODEL_COLUMNS. GFLOPs in the paper's convention at 1x3xHxW, from the
    on-disk cache when this code version has counted them before (regseg.cli._model_table)."""
    from rich.console import Console
    from rich.progress import Progress

    from regseg.cli._model_table import ModelTable

    table = table if table is not None else ModelTable()
    show = progress and table.missing(names, input_size) > 0
    with Progress(console=Console(stderr=True), transient=True, disable=not show) as bar:
        task = bar.add_task("counting GFLOPs (cached for the next call)", total=len(names))
        try:
            rows = table.rows(names, input_size, on_row=lambda: bar.advance(task))
        finally:
            table.save()  # what was counted before an interruption stays counted
    for row in rows:
        row.update(gflops=round(row["gflops"], 2), decoder=row["decoder"] or "",
                   dilation_rates=row["dilation_rates"] or "")
    return [{c: row[c] for c in MODEL_COLUMNS} for row in rows]


def models_cmd(
    fmt: str = typer.Option("table", "--format", help="Output format: table | json.",
                            callback=check_format),
    input_size: tuple[int, int] = typer.Option((1024, 2048), "--input-size",
                                               help="Height and width for GFLOPs."),
    model: Optional[list[str]] = typer.Option(None, "--model", "-m",
                                              help="Only these models (repeatable)."),
) -> None:
    """List every model with params, GFLOPs and field of view.

    All body x decoder combinations plus DDRNet-23; GFLOPs in the paper's (fvcore) convention,
    one multiply-add = one FLOP, at 1x3xHxW (default 1024x2048). The figures are counted once
    per model, input size and code version and then read from ~/.cache/regseg
    ($REGSEG_CACHE_DIR).
    """
    import sys

    from regseg.cli._model_table import ModelTable
    from regseg.cli._output import emit

    table = ModelTable()
    names = list(model) if model else table.names()
    table.check_names(names)  # unknown names fail before any counting
    rows = model_rows(names, tuple(input_size), progress=sys.stderr.isatty(), table=table)
    emit(rows, fmt, columns=MODEL_COLUMNS)


def benchmark_cmd(
    model: str = typer.Option("exp48_decoder26", "--model", "-m", help="Model name."),
    mode: str = typer.Option("eval", "--mode", help="eval | train."),
    input_size: Optional[tuple[int, int]] = typer.Option(
        None, "--input-size", help="Height and width (default: 512 1024 eval / 256 256 train on "
        "CPU; 1024 2048 / 768 768 on CUDA)."),
    batch: Optional[int] = typer.Option(None, "--batch", help="Batch size (default 1 eval; "
                                        "4 train on CPU, 8 on CUDA)."),
    iters: int = typer.Option(10, "--iters", help="Timed iterations."),
    warmup: int = typer.Option(3, "--warmup", help="Untimed warm-up iterations."),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda."),
    amp: Optional[bool] = typer.Option(
        None, "--amp/--no-amp", help="Autocast: float16 on CUDA, bfloat16 on CPU (default: on "
        "for CUDA as in the paper's speed protocol, off for CPU)."),
    baseline: bool = typer.Option(
        False, "--baseline", help="Time the plain eager baseline (contiguous, unfused, for-loop "
        "SGD) instead of the engine's path."),
    num_classes: int = typer.Option(19, "--num-classes", help="Classifier width."),
    suite: bool = typer.Option(False, "--suite", help="Run the whole suite (model eval/train "
                               "and train loader, report, queue, slot idle, each against its "
                               "baseline) and write "
                               "benchmarks/results/<date>.json and .md."),
    quick: bool = typer.Option(False, "--quick", help="--suite: fewer rounds and smaller system "
                               "measurements (a few minutes)."),
    system: bool = typer.Option(True, "--system/--no-system", help="--suite: also measure "
                                "`regseg report` over 10,000 runs, queue claims/s with 8 workers "
                                "(PostgreSQL too when $REGSEG_TEST_PG_URL is set) and a slot's "
                                "idle gap, with the checkout's benchmarks/ scripts."),
    out_dir: str = typer.Option("benchmarks/results", "--out-dir", help="--suite: where to write."),
    fmt: str = typer.Option("table", "--format", help="Output format: table | json."),
) -> None:
    """Measure steady-state images/s of a model after warm-up, on the engine's own code path.

    eval: the engine's folded channels_last copy under inference mode; train: the engine's
    training iteration (forward, loss, backward, fused SGD step, schedule). Reports the median
    iteration time. --suite runs every measurement against its baseline.
    """
    from regseg.cli._output import emit

    if suite:
        from orchestrator.paths import state_dir
        from regseg.benchmark.suite import run_suite

        record = run_suite(model=model, device=device, quick=quick, out_dir=out_dir,
                           system=system, state_dir=state_dir())
        rows = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()
                 if k != "baseline_is"} for row in record["results"]]
        emit(rows, fmt)
        typer.echo(f"wrote {record['json_path']} and {record['markdown_path']}", err=True)
        return
    from regseg.benchmark import benchmark

    result = benchmark(model, mode=mode, input_size=input_size, batch=batch, iters=iters,
                       warmup=warmup, device=device, amp=amp,
                       path="eager" if baseline else "engine", num_classes=num_classes)
    row = result.as_row()
    row["seconds_per_iter"] = round(row["seconds_per_iter"], 4)
    row["images_per_s"] = round(row["images_per_s"], 3)
    emit([row], fmt)
