"""Hyper-parameter search: an Optuna study driven by ask/tell over the durable job queue.

``space`` (searched parameters from the spec's ``search:`` section or ``--param``),
``optuna_setup`` (sampler and pruner from their names), ``driver`` (the ``Search`` that queues
trials, feeds the jobs' per-epoch metrics to the pruner and tells the study the outcomes it
reads from the queue rows).
"""

from orchestrator.search.driver import Search, default_storage
from orchestrator.search.space import parse_param

__all__ = ["Search", "default_storage", "parse_param"]
