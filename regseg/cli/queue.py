"""`regseg queue | status | cancel | retry | worker`: the job queue from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from regseg.cli._output import check_format

DB_HELP = "Queue database URL (default: $REGSEG_DB or sqlite:///<state>/queue.db)."
FMT_HELP = "Output format: table | json."


def register(app: typer.Typer) -> None:
    app.command("queue")(queue_cmd)
    app.command("status")(status_cmd)
    app.command("cancel")(cancel_cmd)
    app.command("retry")(retry_cmd)
    app.command("worker")(worker_cmd)


def queue_cmd(
    specs: List[Path] = typer.Argument(..., help="Spec files (experiments/*.yaml)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the expanded runs; queue nothing."),
    force: bool = typer.Option(False, "--force", help="Queue known runs again as new repetitions."),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, help="Failed attempts allowed."),
    sets: List[str] = typer.Option([], "--set", help="Override a base key: KEY=VALUE (YAML value)."),
    project_dir: Optional[Path] = typer.Option(None, "--project-dir",
                                               help="Directory spec paths are confined to."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP,
                            callback=check_format),
) -> None:
    """Expand and validate SPECs, then queue every run in one transaction."""
    from orchestrator import queue
    from orchestrator.store import open_store
    from regseg.cli._output import emit
    from regseg.config import parse_set

    results = queue.submit_specs(open_store(db), specs, project_dir=project_dir,
                                 overrides=parse_set(sets), force=force, priority=priority,
                                 max_attempts=max_attempts, dry_run=dry_run)
    summary = [{"spec": r.spec_name, "sweep": r.sweep_id, "runs": r.n_runs, "new": r.n_new,
                "known": r.n_known} for r in results]
    if fmt == "json":
        emit({"dry_run": dry_run, "sweeps": summary,
              "runs": [{"spec": r.spec_name, **row} for r in results for row in r.rows]}, fmt)
        return
    if dry_run:
        emit([{"spec": r.spec_name, **row} for r in results for row in r.rows], fmt)
        print()
    for s in summary:
        verb = "would queue" if dry_run else f"sweep {s['sweep']}: queued"
        print(f"{s['spec']}: {s['runs']} runs; {verb} {s['new']} new, {s['known']} already known")


def status_cmd(
    sweep: Optional[int] = typer.Option(None, "--sweep", help="Only this sweep."),
    state: List[str] = typer.Option([], "--state", help="Only jobs in this state (repeatable)."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP,
                            callback=check_format),
) -> None:
    """List the jobs of the queue with their state, attempts, worker and exit reason."""
    from orchestrator import queue
    from orchestrator.store import open_store
    from regseg.cli._output import emit

    store = open_store(db)
    rows = queue.jobs(store, sweep_id=sweep, states=state)
    if fmt == "json":
        emit({"counts": queue.counts(store, sweep_id=sweep), "jobs": rows}, fmt)
        return
    cols = ("id", "sweep_id", "spec_name", "label", "seed", "state", "attempts", "worker_id",
            "exit_reason")
    emit([{c: _short(r[c]) for c in cols} for r in rows], fmt, columns=cols)
    counts = queue.counts(store, sweep_id=sweep)
    print(", ".join(f"{n} {s}" for s, n in counts.items()))


def _short(value: object, width: int = 60) -> object:
    text = "" if value is None else value
    if isinstance(text, str) and len(text) > width:
        return text[: width - 3] + "..."
    return text


def cancel_cmd(
    jobs: List[int] = typer.Argument(None, help="Job ids."),
    sweep: Optional[int] = typer.Option(None, "--sweep", help="Cancel every job of this sweep."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP,
                            callback=check_format),
) -> None:
    """Cancel queued or running jobs (running ones are stopped by their worker)."""
    from orchestrator import queue
    from orchestrator.store import open_store
    from regseg.cli._output import emit

    done = queue.cancel(open_store(db), job_ids=jobs or (), sweep_id=sweep)
    emit({"cancelled": len(done), "job_ids": done}, fmt)


def retry_cmd(
    jobs: List[int] = typer.Argument(None, help="Job ids (failed or cancelled)."),
    failed: bool = typer.Option(False, "--failed", help="Requeue every failed job."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP,
                            callback=check_format),
) -> None:
    """Requeue failed (or cancelled) jobs with a fresh attempt budget."""
    from orchestrator import queue
    from orchestrator.store import open_store
    from regseg.cli._output import emit

    done = queue.retry(open_store(db), job_ids=jobs or (), failed=failed)
    emit({"requeued": len(done), "job_ids": done}, fmt)


def worker_cmd(
    gpus: str = typer.Option("auto", "--gpus", help="auto | none | 0,1,... (one slot per GPU)."),
    cpu_slots: int = typer.Option(1, "--cpu-slots", min=1, help="Slots when there is no GPU."),
    max_jobs: Optional[int] = typer.Option(None, "--max-jobs", min=1, help="Stop after N jobs."),
    exit_when_empty: bool = typer.Option(False, "--exit-when-empty",
                                         help="Exit once nothing is queued or running."),
    lease_seconds: float = typer.Option(60.0, "--lease-seconds", min=0.5,
                                        help="Lease length; heartbeats every third of it."),
    poll_seconds: float = typer.Option(2.0, "--poll-seconds", min=0.05, help="Idle poll period."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri",
                                               help="MLflow store (default: embedded)."),
    no_tracking: bool = typer.Option(False, "--no-tracking", help="Do not log to MLflow."),
    no_log_checkpoints: bool = typer.Option(
        False, "--no-log-checkpoints", help="Log only the best checkpoint's path to MLflow, "
        "not the file (sets $REGSEG_NO_LOG_CHECKPOINTS for the jobs)."),
) -> None:
    """Run queued jobs: one subprocess per GPU slot (or CPU slot) at a time."""
    import logging
    import os
    import sys

    if no_log_checkpoints:  # the env contract the jobs' MlflowCallback reads
        os.environ["REGSEG_NO_LOG_CHECKPOINTS"] = "1"

    from orchestrator.store import open_store
    from orchestrator.worker import Worker, WorkerOptions, detect_slots

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    options = WorkerOptions(lease_seconds=lease_seconds, max_jobs=max_jobs,
                            exit_when_empty=exit_when_empty, poll_seconds=poll_seconds,
                            tracking=not no_tracking, tracking_uri=tracking_uri)
    worker = Worker(open_store(db), detect_slots(gpus, cpu_slots=cpu_slots), options)
    raise typer.Exit(worker.run())
