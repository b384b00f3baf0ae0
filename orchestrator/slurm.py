"""SLURM clusters through submitit: a job array whose tasks each run one worker.

Every array task runs :func:`run_worker_task`, i.e. an ordinary worker with ``exit_when_empty``
on the GPUs SLURM allocated to it (``CUDA_VISIBLE_DEVICES``), against the shared queue database
and tracking server. Nothing else is shared: a task that is preempted, cancelled or reaches its
time limit gets SLURM's warning signal (submitit asks for it with ``--signal``), its running
jobs checkpoint and go back to the queue without an attempt counted, and any other task resumes
them (from the checkpoint copy in the job's MLflow run when the hosts share no disk).

Submissions are remembered under ``<state>/slurm/arrays.json`` so ``regseg slurm status`` and
``regseg slurm cancel`` find the latest array; the per-task logs are in ``<state>/slurm/<array>/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import QueueError
from orchestrator.uris import is_sqlite
from regseg.exit_codes import EXIT_USAGE

ARRAYS_FILE = "arrays.json"


@dataclass(frozen=True)
class SlurmOptions:
    """What each array task asks SLURM for (``sbatch`` options through submitit)."""

    tasks: int = 1
    partition: str | None = None
    gpus_per_task: int = 0
    cpus_per_task: int = 1
    mem: str | None = None  # e.g. "16G"
    time_min: int = 60
    account: str | None = None
    setup: tuple[str, ...] = ()  # shell lines run before each task (module load, venv, ...)
    signal_delay_s: int = 120  # the warning signal comes this long before a kill


@dataclass(frozen=True)
class TaskSpec:
    """What one array task runs: a worker against these stores (picklable, plain values)."""

    db_url: str
    tracking_uri: str | None
    state_dir: str
    lease_seconds: float = 60.0
    poll_seconds: float = 5.0
    cpu_slots: int = 1
    no_tracking: bool = False
    job_command: tuple[str, ...] | None = None  # testing only, as `regseg worker --job-command`
    env: dict = field(default_factory=dict)


def run_worker_task(task: TaskSpec) -> int:
    """The body of one array task: a worker on this allocation until the queue is empty."""
    from orchestrator.queue.store import open_store
    from orchestrator.workers.slots import detect_slots
    from orchestrator.workers.supervision import Worker, WorkerOptions

    os.environ.update(task.env)
    cpus = os.environ.get("SLURM_CPUS_PER_TASK")
    if cpus and "OMP_NUM_THREADS" not in os.environ:  # the allocation, not the node's cores
        os.environ["OMP_NUM_THREADS"] = cpus
    options = WorkerOptions(lease_seconds=task.lease_seconds, exit_when_empty=True,
                            poll_seconds=task.poll_seconds, tracking=not task.no_tracking,
                            tracking_uri=task.tracking_uri, state_dir=Path(task.state_dir),
                            job_command=task.job_command)
    slots = detect_slots("auto", cpu_slots=task.cpu_slots)
    return Worker(open_store(task.db_url), slots, options).run()


def submit_array(options: SlurmOptions, task: TaskSpec) -> dict[str, Any]:
    """Submit ``options.tasks`` array tasks running :func:`run_worker_task`; returns the record
    kept in ``<state>/slurm/arrays.json`` (array id, task job ids, folder)."""
    import submitit

    if is_sqlite(task.db_url):
        raise QueueError(f"regseg slurm submit: --db {task.db_url!r} is SQLite, a file on this "
                         f"host; array tasks on other nodes need a shared server, e.g. "
                         f"postgresql+psycopg://user@dbhost/regseg", exit_code=EXIT_USAGE)
    if options.tasks < 1:
        raise QueueError(f"--tasks: expected >= 1, got {options.tasks}", exit_code=EXIT_USAGE)
    _require_slurm()
    root = Path(task.state_dir) / "slurm"
    executor = submitit.SlurmExecutor(folder=root / "%A")
    params: dict[str, Any] = {
        "job_name": "regseg-worker", "time": options.time_min,
        "cpus_per_task": options.cpus_per_task, "array_parallelism": options.tasks,
        "signal_delay_s": options.signal_delay_s, "setup": list(options.setup),
        "stderr_to_stdout": True,
    }
    optional = {"partition": options.partition, "mem": options.mem, "account": options.account,
                "gpus_per_task": options.gpus_per_task or None}
    params.update({k: v for k, v in optional.items() if v is not None})
    executor.update_parameters(**params)
    with executor.batch():
        jobs = [executor.submit(run_worker_task, task) for _ in range(options.tasks)]
    array_id = jobs[0].job_id.split("_")[0]
    record = {"array_id": array_id, "task_ids": [j.job_id for j in jobs],
              "folder": str(root / array_id),
              "submitted_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
              "options": asdict(options)}
    _save(root, record)
    return record


def arrays(state_dir: str | Path) -> list[dict]:
    """Every array submitted from this state directory, oldest first."""
    path = Path(state_dir) / "slurm" / ARRAYS_FILE
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def latest_array(state_dir: str | Path) -> dict:
    found = arrays(state_dir)
    if not found:
        raise QueueError(f"no SLURM array was submitted from {state_dir} "
                         f"(regseg slurm submit)", exit_code=EXIT_USAGE)
    return found[-1]


def array_tasks(array_id: str) -> list[dict[str, str]]:
    """The array's tasks still known to SLURM (squeue): job id, state, node, elapsed time."""
    _require_slurm()
    out = subprocess.run(["squeue", "-h", "-r", "-j", str(array_id), "-o", "%i|%T|%N|%M|%R"],
                         capture_output=True, text=True, timeout=60, check=False)
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        raise QueueError(f"squeue -j {array_id}: {out.stderr.strip()}")
    tasks = []
    for line in out.stdout.splitlines():
        job_id, state, node, elapsed, reason = (line.split("|") + [""] * 5)[:5]
        tasks.append({"task": job_id.strip(), "state": state, "node": node or reason,
                      "elapsed": elapsed})
    return tasks


def cancel_array(array_id: str, *, task: int | None = None) -> None:
    """``scancel`` the whole array (or one task of it): running jobs are requeued."""
    _require_slurm()
    target = f"{array_id}_{task}" if task is not None else str(array_id)
    out = subprocess.run(["scancel", target], capture_output=True, text=True, timeout=60,
                         check=False)
    if out.returncode != 0:
        raise QueueError(f"scancel {target}: {out.stderr.strip()}")


def _require_slurm() -> None:
    missing = [c for c in ("sbatch", "squeue", "scancel") if shutil.which(c) is None]
    if missing:
        raise QueueError(f"SLURM commands not found on PATH: {', '.join(missing)} (run this on "
                         f"a SLURM login node)", exit_code=EXIT_USAGE)


def _save(root: Path, record: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    path = root / ARRAYS_FILE
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(known + [record], indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
