"""`regseg search`: an Optuna study whose trials are queued runs (ask/tell over the queue)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("search")(search_cmd)


def search_cmd(
    spec: Path = typer.Argument(..., help="A spec that expands to exactly one run (the base)."),
    params: List[str] = typer.Option(..., "--param", help="NAME=float:LOW:HIGH[:log] | "
                                     "NAME=int:LOW:HIGH[:log] | NAME=choice:A,B,... (repeatable)."),
    trials: int = typer.Option(8, "--trials", min=1, help="Trials in total."),
    parallel: int = typer.Option(2, "--parallel", min=1, help="Trials queued at once."),
    metric: str = typer.Option("best_mIoU_reduced", "--metric",
                               help="best_mIoU_reduced | best_mIoU (from each job's summary)."),
    direction: str = typer.Option("maximize", "--direction", help="maximize | minimize."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default regseg/<spec>-search)."),
    storage: Optional[str] = typer.Option(None, "--storage",
                                          help="Optuna storage URL (default sqlite:///<state>/optuna.db)."),
    seed: int = typer.Option(0, "--seed", help="Sampler (TPE) seed."),
    wait: bool = typer.Option(True, "--wait/--no-wait",
                              help="Drive until every trial has finished, or queue and return."),
    poll_seconds: float = typer.Option(2.0, "--poll-seconds", min=0.05, help="Poll period."),
    db: Optional[str] = typer.Option(None, "--db", help="Queue database URL."),
    fmt: str = typer.Option("table", "--format", help="table | json."),
) -> None:
    """Search TrainConfig fields with Optuna: every trial is a queued run that `regseg worker`
    trains; finished jobs are told to the study. Safe to stop and run again."""
    from orchestrator.search import Search, parse_param
    from orchestrator.queue.store import open_store
    from regseg.cli._output import emit

    search = Search(open_store(db), spec, [parse_param(p) for p in params], metric=metric,
                    direction=direction, study_name=study, storage=storage, sampler_seed=seed)
    search.drive(trials=trials, parallel=parallel, wait=wait, poll_seconds=poll_seconds)
    rows = search.rows()
    emit(rows, fmt)
    finished = [r for r in rows if r["state"] == "COMPLETE"]
    if finished and fmt == "table":
        best = search.study.best_trial
        print(f"best: trial {best.number}, {metric} {best.value:.2f}, {best.params}")
