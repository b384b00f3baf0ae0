"""Hyper-parameter search: an Optuna study driven by ask/tell over the durable job queue.

Each Optuna trial is one queued run: ``ask`` samples values for the searched fields, the run is
the spec's single resolved TrainConfig with those values, and it is submitted to the same queue
workers drain (so trials use every GPU slot and survive crashes like any job). When its job
ends, the driver reads the metric from the job's queue row (the job records its outcome through
the queue API, so the driver can run on any host) and ``tell``s the study. The study lives in real Optuna RDB storage (default
``sqlite:///<state>/optuna.db``; a separate database from the queue, because both use Alembic
version tables). The driver is stateless between calls: trial <-> job links are trial user
attributes, so ``regseg search`` can be stopped and run again at any time.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from orchestrator import queue
from orchestrator.errors import SpecError
from orchestrator.paths import state_dir
from orchestrator.queue.states import FINAL_STATES, SUCCEEDED
from orchestrator.specs import expand, load_spec
from orchestrator.uris import ensure_sqlite_parent, sqlite_url

#: objective metric -> the queue-row column holding the job's value of it
METRICS = {"best_mIoU": "best_miou", "best_mIoU_reduced": "best_miou_reduced"}


@dataclass(frozen=True)
class Param:
    """One searched TrainConfig field: ``kind`` float | int | choice."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        return SUGGEST[self.kind](trial, self)


SUGGEST: dict[str, Callable[[Any, Param], Any]] = {
    "float": lambda t, p: t.suggest_float(p.name, p.low, p.high, log=p.log),
    "int": lambda t, p: t.suggest_int(p.name, int(p.low), int(p.high), log=p.log),
    "choice": lambda t, p: t.suggest_categorical(p.name, list(p.choices)),
}


def parse_param(text: str) -> Param:
    """``lr=float:0.001:0.1:log``, ``batch_size=int:2:8``, ``aug_mode=choice:baseline,custom3``."""
    import yaml

    name, sep, rest = text.partition("=")
    kind, _, args = rest.partition(":")
    if not sep or not name or kind not in SUGGEST:
        raise SpecError(f"--param {text!r}: expected NAME=float:LOW:HIGH[:log], NAME=int:LOW:HIGH"
                        f"[:log] or NAME=choice:A,B,...; got kind {kind!r}")
    if kind == "choice":
        values = tuple(yaml.safe_load(v) for v in args.split(",") if v != "")
        if not values:
            raise SpecError(f"--param {text!r}: expected at least one choice")
        return Param(name, kind, choices=values)
    parts = args.split(":")
    try:
        low, high = float(parts[0]), float(parts[1])
    except (IndexError, ValueError):
        raise SpecError(f"--param {text!r}: expected numeric LOW:HIGH, got {args!r}") from None
    if not low < high or parts[2:] not in ([], ["log"]):
        raise SpecError(f"--param {text!r}: expected LOW < HIGH and an optional ':log', got {args!r}")
    return Param(name, kind, low, high, log=parts[2:] == ["log"])


def default_storage() -> str:
    return sqlite_url(state_dir() / "optuna.db")


@dataclass
class Search:
    """A study over the single run of ``spec_path``, searching ``params``."""

    store: Any
    spec_path: Path
    params: list[Param]
    metric: str = "best_mIoU_reduced"
    direction: str = "maximize"
    study_name: str | None = None
    storage: str | None = None
    sampler_seed: int | None = 0
    project_dir: Path | None = None

    def __post_init__(self) -> None:
        import optuna

        if self.metric not in METRICS:
            raise SpecError(f"--metric: expected one of {', '.join(METRICS)}, got {self.metric!r}")
        self.spec = load_spec(self.spec_path, project_dir=self.project_dir)
        runs = expand(self.spec)
        if len(runs) != 1:
            raise SpecError(f"{self.spec_path}: a search needs a spec with exactly one run "
                            f"(no grid, one seed); it expands to {len(runs)}")
        self.base = runs[0].config
        for p in self.params:
            if p.name not in type(self.base).model_fields:
                raise SpecError(f"--param {p.name}: not a TrainConfig field")
        self.spec = dataclasses.replace(self.spec, name=f"{self.spec.name}-search",
                                        group=f"{self.spec.group}-search")
        storage = self.storage or default_storage()
        ensure_sqlite_parent(storage)
        name = self.study_name or f"regseg/{self.spec.name}"
        self.study = optuna.create_study(study_name=name, storage=storage,
                                         direction=self.direction, load_if_exists=True)
        # Re-seed per call with the number of trials so far: a restarted driver continues the
        # random sequence instead of replaying the first samples.
        offset = len(self.study.get_trials(deepcopy=False))
        seed = None if self.sampler_seed is None else self.sampler_seed + offset
        self.study.sampler = optuna.samplers.TPESampler(seed=seed)

    # ------------------------------------------------------------------ ask / tell
    def sync(self) -> int:
        """Tell the study about every trial whose job has ended; return how many were told."""
        from optuna.trial import TrialState

        running = [t for t in self.study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
        jobs = {j["id"]: j for j in queue.jobs(self.store)}
        told = 0
        for trial in running:
            job = jobs.get(trial.user_attrs.get("job_id"))
            if job is None or job["state"] not in FINAL_STATES:
                continue
            value = job[METRICS[self.metric]] if job["state"] == SUCCEEDED else None
            if value is None:
                self.study.tell(trial.number, state=TrialState.FAIL)
            else:
                self.study.tell(trial.number, value)
            told += 1
        return told

    def ask(self, *, trials: int, parallel: int) -> int:
        """Ask new trials (up to ``trials`` in total, ``parallel`` unfinished at once) and queue
        one run each; return how many were queued."""
        from optuna.trial import TrialState

        queued = 0
        while True:
            existing = self.study.get_trials(deepcopy=False)
            active = sum(t.state == TrialState.RUNNING for t in existing)
            if len(existing) >= trials or active >= parallel:
                return queued
            trial = self.study.ask()
            values = {p.name: p.suggest(trial) for p in self.params}
            trial.set_user_attr("job_id", self._queue_run(values))
            queued += 1

    def _queue_run(self, values: dict) -> int:
        """Queue the spec's one run at the grid point ``values`` (expanded like any spec);
        a point sampled before (same run hash) reuses its job: no retraining, same result."""
        spec = dataclasses.replace(self.spec, grid={k: [v] for k, v in values.items()})
        (result,) = queue.submit(self.store, [(spec, expand(spec))])
        return int(result.job_ids[0])

    def drive(self, *, trials: int, parallel: int, wait: bool = True,
              poll_seconds: float = 2.0, on_poll: Callable[[], None] | None = None) -> None:
        """Keep ``parallel`` trials queued until ``trials`` have finished (or, without
        ``wait``, until the first batch is queued)."""
        from optuna.trial import TrialState

        while True:
            self.sync()
            self.ask(trials=trials, parallel=parallel)
            done = [t for t in self.study.get_trials(deepcopy=False) if t.state != TrialState.RUNNING]
            if on_poll is not None:
                on_poll()
            if not wait or len(done) >= trials:
                return
            time.sleep(poll_seconds)

    def rows(self) -> list[dict]:
        jobs = {j["id"]: j for j in queue.jobs(self.store)}
        out = []
        for t in self.study.get_trials(deepcopy=False):
            job = jobs.get(t.user_attrs.get("job_id"), {})
            out.append({"trial": t.number, "state": t.state.name, self.metric: t.value,
                        "job": job.get("id"), "job_state": job.get("state"), **t.params})
        return out
