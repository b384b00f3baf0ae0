"""`regseg search`: an Optuna study whose trials are queued runs (ask/tell over the queue)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

_SPEC_DEFAULT = "default: the spec's search: section"


def register(app: typer.Typer) -> None:
    app.command("search")(search_cmd)


def search_cmd(
    spec: Path = typer.Argument(..., exists=True, dir_okay=False,
                                help="A spec that expands to exactly one run (the base), "
                                "optionally with a search: section."),
    params: Optional[List[str]] = typer.Option(
        None, "--param", help="NAME=float:LOW:HIGH[:log] | NAME=int:LOW:HIGH[:log] | "
                              "NAME=choice:A,B,... (repeatable; replaces the spec's NAME)."),
    trials: Optional[int] = typer.Option(None, "--trials", min=1,
                                         help=f"Trials in total ({_SPEC_DEFAULT}, else 8)."),
    parallel: Optional[int] = typer.Option(None, "--parallel", min=1,
                                           help=f"Trials queued at once ({_SPEC_DEFAULT}, "
                                           "else 2)."),
    metric: Optional[str] = typer.Option(None, "--metric",
                                         help="best_mIoU_reduced | best_mIoU "
                                         "(from the queue row)."),
    direction: Optional[str] = typer.Option(None, "--direction", help="maximize | minimize."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="tpe | random | grid | cmaes."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Sampler seed."),
    pruner: Optional[str] = typer.Option(None, "--pruner", help="median | hyperband | none."),
    study: Optional[str] = typer.Option(None, "--study",
                                        help="Study name (default regseg/<spec>-search)."),
    storage: Optional[str] = typer.Option(None, "--storage",
                                          help="Optuna storage URL (default sqlite:///<state>/optuna.db)."),
    wait: bool = typer.Option(True, "--wait/--no-wait",
                              help="Drive until every trial has finished, or queue and return."),
    poll_seconds: float = typer.Option(2.0, "--poll-seconds", min=0.05, help="Poll period."),
    db: Optional[str] = typer.Option(None, "--db", help="Queue database URL."),
    fmt: str = typer.Option("table", "--format", help="table | json."),
) -> None:
    """Search TrainConfig fields with Optuna: every trial is a queued run that `regseg worker`
    trains; each evaluated epoch goes to the pruner, finished jobs are told to the study.
    Safe to stop and run again: the study resumes where it was."""
    from orchestrator.queue.store import open_store
    from orchestrator.search import Search, parse_param
    from regseg.cli._output import emit

    search = Search(open_store(db), spec, [parse_param(p) for p in params or ()], metric=metric,
                    direction=direction, study_name=study, storage=storage, sampler=sampler,
                    sampler_seed=seed, pruner=pruner)
    search.drive(trials=trials, parallel=parallel, wait=wait, poll_seconds=poll_seconds)
    rows = search.rows()
    emit(rows, fmt, floatfmt=".6g")  # sampled values in full: 0.0412 and 0.0437 differ
    finished = [r for r in rows if r["state"] == "COMPLETE"]
    if finished and fmt == "table":
        best = search.study.best_trial
        pruned = sum(r["state"] == "PRUNED" for r in rows)
        print(f"best: trial {best.number}, {search.section.metric} {best.value:.2f}, "
              f"{best.params}; {pruned} trial(s) pruned")
