"""MLflow tracking of queued runs.

``runs`` (the worker side: create, resume and close a job's MLflow run), ``callback`` (the job
side: the engine callback that logs into that run), ``buffer`` (the write-ahead buffer both go
through), ``artifacts`` (files written for upload), ``store`` (where MLflow data lives),
``server`` (``regseg ui``), ``tags`` (tag keys and experiment names).
"""

from orchestrator.tracking.callback import MlflowCallback
from orchestrator.tracking.runs import (
                                        JobInfo,
                                        Tracker,
                                        config_label,
                                        experiment_name,
                                        flatten_config,
                                        flush_buffer,
                                        git_commit,
)

__all__ = ["JobInfo", "MlflowCallback", "Tracker", "config_label", "experiment_name",
           "flatten_config", "flush_buffer", "git_commit"]
