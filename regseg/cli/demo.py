"""`regseg demo`: the end-to-end main job on the embedded defaults.

The demo output directory is a self-contained project: ``<out>/experiments/smoke.yaml``,
``<out>/data/synthetic`` (generated), ``<out>/.regseg`` (SQLite queue, MLflow store, job dirs),
``<out>/AblationStudies.md`` and ``<out>/plots``. Running it again reuses the queue, so nothing
retrains (failed jobs of the smoke sweep are retried), and only the report is regenerated.
"""

from __future__ import annotations

import typer

from regseg.cli._output import check_format, emit


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_cmd)


def demo_cmd(
    out: str = typer.Option("demo_out", "--out",
                            help="Output directory (a self-contained project)."),
    workers: int = typer.Option(2, "--workers", min=1,
                                help="CPU slots when there is no GPU "
                                "(with GPUs: one slot per GPU)."),
    train_images: int = typer.Option(48, "--train-images", min=4,
                                     help="Synthetic training images."),
    val_images: int = typer.Option(16, "--val-images", min=2, help="Synthetic validation images."),
    fmt: str = typer.Option("table", "--format", help="table | json (the final summary).",
                            callback=check_format),
) -> None:
    """Generate synthetic data, queue experiments/smoke.yaml, drain it with local workers,
    and regenerate AblationStudies.md and the plots from MLflow.

    Ctrl-C stops the workers (running jobs checkpoint) and exits with status 75; running the
    demo again trains only what is left.
    """
    from regseg.cli._demo_run import DemoOptions, run_demo

    summary = run_demo(DemoOptions(out=out, workers=workers, train_images=train_images,
                                   val_images=val_images, quiet=fmt == "json"))
    if fmt == "json":
        emit(summary, "json")
        raise typer.Exit(0 if summary["failed"] == 0 else 1)
    print()
    print(f"Runs: {summary['succeeded']} succeeded, {summary['failed']} failed "
          f"({summary['trained_now']} trained now, {summary['already_done']} already done) in "
          f"{summary['seconds']:.0f} s")
    print(f"Report: {summary['report']}")
    print(f"Plots:  {', '.join(summary['plots'])}")
    print(f"Job logs: {summary['jobs_dir']}")
    print(f"Open the MLflow UI:  {summary['ui_command']}")
    print(f"  then the smoke runs, seeds grouped under their arm:  {summary['ui_url']}")
    raise typer.Exit(0 if summary["failed"] == 0 else 1)
