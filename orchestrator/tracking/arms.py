"""Arms: one parent MLflow run per configuration of a group, with the seeds' runs as children.

An arm is (group, config label). Its parent run lives in the experiment of its seed runs, is
tagged ``regseg.arm_parent=true`` and ``regseg.arm_key`` (see ``notes.arm_key``), and each seed
run carries the same ``regseg.arm_key`` plus ``mlflow.parentRunId`` so the UI nests seeds
under their arm. The parent is an aggregate, never a run: reports skip it.

Aggregate on the parent, for ``m`` in ``best_mIoU_reduced`` and ``best_mIoU`` over the arm's
FINISHED seed runs: ``m`` (= the mean, so one column sorts arms and seeds alike), ``m_mean``,
``m_std`` (sample, NaN for n < 2), ``m_n``, ``m_ci95_low`` / ``m_ci95_high`` (Student t, NaN for
n < 2); logged at step = the number of finished children, so a refresh from fewer children
never shadows one from more. Params: the label's items with the children's
logged values. Status: RUNNING while a child is not terminal, FINISHED when all are FINISHED,
else FAILED (a child failed) or KILLED.

Concurrency (two workers, one arm): creation is find -> create -> re-find, and the oldest
parent (start time, then run id) is the arm; the creator of a younger one deletes it, and every
refresh re-parents strays and deletes surplus parents, so the store converges on one arm.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from typing import Any, Mapping

from orchestrator.tracking import notes
from orchestrator.tracking import tags as T

log = logging.getLogger(__name__)

AGGREGATED = ("best_mIoU_reduced", "best_mIoU")
STATISTICS = ("mean", "std", "n", "ci95_low", "ci95_high")
CONFIDENCE = 0.95
TERMINAL = ("FINISHED", "FAILED", "KILLED")
REFRESH_ROUNDS = 3  # a child that changed state during a refresh triggers another round
_PAGE = 1000


# ---- finding -------------------------------------------------------------------------------
def _search(client, experiment_id: str, filter_string: str) -> list:
    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string, max_results=_PAGE,
                                  page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def find_arms(client, experiment_id: str, key: str) -> list:
    """The parent runs of arm ``key``, oldest first (more than one only after a race)."""
    flt = f"tags.`{T.ARM_KEY}` = '{key}' and tags.`{T.ARM_PARENT}` = '{T.TRUE}'"
    arms = _search(client, experiment_id, flt)
    return sorted(arms, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def children(client, experiment_id: str, key: str) -> list:
    """The seed runs of arm ``key`` (parents and runs superseded by a restart left out)."""
    runs = _search(client, experiment_id, f"tags.`{T.ARM_KEY}` = '{key}'")
    return [r for r in runs
            if r.data.tags.get(T.ARM_PARENT) != T.TRUE and T.SUPERSEDED_BY not in r.data.tags]


def is_arm_parent(tags: Mapping[str, str]) -> bool:
    return tags.get(T.ARM_PARENT) == T.TRUE


# ---- creating ------------------------------------------------------------------------------
def ensure_arm(client, experiment_id: str, *, group: str, config_label: str,
               tags: Mapping[str, str] | None = None, name: str | None = None) -> str:
    """The run id of the arm (group, config_label) in ``experiment_id``, created on demand.

    ``tags`` (e.g. spec, source, model) go on a newly created parent. Safe against a concurrent
    creator: see the module docstring.
    """
    key = notes.arm_key(group, config_label)
    found = find_arms(client, experiment_id, key)
    if found:
        return found[0].info.run_id
    parent_tags = {**dict(tags or {}), T.ARM_PARENT: T.TRUE, T.ARM_KEY: key, T.GROUP: group,
                   T.CONFIG_LABEL: config_label, T.ARM_RUNS: "0/0 finished"}
    parent_tags[T.MLFLOW_NOTE] = notes.arm_note(parent_tags, {}, finished=0, runs=0)
    created = client.create_run(experiment_id, tags=parent_tags,
                                run_name=name or notes.arm_name(config_label))
    arm_id = find_arms(client, experiment_id, key)[0].info.run_id
    if arm_id != created.info.run_id:  # another worker's parent is older: it is the arm
        _delete_quietly(client, created.info.run_id)
    return arm_id


def _delete_quietly(client, run_id: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_run(run_id)
    except MlflowException as exc:  # already deleted by a concurrent refresh
        log.debug("arm duplicate %s: %s", run_id, exc)


# ---- aggregating ---------------------------------------------------------------------------
def summarize(values: list[float]) -> dict[str, float]:
    """``{mean, std, n, ci95_low, ci95_high}`` of finite ``values`` ({} when there are none)."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not xs:
        return {}
    mean = math.fsum(xs) / len(xs)
    out = {"mean": mean, "n": float(len(xs)), "std": math.nan, "ci95_low": math.nan,
           "ci95_high": math.nan}
    if len(xs) >= 2:
        from scipy import stats

        std = statistics.stdev(xs)
        half = stats.t.ppf(0.5 + CONFIDENCE / 2, len(xs) - 1) * std / math.sqrt(len(xs))
        out.update(std=std, ci95_low=mean - half, ci95_high=mean + half)
    return out


