"""`regseg slurm submit | status | cancel`: workers as a SLURM job array (through submitit)."""

from __future__ import annotations

from typing import List, Optional

import typer

from regseg.cli._output import check_format

FMT_HELP = "table | json."


def register(app: typer.Typer) -> None:
    slurm = typer.Typer(help="Run workers on a SLURM cluster: one array task = one worker.",
                        no_args_is_help=True, rich_markup_mode=None)  # plain help, as the app
    slurm.command("submit")(submit_cmd)
    slurm.command("status")(status_cmd)
    slurm.command("cancel")(cancel_cmd)
    app.add_typer(slurm, name="slurm")


def submit_cmd(
    tasks: int = typer.Option(1, "--tasks", min=1, help="Array tasks (workers)."),
    partition: Optional[str] = typer.Option(None, "--partition", help="SLURM partition."),
    gpus_per_task: int = typer.Option(0, "--gpus-per-task", min=0,
                                      help="GPUs per task; the worker runs one job per GPU."),
    cpus_per_task: int = typer.Option(1, "--cpus-per-task", min=1, help="CPUs per task."),
    mem: Optional[str] = typer.Option(None, "--mem", help="Memory per task, e.g. 32G."),
    time_min: int = typer.Option(60, "--time", min=1, help="Time limit per task in minutes."),
    account: Optional[str] = typer.Option(None, "--account", help="SLURM account."),
    setup: List[str] = typer.Option([], "--setup", help="Shell line run before the worker "
                                    "(repeatable), e.g. 'source ~/venv/bin/activate'."),
    signal_delay: int = typer.Option(120, "--signal-delay", min=10,
                                     help="Seconds of warning before a preemption or time limit."),
    cpu_slots: int = typer.Option(1, "--cpu-slots", min=1, help="Slots of a task without GPUs."),
    db: Optional[str] = typer.Option(None, "--db", help="Shared queue database URL (PostgreSQL; "
                                     "default $REGSEG_DB)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri",
                                               help="MLflow tracking server the tasks log to."),
    lease_seconds: float = typer.Option(60.0, "--lease-seconds", min=0.5, help="Job lease."),
    poll_seconds: float = typer.Option(5.0, "--poll-seconds", min=0.05, help="Idle poll period."),
    no_tracking: bool = typer.Option(False, "--no-tracking", help="Do not log to MLflow."),
    job_command: Optional[str] = typer.Option(None, "--job-command", hidden=True,
                                              help="Testing only: see `regseg worker`."),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP, callback=check_format),
) -> None:
    """Submit a job array whose tasks each run `regseg worker --exit-when-empty` on their
    allocation. Each task gets SLURM's warning signal before a kill: its running jobs checkpoint
    and go back to the queue (no attempt counted) for any other task to resume."""
    import json

    from orchestrator.paths import default_db_url, state_dir
    from orchestrator.queue.store import open_store
    from orchestrator.slurm import SlurmOptions, TaskSpec, submit_array
    from regseg.cli._output import emit

    db_url = db or default_db_url()
    options = SlurmOptions(tasks=tasks, partition=partition, gpus_per_task=gpus_per_task,
                           cpus_per_task=cpus_per_task, mem=mem, time_min=time_min,
                           account=account, setup=tuple(setup), signal_delay_s=signal_delay)
    task = TaskSpec(db_url=db_url, tracking_uri=tracking_uri, state_dir=str(state_dir()),
                    lease_seconds=lease_seconds, poll_seconds=poll_seconds, cpu_slots=cpu_slots,
                    no_tracking=no_tracking,
                    job_command=tuple(json.loads(job_command)) if job_command else None)
    if not db_url.startswith("sqlite"):
        open_store(db_url)  # fail here, not in every task, when the database is unreachable
    record = submit_array(options, task)
    if fmt == "json":
        emit(record, fmt)
        return
    print(f"submitted SLURM array {record['array_id']}: {tasks} task(s), logs in "
          f"{record['folder']}")


def status_cmd(
    array: Optional[str] = typer.Option(None, "--array", help="Array job id (default: latest)."),
    db: Optional[str] = typer.Option(None, "--db", help="Queue database URL."),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP, callback=check_format),
) -> None:
    """The array's tasks (squeue) beside the queue's running jobs and where they run."""
    from orchestrator import queue
    from orchestrator.paths import state_dir
    from orchestrator.queue.store import open_store
    from orchestrator.slurm import array_tasks, latest_array
    from regseg.cli._output import emit

    array_id = array or latest_array(state_dir())["array_id"]
    tasks = array_tasks(array_id)
    store = open_store(db, create=False)
    running = queue.jobs(store, states=("running",))
    attempts = queue.attempts_of(store, [r["id"] for r in running])
    jobs = [{"job": r["id"], "label": r["label"], "seed": r["seed"],
             "slurm task": (attempts[r["id"]][-1]["slurm_job_id"] if attempts[r["id"]] else None),
             "where": (f"{attempts[r['id']][-1]['host']}/{attempts[r['id']][-1]['slot']}"
                       if attempts[r["id"]] else "")} for r in running]
    counts = queue.counts(store)
    if fmt == "json":
        emit({"array_id": array_id, "tasks": tasks, "running_jobs": jobs, "counts": counts}, fmt)
        return
    print(f"SLURM array {array_id}: {len(tasks)} task(s) pending or running")
    if tasks:
        emit(tasks, fmt)
    print()
    emit(jobs, fmt, columns=("job", "label", "seed", "slurm task", "where"))
    print(", ".join(f"{n} {s}" for s, n in counts.items()))


def cancel_cmd(
    array: Optional[str] = typer.Option(None, "--array", help="Array job id (default: latest)."),
    task: Optional[int] = typer.Option(None, "--task", min=0, help="Only this array index."),
    fmt: str = typer.Option("table", "--format", help=FMT_HELP, callback=check_format),
) -> None:
    """Cancel the array (or one task): SLURM signals the workers, their jobs are requeued."""
    from orchestrator.paths import state_dir
    from orchestrator.slurm import cancel_array, latest_array
    from regseg.cli._output import emit

    array_id = array or latest_array(state_dir())["array_id"]
    cancel_array(array_id, task=task)
    target = array_id if task is None else f"{array_id}_{task}"
    if fmt == "json":
        emit({"cancelled": target}, fmt)
    else:
        print(f"cancelled {target}")
