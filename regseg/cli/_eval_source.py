"""What `regseg eval` evaluates: a weights file and the TrainConfig its run was trained with.

Training checkpoints carry their resolved config (``config`` key, see
``regseg.engine.checkpoint``), so a checkpoint alone says which dataset, sizes and classes it
was trained on. ``--run`` finds a tracked run's best checkpoint: a queue job id through the
job's directory (else its MLflow run), an MLflow run id through the tag
``regseg.best_checkpoint``, else the run's ``checkpoints/best.pt`` artifact.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from regseg.errors import CheckpointError, RegsegError
from regseg.exit_codes import EXIT_USAGE

#: TrainConfig fields a checkpoint's config decides for an evaluation unless told otherwise.
EVAL_FIELDS = ("model_name", "num_classes", "ignore_value", "exclude_classes", "dataset_name",
               "dataset_dir", "val_split", "val_input_size", "val_label_size")


@dataclass(frozen=True)
class EvalSource:
    """The weights to evaluate, the run's config (None for a bare state dict) and where the
    run's relative paths (``dataset_dir``) were relative to."""

    weights: Path
    config: dict[str, Any] | None
    project_dir: Path | None = None
    described: str = ""


def from_weights(path: Path) -> EvalSource:
    """A checkpoint file given with ``--weights``."""
    if not Path(path).is_file():
        raise CheckpointError(f"--weights: expected a checkpoint file, got {str(path)!r} "
                              f"(no such file)", exit_code=EXIT_USAGE)
    return EvalSource(Path(path), checkpoint_config(path), None, str(path))


def checkpoint_config(path: Path) -> dict[str, Any] | None:
    """The ``config`` dict a training checkpoint carries; None for released or bare weights."""
    import torch

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign, not a torch file
        raise CheckpointError(f"{path}: expected a torch checkpoint, got an unreadable file "
                              f"({type(exc).__name__}: {exc})") from None
    config = payload.get("config") if isinstance(payload, dict) else None
    return dict(config) if isinstance(config, dict) else None


def from_run(ref: str, *, db: str | None, tracking_uri: str | None) -> EvalSource:
    """``--run``: a queue job id (digits) or an MLflow run id."""
    if ref.isdigit():
        return _from_job(int(ref), db=db, tracking_uri=tracking_uri)
    return _from_mlflow(ref, tracking_uri=tracking_uri, project_dir=None, db=db)


def _from_job(job_id: int, *, db: str | None, tracking_uri: str | None) -> EvalSource:
    from orchestrator.queue.project_paths import resolved_path
    from orchestrator.queue.schema import Job, Sweep
    from orchestrator.queue.store import open_store

    store = open_store(db, create=False)
    with store.session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise RegsegError(f"--run: expected a job id of the queue, got {job_id} (no such job)",
                              exit_code=EXIT_USAGE)
        sweep = session.get(Sweep, job.sweep_id)
        job_dir, run_id, state = job.job_dir, job.mlflow_run_id, job.state
        project = _project(store.url, sweep)
    job_dir = resolved_path(store.url, job_dir)
    if job_dir:
        best = Path(job_dir) / "checkpoints" / "best.pt"
        if best.is_file():
            return EvalSource(best, checkpoint_config(best), project, f"job {job_id} ({best})")
    if run_id:
        return _from_mlflow(run_id, tracking_uri=tracking_uri, project_dir=project, db=db,
                            described=f"job {job_id}, MLflow run {run_id}")
    raise CheckpointError(f"--run {job_id}: expected a job with a best checkpoint, got a job in "
                          f"state {state} without one", exit_code=EXIT_USAGE)


def _from_mlflow(run_id: str, *, tracking_uri: str | None, project_dir: Path | None,
                 db: str | None, described: str = "") -> EvalSource:
    from orchestrator.tracking import tags as T
    from orchestrator.tracking.store import make_client, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    client = make_client(uri)
    try:
        run = client.get_run(run_id)
    except Exception:  # MlflowException: no such run; the message is long and generic
        raise RegsegError(f"--run: expected a queue job id or an MLflow run id of {uri}, got "
                          f"{run_id!r} (no such run)", exit_code=EXIT_USAGE) from None
    described = described or f"MLflow run {run_id}"
    if project_dir is None and run.data.tags.get(T.JOB_ID, "").isdigit():
        project_dir = _project_of_job(int(run.data.tags[T.JOB_ID]), db)
    tagged = run.data.tags.get(T.BEST_CHECKPOINT)
    if tagged and Path(tagged).is_file():
        return EvalSource(Path(tagged), checkpoint_config(Path(tagged)), project_dir,
                          f"{described} ({tagged})")
    target = Path(tempfile.mkdtemp(prefix="regseg-eval-"))
    try:
        local = Path(client.download_artifacts(run_id, "checkpoints/best.pt", str(target)))
    except Exception:
        raise CheckpointError(f"--run {run_id}: expected a best checkpoint at the tag "
                              f"{T.BEST_CHECKPOINT} ({tagged or 'absent'}) or as the artifact "
                              f"checkpoints/best.pt, found neither", exit_code=EXIT_USAGE) from None
    return EvalSource(local, checkpoint_config(local), project_dir, f"{described} (artifact)")


def _project_of_job(job_id: int, db: str | None) -> Path | None:
    """The project directory of a tracked run's queue job, when that queue is here."""
    from orchestrator.errors import QueueError
    from orchestrator.queue.schema import Job, Sweep
    from orchestrator.queue.store import open_store

    try:
        store = open_store(db, create=False)
    except QueueError:
        return None
    with store.session_scope() as session:
        job = session.get(Job, job_id)
        sweep = session.get(Sweep, job.sweep_id) if job is not None else None
        return _project(store.url, sweep)


def _project(url: str, sweep: Any) -> Path | None:
    """A sweep's project directory, absolute (the queue may store it relative to itself)."""
    from orchestrator.queue.project_paths import resolved_path

    stored = sweep.project_dir if sweep is not None else None
    return Path(resolved_path(url, stored)) if stored else None


def resolve_dataset_dir(dataset_dir: str, project_dir: Path | None) -> str:
    """A run's relative ``dataset_dir`` as seen from here: as given when it exists from the
    current directory, else under the run's project directory when it exists there."""
    path = Path(dataset_dir)
    if path.is_absolute() or path.exists() or project_dir is None:
        return dataset_dir
    candidate = project_dir / path
    return str(candidate) if candidate.exists() else dataset_dir