def aggregate(runs: list) -> dict[str, float]:
    """The parent's metrics (see the module docstring) over the FINISHED ``runs``."""
    finished = [r for r in runs if r.info.status == "FINISHED"]
    out: dict[str, float] = {}
    for metric in AGGREGATED:
        summary = summarize([r.data.metrics.get(metric) for r in finished])
        if summary:
            out[metric] = summary["mean"]
            out.update({f"{metric}_{k}": summary[k] for k in STATISTICS})
    return out


def arm_status(runs: list) -> str:
    statuses = {r.info.status for r in runs}
    if not statuses or statuses - set(TERMINAL):
        return "RUNNING"
    if statuses == {"FINISHED"}:
        return "FINISHED"
    return "FAILED" if "FAILED" in statuses else "KILLED"


def varied_params(config_label: str, runs: list) -> dict[str, str]:
    """The label's items as params, with the value the children logged (the label's own
    spelling when no child has logged it yet)."""
    out = {}
    for key, value in notes.label_items(config_label).items():
        logged = next((r.data.params[key] for r in runs if key in r.data.params), None)
        out[key] = logged if logged is not None else value
    return out


def refresh_arm(client, experiment_id: str, key: str) -> str | None:
    """Recompute arm ``key`` from its children (aggregate, params, status, description);
    re-parent strays and drop surplus parents. Returns the arm's run id (None: no arm).

    An arm without any child (its only run's creation failed, or an import was rolled back)
    is deleted: a refresh only ever runs after a child was written, so an empty arm is debris.
    A round that collides with a concurrent refresher (both inserting the same new param or
    tag: the store's unique key rejects one) is run again from a fresh read.
    """
    from mlflow.exceptions import MlflowException

    for round_ in range(1, REFRESH_ROUNDS + 1):
        try:
            arm_id, settled = _refresh_round(client, experiment_id, key)
        except MlflowException:
            if round_ == REFRESH_ROUNDS:
                raise
            continue
        if settled:
            return arm_id
    return arm_id


def _refresh_round(client, experiment_id: str, key: str) -> tuple[str | None, bool]:
    """One read-write-reread round of ``refresh_arm``: (arm id, whether the children stayed
    as read)."""
    arms = find_arms(client, experiment_id, key)
    if not arms:
        return None, True
    runs = children(client, experiment_id, key)
    if not runs:
        for empty in arms:
            _delete_quietly(client, empty.info.run_id)
        return None, True
    arm, surplus = arms[0], arms[1:]
    _adopt(client, experiment_id, arm.info.run_id, runs)
    _write(client, arm, runs)
    for extra in surplus:
        _delete_quietly(client, extra.info.run_id)
    again = children(client, experiment_id, key)
    return arm.info.run_id, _states(again) == _states(runs)


def refresh_arm_of(client, run_id: str) -> str | None:
    """Refresh the arm the run ``run_id`` belongs to (None for a run outside any arm)."""
    run = client.get_run(run_id)
    key = run.data.tags.get(T.ARM_KEY)
    if not key:
        return None
    return refresh_arm(client, run.info.experiment_id, key)


