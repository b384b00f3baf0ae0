"""MLflow tracking of queued runs: one MLflow run per job, created by the worker at first claim.

Layout (docs/CONTRACTS.md, "MLflow layout"): experiment ``regseg/<group>`` per spec group; params =
every TrainConfig field (lists/dicts as JSON) plus model_params / model_gflops /
model_field_of_view (logged by the callback); tags ``regseg.*``; metrics per epoch with
step = epoch. Everything goes through ``MlflowClient`` with explicit run ids and ``log_batch``;
the global active run is never used, so a requeued job's next attempt appends to its own run.

Each run is a child of its arm's parent run (one per configuration of a group, holding the
aggregate over seeds; ``arms``), and is named and described for the UI (``notes``).

The training-side half is ``MlflowCallback`` (orchestrator/tracking/callback.py).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Mapping, Protocol

from orchestrator.errors import TrackingError
from orchestrator.tracking import arms, notes
from orchestrator.tracking import tags as T
from orchestrator.tracking.buffer import PERMANENT_ERRORS, error_code
from orchestrator.tracking.params import flatten_config
from orchestrator.tracking.store import (
    default_artifact_root,
    is_remote,
    make_client,
    resolve_tracking_uri,
)

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1]
TERMINAL_STATUSES = ("FINISHED", "FAILED", "KILLED")
MAX_TAG_CHARS = 5000  # MLflow accepts 8000; the error tag keeps the tail of long tracebacks
SEED_FIELDS = ("seed", "RNG_seed")
RETRY_ATTEMPTS, RETRY_BASE_S = 3, 0.5  # ensure_run / finish_run against transient store errors


class JobInfo(Protocol):
    """What the queue hands the tracker (docs/CONTRACTS.md); any object with these attributes."""

    id: Any
    spec_name: str
    group: str
    sweep_id: Any
    run_hash: str
    config: Mapping[str, Any]
    attempt: int
    mlflow_run_id: str | None


# ---- pure helpers ---------------------------------------------------------------------------
experiment_name = T.experiment_name


def seed_of(config: Mapping[str, Any]) -> Any:
    return next((config[f] for f in SEED_FIELDS if f in config), None)


def config_label(job: JobInfo) -> str:
    """The grid point without the seed (``model_name=exp48_decoder14``) for grouping seeds.

    Uses the queue's ``label`` (the spec's grid point as ``k=v,k=v``, seeds excluded) when the
    job has one, else ``grid_point`` without the seed, else the model name.
    """
    label = getattr(job, "config_label", None) or getattr(job, "label", None)
    if label:
        return str(label)
    point = getattr(job, "grid_point", None) or {"model_name": job.config.get("model_name")}
    items = sorted((k, v) for k, v in dict(point).items() if k not in SEED_FIELDS)
    return ",".join(f"{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in items)


def git_commit(project_dir: Path = PROJECT_DIR) -> str | None:
    """``git rev-parse HEAD`` of the project (None when git or the repository is absent)."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_dir, capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def run_tags(job: JobInfo) -> dict[str, str]:
    seed = getattr(job, "seed", None)
    project_dir = getattr(job, "project_dir", None)
    commit = (git_commit(Path(project_dir)) if project_dir and Path(project_dir).is_dir()
              else None) or git_commit()
    tags = {
        T.SPEC: job.spec_name, T.GROUP: job.group, T.SWEEP: job.sweep_id,
        T.RUN_HASH: job.run_hash, T.SEED: seed_of(job.config) if seed is None else seed,
        T.JOB_ID: job.id, T.ATTEMPT: job.attempt,
        T.GIT_COMMIT: commit, T.HOST: socket.gethostname(),
        T.DEVICE: getattr(job, "device", None), T.SOURCE: T.SOURCE_REGSEG,
        T.MODEL: job.config.get("model_name"), T.CONFIG_LABEL: config_label(job),
        T.SPEC_HASH: getattr(job, "spec_hash", None),
    }
    user_tags = getattr(job, "tags", None) or {}
    tags.update({f"{T.USER_TAG_PREFIX}{k}": v for k, v in dict(user_tags).items()})
    return {k: str(v) for k, v in tags.items() if v is not None}


