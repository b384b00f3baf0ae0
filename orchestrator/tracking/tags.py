"""The MLflow vocabulary of this project: experiment names and tag keys (docs/CONTRACTS.md).

A leaf module (no imports beyond the standard library) so the worker, the job, the log importer
and the reports all spell every key the same way.
"""

from __future__ import annotations

EXPERIMENT_PREFIX = "regseg/"      # queued runs: regseg/<group>
REFERENCE_PREFIX = "reference/"    # imported reference logs: reference/<group>

SPEC = "regseg.spec"
SPEC_HASH = "regseg.spec_hash"
GROUP = "regseg.group"
SWEEP = "regseg.sweep"
RUN_HASH = "regseg.run_hash"
SEED = "regseg.seed"
JOB_ID = "regseg.job_id"
ATTEMPT = "regseg.attempt"
GIT_COMMIT = "regseg.git_commit"
HOST = "regseg.host"
DEVICE = "regseg.device"
SOURCE = "regseg.source"           # "regseg" (trained here) or "reference" (imported log)
MODEL = "regseg.model"
CONFIG_LABEL = "regseg.config_label"
ERROR = "regseg.error"
BEST_CHECKPOINT = "regseg.best_checkpoint"
LAST_CHECKPOINT = "regseg.last_checkpoint"
#: artifact path of the newest complete resume checkpoint in the run (set after its upload)
RESUME_CHECKPOINT = "regseg.resume_checkpoint"
RESUME_EPOCH = "regseg.resume_epoch"
#: set on a run closed because its job had to start over (no checkpoint anywhere)
RESTARTED = "regseg.restarted"
SUPERSEDED_BY = "regseg.superseded_by"
PRUNED_EPOCH = "regseg.pruned_epoch"
USER_TAG_PREFIX = "regseg.tag."    # a spec's `tags:` reach MLflow under this prefix
#: "true" on an arm's parent run: an aggregate over the arm's seed runs, never a run itself
ARM_PARENT = "regseg.arm_parent"
#: sha256 of (group, config_label), first 16 hex digits; on an arm's parent and on its runs
ARM_KEY = "regseg.arm_key"
#: on an arm's parent: "<finished>/<runs> finished"
ARM_RUNS = "regseg.arm_runs"
#: a METRIC (ms since the epoch, step 0): logged by a writer that changes a run after it ended,
#: in the same log_batch, so the report's run cache re-reads it (reports/run_cache.py)
REVISED = "regseg.revised"
IMPORT_HASH = "regseg.import_hash"
GROUPS = "regseg.groups"
REFERENCE_FILE = "regseg.reference_file"
REFERENCE_RUN = "regseg.reference_run"
REFERENCE_FILE_SHA256 = "regseg.reference_file_sha256"
TRUE = "true"

# MLflow's own tags this project sets (the UI reads them).
MLFLOW_RUN_NAME = "mlflow.runName"
MLFLOW_PARENT_RUN_ID = "mlflow.parentRunId"  # nests a run under its parent in the runs table
MLFLOW_NOTE = "mlflow.note.content"          # the description of a run or an experiment
MLFLOW_EXPERIMENT_KIND = "mlflow.experimentKind"
#: the experiment kind of MLflow's "Model training" mode (not GenAI)
EXPERIMENT_KIND_TRAINING = "custom_model_development"

SOURCE_REGSEG = "regseg"
SOURCE_REFERENCE = "reference"


def experiment_name(group: str) -> str:
    """``regseg/<group>``: the experiment of a spec group's queued runs."""
    return f"{EXPERIMENT_PREFIX}{group}"


def reference_experiment_name(group: str) -> str:
    """``reference/<group>``: the experiment of imported reference logs of a group."""
    return f"{REFERENCE_PREFIX}{group}"

# Adaptive seeds (orchestrator/arms_policy.py): set on every run of an arm the policy stopped.
ARM_STOPPED = "regseg.arm_stopped"          # "after N seeds: <the test's reason>"
ARM_SAVED_RUNS = "regseg.arm_saved_runs"    # seeds of the arm cancelled (never trained)
ARM_SAVED_HOURS = "regseg.arm_saved_hours"  # their estimated device-hours (mean of the arm's runs)
