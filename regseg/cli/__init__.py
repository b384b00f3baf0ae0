"""The `regseg` command line. One small module per command group, each exposing ``register(app)``.

Command modules import heavy libraries (torch, mlflow, pandas) inside the command functions so
`regseg --help` stays fast. The library raises ``RegsegError``; ``main`` maps it to one line on
stderr and its exit code.
"""

from __future__ import annotations

import importlib
import sys

import typer

# Command groups, in --help order. Each module defines register(app: typer.Typer) -> None.
COMMAND_MODULES = (
    "models",      # models, benchmark
    "train",       # train, eval
    "predict",     # predict
    "data",        # make-synthetic, make-half-res
    "queue",       # queue, status, cancel, retry, worker
    "slurm",       # slurm submit | status | cancel (workers as a SLURM array)
    "search",      # search (Optuna ask/tell over the queue)
    "tracking",    # ui
    "report",      # report, import-logs
    "diff",        # diff (two runs: config, provenance, metrics)
    "demo",        # demo
)

app = typer.Typer(
    name="regseg",
    help="Run, track and publish ablation studies of RegSeg (Gao, 2021).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich panels cut long defaults at 80 columns off a terminal and print
    # docstring markup (``x``) verbatim; plain text wraps instead and shows every default.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"regseg.cli.{name}").register(app)


_register_all()


def main() -> None:
    from regseg.errors import RegsegError
    from regseg.exit_codes import EXIT_INTERRUPTED

    try:
        app()
    except RegsegError as exc:
        label = "interrupted" if exc.exit_code == EXIT_INTERRUPTED else "error"
        print(f"{label}: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