# ---- the worker-side API --------------------------------------------------------------------
class Tracker:
    """Creates, resumes and closes the MLflow run of each job (called by the worker).

    ``tracking_uri`` None = ``$MLFLOW_TRACKING_URI`` or the embedded sqlite store under the state
    dir. Store errors are raised as ``TrackingError`` (the worker decides what a failed claim
    means); nothing here touches the global active run.
    """

    def __init__(self, tracking_uri: str | None = None, *,
                 artifact_root: str | Path | None = None) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.artifact_root = Path(artifact_root) if artifact_root else default_artifact_root()
        self.client = make_client(self.tracking_uri)

    def experiment_id(self, group: str) -> str:
        """The id of ``regseg/<group>``, created on demand (safe against a concurrent creator)."""
        from mlflow.exceptions import MlflowException

        name = experiment_name(group)
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if not is_remote(self.tracking_uri):
            path = self.artifact_root.joinpath(*name.split("/")).resolve()
            path.mkdir(parents=True, exist_ok=True)
            location = path.as_uri()
        kind = {T.MLFLOW_EXPERIMENT_KIND: T.EXPERIMENT_KIND_TRAINING}  # "Model training" UI
        try:
            return self.client.create_experiment(name, artifact_location=location, tags=kind)
        except MlflowException:  # another worker created it between our get and create
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def ensure_run(self, job: JobInfo) -> str:
        """The job's MLflow run id: created with tags + params at first claim, reused after.

        A later attempt updates ``regseg.attempt`` and sets the run back to RUNNING. A run created
        by a claim whose worker died before storing the id is found again by its job tags.
        """
        return _retrying(lambda: self._ensure_run(job),
                         f"cannot create/resume the MLflow run of job {job.id} at "
                         f"{self.tracking_uri}")

    def _ensure_run(self, job: JobInfo) -> str:
        from mlflow.entities import Param

        run_id = job.mlflow_run_id or self._find_run(job)
        if run_id:
            self.client.log_batch(run_id, tags=self._tag_list({
                T.ATTEMPT: str(job.attempt), T.HOST: socket.gethostname()}))
            self.client.update_run(run_id, status="RUNNING")
        else:
            run_id = self._create_run(job)
        if not job.mlflow_run_id:  # first claim, or a run recovered by tags: (re)log the params
            params = [Param(k, v) for k, v in flatten_config(job.config).items()]
            self.client.log_batch(run_id, params=params)  # identical values: idempotent
        self.refresh_arm(run_id)
        return run_id

    def _find_run(self, job: JobInfo) -> str | None:
        exp = self.client.get_experiment_by_name(experiment_name(job.group))
        if exp is None:
            return None
        flt = (f"tags.`{T.JOB_ID}` = '{job.id}' and tags.`{T.RUN_HASH}` = '{job.run_hash}'"
               f" and tags.`{T.SWEEP}` = '{job.sweep_id}'")
        runs = self.client.search_runs([exp.experiment_id], filter_string=flt, max_results=10)
        runs = [r for r in runs if T.SUPERSEDED_BY not in r.data.tags]  # a restarted job's old run
        return runs[0].info.run_id if runs else None

    def _create_run(self, job: JobInfo) -> str:
        """A new run named ``<configuration> · s<seed>``, nested under its arm's parent run
        (created on demand), with a description linking to that arm."""
        experiment_id = self.experiment_id(job.group)
        tags = run_tags(job)
        label = tags[T.CONFIG_LABEL]
        key = notes.arm_key(job.group, label)
        arm = notes.arm_name(label, job.config.get("model_name"))
        arm_tags = {k: tags[k] for k in (T.SPEC, T.SOURCE, T.MODEL) if k in tags}
        arm_id = arms.ensure_arm(self.client, experiment_id, group=job.group,
                                 config_label=label, tags=arm_tags, name=arm)
        taken = {r.info.run_name for r in arms.children(self.client, experiment_id, key)}
        name = notes.run_name(arm, tags.get(T.SEED), repetition=getattr(job, "repetition", None),
                              taken=taken)
        tags.update({T.ARM_KEY: key, T.MLFLOW_PARENT_RUN_ID: arm_id})
        tags[T.MLFLOW_NOTE] = notes.run_note(tags, experiment_id=experiment_id, arm_id=arm_id)
        run = self.client.create_run(experiment_id, tags=tags, run_name=name)
        try:
            arms.describe_experiment(self.client, experiment_id)
        except Exception as exc:  # derived text: the next run created rewrites it
            log.warning("cannot describe experiment %s: %s", experiment_id, exc)
        return run.info.run_id

    def refresh_arm(self, run_id: str) -> None:
        """Recompute the aggregate of the run's arm (see ``arms``). The aggregate is derived
        data: a failure is logged, not raised, and the arm's next run to change refreshes it."""
        try:
            _retrying(lambda: arms.refresh_arm_of(self.client, run_id),
                      f"cannot refresh the arm of MLflow run {run_id} at {self.tracking_uri}")
        except TrackingError as exc:
            log.warning("%s", exc)

    def finish_run(self, run_id: str, status: str, error: str | None = None, *,
                   out_dir: str | Path | None = None) -> None:
        """Close the run: FINISHED, FAILED (``error`` kept as tag ``regseg.error``) or KILLED.

        With ``out_dir`` (the job dir) what the job left in its buffer is flushed first, and the
        complete ``job.log`` (tracebacks of failed attempts included) replaces the snapshot the
        callback uploaded at train end. The run's arm is refreshed afterwards (``arms``).
        """
        if status not in TERMINAL_STATUSES:
            raise TrackingError(f"run status must be one of {', '.join(TERMINAL_STATUSES)}, "
                                f"got {status!r}")

        def finish() -> None:
            if out_dir is not None:
                flush_buffer(out_dir, tracking_uri=self.tracking_uri, run_id=run_id,
                             client=self.client)
                job_log = Path(out_dir) / "job.log"
                if job_log.exists():
                    self.client.log_artifact(run_id, str(job_log), "logs")
            if error:
                self.client.set_tag(run_id, T.ERROR, str(error)[-MAX_TAG_CHARS:])
            self.client.set_terminated(run_id, status=status)

        _retrying(finish, f"cannot mark MLflow run {run_id} {status} at {self.tracking_uri}")
        self.refresh_arm(run_id)

    # ---- resume across hosts ------------------------------------------------------------
    def has_history(self, run_id: str) -> bool:
        """True when the run already holds logged epochs (any metric)."""
        return bool(_retrying(lambda: self.client.get_run(run_id).data.metrics,
                              f"cannot read MLflow run {run_id} at {self.tracking_uri}"))

    def fetch_checkpoint(self, run_id: str, dest_dir: str | Path) -> bool:
        """Download the run's newest complete resume checkpoint (tag ``regseg.resume_checkpoint``)
        into ``dest_dir/last.pt``; False when the run has none."""
        def fetch() -> bool:
            artifact = self.client.get_run(run_id).data.tags.get(T.RESUME_CHECKPOINT)
            if not artifact:
                return False
            dest = Path(dest_dir)
            dest.mkdir(parents=True, exist_ok=True)
            staging = dest / ".fetch"
            staging.mkdir(exist_ok=True)
            local = self.client.download_artifacts(run_id, artifact, str(staging))
            os.replace(local, dest / "last.pt")
            shutil.rmtree(staging, ignore_errors=True)
            return True

        return _retrying(fetch, f"cannot fetch the checkpoint of MLflow run {run_id}")

    def restart_run(self, job: JobInfo, old_run_id: str, reason: str) -> str:
        """Close ``old_run_id`` (KILLED, tagged with why) and create a fresh run for ``job``, so no
        run ever mixes two trainings. Returns the new run id."""
        def restart() -> str:
            from mlflow.entities import Param

            run_id = self._create_run(job)
            params = [Param(k, v) for k, v in flatten_config(job.config).items()]
            self.client.log_batch(run_id, params=params,
                                  tags=self._tag_list({T.RESTARTED: reason}))
            self.client.log_batch(old_run_id, tags=self._tag_list({
                T.SUPERSEDED_BY: run_id, T.ERROR: reason}))
            self.client.set_terminated(old_run_id, status="KILLED")
            return run_id

        run_id = _retrying(restart, f"cannot restart the MLflow run of job {job.id}")
        self.refresh_arm(run_id)
        return run_id

    @staticmethod
    def _tag_list(tags: Mapping[str, str]):
        from mlflow.entities import RunTag

        return [RunTag(k, v) for k, v in tags.items()]


def _retrying(action, failure: str, *, attempts: int = RETRY_ATTEMPTS):
    """Run ``action``; retry transient store errors (a locked sqlite file, a restarting server)
    with a short back-off, then raise ``TrackingError(failure: cause)``."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or error_code(exc) in PERMANENT_ERRORS:
                raise TrackingError(f"{failure}: {exc}") from exc
            log.warning("%s (attempt %d/%d): %s; retrying", failure, attempt, attempts, exc)
            time.sleep(RETRY_BASE_S * 2 ** (attempt - 1))


def flush_buffer(out_dir: str | Path, *, tracking_uri: str | None, run_id: str,
                 client=None) -> bool:
    """Send what a job left in ``<out_dir>/mlflow_buffer.jsonl``; True when nothing is left."""
    from orchestrator.tracking.buffer import BUFFER_NAME, RunSink

    path = Path(out_dir) / BUFFER_NAME
    if not path.exists() or not path.stat().st_size:
        return True
    client = client or make_client(resolve_tracking_uri(tracking_uri))
    return RunSink(client, run_id, path).flush(force=True)

