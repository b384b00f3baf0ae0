"""`regseg queue | status | cancel | retry | worker`: the job queue from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from regseg.cli._output import check_format
from regseg.exit_codes import EXIT_USAGE

#: A submission of more new runs than this asks for confirmation on a terminal.
CONFIRM_ABOVE = 1000
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
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="Print the expanded runs; queue nothing."),
    force: bool = typer.Option(False, "--force", help="Queue known runs again as new repetitions."),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
    max_attempts: int = typer.Option(3, "--max-attempts", min=1, help="Failed attempts allowed."),
    sets: List[str] = typer.Option([], "--set",
                                   help="Override a base key: KEY=VALUE (YAML value)."),
    project_dir: Optional[Path] = typer.Option(None, "--project-dir",
                                               help="Directory spec paths are confined to."),
    yes: bool = typer.Option(False, "--yes", "-y", help=f"Do not ask before queueing more than "
                             f"{CONFIRM_ABOVE:,} new runs (asked only on a terminal)."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP,
                            callback=check_format),
) -> None:
    """Expand and validate SPECs, then queue every run in one transaction.

    More than 1,000 new runs are queued only after a yes on the terminal (or with --yes);
    declining exits with status 2 and queues nothing.
    """
    import sys

    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from orchestrator.specs import load_and_expand
    from regseg.cli._output import emit
    from regseg.cli._overrides import parse_set

    batches = load_and_expand(specs, project_dir=project_dir, overrides=parse_set(sets))
    store = open_store(db)
    options = dict(force=force, priority=priority, max_attempts=max_attempts)
    if not dry_run and not yes and sys.stdin.isatty():
        planned = sum(r.n_new for r in queue.submit(store, batches, dry_run=True, **options))
        if planned > CONFIRM_ABOVE and not typer.confirm(f"Queue {planned:,} new runs?"):
            typer.echo("nothing queued", err=True)
            raise typer.Exit(EXIT_USAGE)
    results = queue.submit(store, batches, dry_run=dry_run, **options)
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
        if dry_run:
            verb = "would queue"
        elif s["sweep"] is None:
            verb = "nothing new to queue (no sweep created):"
        else:
            verb = f"sweep {s['sweep']}: queued"
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
    from orchestrator.queue.store import open_store
    from regseg.cli._output import emit

    store = open_store(db, create=False)
    rows = queue.jobs(store, sweep_id=sweep, states=state)
    attempts = queue.attempts_of(store, [r["id"] for r in rows])
    if fmt == "json":
        for row in rows:
            row["attempt_history"] = attempts[row["id"]]
        emit({"counts": queue.counts(store, sweep_id=sweep), "jobs": rows}, fmt)
        return
    cols = ("id", "sweep", "spec", "label", "seed", "state", "attempts", "where",
            "best mIoU^R", "reason")
    emit([_status_row(r, attempts[r["id"]]) for r in rows], fmt, columns=cols)
    counts = queue.counts(store, sweep_id=sweep)
    print(", ".join(f"{n} {s}" for s, n in counts.items()))


def _status_row(row: dict, attempts: list[dict]) -> dict:
    """One line of `regseg status`: attempts as own failures / infrastructure losses (of their
    limits), where a running job runs (host/slot, SLURM job id), its best mIoU^R once known."""
    where = ""
    if row["state"] == "running" and attempts:
        last = attempts[-1]
        where = f"{last['host']}/{last['slot']}"
        if last["slurm_job_id"]:
            where += f" (slurm {last['slurm_job_id']})"
    best = row["best_miou_reduced"]
    return {"id": row["id"], "sweep": row["sweep_id"], "spec": row["spec_name"],
            "label": _short(row["label"], 40), "seed": row["seed"], "state": row["state"],
            "attempts": f"{row['attempts']}/{row['max_attempts']} own, "
                        f"{row['lost_attempts']}/{row['max_lost_attempts']} lost",
            "where": where, "best mIoU^R": "" if best is None else f"{best:.2f}",
            "reason": _short(row["exit_reason"])}


def _short(value: object, width: int = 60) -> object:
    text = "" if value is None else value
    if isinstance(text, str) and len(text) > width:
        return text[: width - 3] + "..."
    return text


def cancel_cmd(
    jobs: List[int] = typer.Argument(None, help="Job ids."),
    sweep: Optional[int] = typer.Option(None, "--sweep", help="Cancel every job of this sweep."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list the cancelled ids."),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP,
                            callback=check_format),
) -> None:
    """Cancel queued or running jobs (running ones are stopped by their worker).

    Prints how many were cancelled; --verbose (or --format json) also gives their ids.
    """
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from regseg.cli._output import emit

    done = queue.cancel(open_store(db, create=False), job_ids=jobs or (), sweep_id=sweep)
    if fmt == "json":
        emit({"cancelled": len(done), "job_ids": done}, fmt)
        return
    print(f"cancelled {len(done):,} job(s)" + (f": {_id_ranges(done)}" if verbose and done else ""))


def _id_ranges(ids: List[int]) -> str:
    """``1-3, 7, 9-10``: consecutive ids folded into ranges."""
    parts, ordered = [], sorted(ids)
    start = prev = ordered[0]
    for i in ordered[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts)


def retry_cmd(
    jobs: List[int] = typer.Argument(None, help="Job ids (failed or cancelled)."),
    failed: bool = typer.Option(False, "--failed", help="Requeue every failed job."),
    db: Optional[str] = typer.Option(None, "--db", help=DB_HELP),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP,
                            callback=check_format),
) -> None:
    """Requeue failed (or cancelled) jobs with a fresh attempt budget."""
    from orchestrator import queue
    from orchestrator.queue.store import open_store
    from regseg.cli._output import emit

    done = queue.retry(open_store(db, create=False), job_ids=jobs or (), failed=failed)
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
        "not the file."),
    no_sample_images: bool = typer.Option(
        False, "--no-sample-images", help="Do not log sample validation predictions (PNG) of the "
        "best epoch to MLflow."),
    no_prestart: bool = typer.Option(
        False, "--no-prestart", help="Do not start the next job's process (imports done) while a "
        "slot's job trains; spawn each job fresh."),
    job_command: Optional[str] = typer.Option(
        None, "--job-command", hidden=True,
        help="Testing only: a JSON argv template replacing the training command."),
) -> None:
    """Run queued jobs: one subprocess per GPU slot (or CPU slot) at a time.

    Creates the queue database when it does not exist yet. SIGTERM, Ctrl-C or SIGUSR1 (SLURM's
    warning before a preemption) make running jobs checkpoint and go back to the queue.
    """
    import json
    import logging
    import sys

    from orchestrator.errors import QueueError
    from orchestrator.queue.store import open_store
    from orchestrator.workers.slots import detect_slots
    from orchestrator.workers.supervision import Worker, WorkerOptions

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    command = None
    if job_command:
        command = json.loads(job_command)
        strings = isinstance(command, list) and all(isinstance(a, str) for a in command)
        if not command or not strings:
            raise QueueError(f"--job-command: expected a JSON list of strings, got {job_command!r}")
    options = WorkerOptions(lease_seconds=lease_seconds, max_jobs=max_jobs,
                            exit_when_empty=exit_when_empty, poll_seconds=poll_seconds,
                            tracking=not no_tracking, tracking_uri=tracking_uri,
                            log_checkpoints=not no_log_checkpoints,
                            sample_images=not no_sample_images, prestart=not no_prestart,
                            job_command=tuple(command) if command else None)
    try:
        slots = detect_slots(gpus, cpu_slots=cpu_slots)
    except QueueError as exc:  # every such error is about --gpus / --cpu-slots: bad usage
        raise QueueError(str(exc), exit_code=EXIT_USAGE) from None
    worker = Worker(open_store(db), slots, options)
    raise typer.Exit(worker.run())