def _states(runs: list) -> set[tuple[str, str, Any]]:
    return {(r.info.run_id, r.info.status, r.info.end_time) for r in runs}


def _adopt(client, experiment_id: str, arm_id: str, runs: list) -> None:
    """Point every child at ``arm_id`` (parent tag and the link in its description)."""
    from mlflow.entities import RunTag

    for run in runs:
        old = run.data.tags.get(T.MLFLOW_PARENT_RUN_ID)
        if old == arm_id:
            continue
        note = notes.run_note(run.data.tags, experiment_id=experiment_id, arm_id=arm_id)
        client.log_batch(run.info.run_id, tags=[RunTag(T.MLFLOW_PARENT_RUN_ID, arm_id),
                                                RunTag(T.MLFLOW_NOTE, note)])


def _write(client, arm, runs: list) -> None:
    from mlflow.entities import Metric, Param, RunTag

    arm_id = arm.info.run_id
    finished = [r for r in runs if r.info.status == "FINISHED"]
    stamp = max((r.info.end_time or 0 for r in finished), default=0) or int(time.time() * 1000)
    summary = aggregate(runs)
    # step = how many seeds the aggregate covers: MLflow keeps the value of the highest step as
    # the run's metric, so a refresh that saw more finished seeds always wins, even when a
    # slower refresh from fewer seeds writes after it with the same timestamp.
    metrics = [Metric(k, v, stamp, len(finished)) for k, v in summary.items()]
    label = arm.data.tags.get(T.CONFIG_LABEL, "")
    params = [Param(k, v) for k, v in varied_params(label, runs).items()
              if k not in arm.data.params]  # params are write-once in MLflow
    note = notes.arm_note(arm.data.tags, summary, finished=len(finished), runs=len(runs))
    tags = [RunTag(T.ARM_RUNS, f"{len(finished)}/{len(runs)} finished"),
            RunTag(T.MLFLOW_NOTE, note)]
    if params:  # apart from the rest, so a collision on a param costs nothing else
        client.log_batch(arm_id, params=params)
    client.log_batch(arm_id, metrics=metrics, tags=tags)
    status = arm_status(runs)
    if status in TERMINAL:
        end = max((r.info.end_time or 0 for r in runs), default=0) or None
        client.set_terminated(arm_id, status=status, end_time=end)
    elif arm.info.status != "RUNNING":
        client.update_run(arm_id, status="RUNNING")


# ---- the experiment's description ----------------------------------------------------------
def describe_experiment(client, experiment_id: str, *, reference: bool = False) -> None:
    """Set the experiment's kind (MLflow's "Model training" mode) and its description from its
    arms: the specs, what varies, and the command that regenerates the report."""
    exp = client.get_experiment(experiment_id)
    arms = _search(client, experiment_id, f"tags.`{T.ARM_PARENT}` = '{T.TRUE}'")
    labels = {r.data.tags.get(T.CONFIG_LABEL, "") for r in arms}
    items = [notes.label_items(label) for label in labels]
    varied = {k for k in set().union(*items) if len({i.get(k) for i in items}) > 1}
    specs = {r.data.tags[T.SPEC] for r in arms if T.SPEC in r.data.tags}
    note = notes.experiment_note(name=exp.name, specs=specs, varied=varied, arms=len(labels),
                                 reference=reference)
    wanted = {T.MLFLOW_EXPERIMENT_KIND: T.EXPERIMENT_KIND_TRAINING, T.MLFLOW_NOTE: note}
    for tag, value in wanted.items():
        if exp.tags.get(tag) != value:
            _set_experiment_tag(client, experiment_id, tag, value)


def _set_experiment_tag(client, experiment_id: str, tag: str, value: str) -> None:
    """Set an experiment tag; two workers inserting the same new tag at once make one of the
    inserts fail on the store's unique key, and that one's second try is an update."""
    from mlflow.exceptions import MlflowException

    try:
        client.set_experiment_tag(experiment_id, tag, value)
    except MlflowException:
        if tag not in client.get_experiment(experiment_id).tags:
            raise
        client.set_experiment_tag(experiment_id, tag, value)
