"""The search driver: an Optuna study whose trials are queued runs (docs/CONTRACTS.md,
"Pruning through the queue").

Each Optuna trial is one queued run: ``ask`` samples values for the searched parameters, the
run is the spec's single resolved TrainConfig at that point, submitted to the queue workers
drain. While jobs train, the driver reads the per-epoch metrics they report into the queue,
reports them to their trials (as the running best, the objective being a best-epoch metric)
and asks the pruner; when it says prune, the driver requests a stop in the job's queue row and
the job stops. When a job ends, the driver tells the study from the job's queue row:
succeeded -> COMPLETE with its value, pruned -> PRUNED, failed or cancelled -> FAIL.

The study lives in Optuna RDB storage (default ``sqlite:///<state>/optuna.db``; a separate
database from the queue, because both use Alembic version tables). The driver keeps no state of
its own: trial <-> job links are trial user attributes (``job_id``, ``mlflow_run_id``), so
``regseg search`` can be killed and run again at any time; a trial left without a job by a
kill between ask and submit is completed (its missing parameters sampled) and queued on the
next run, and a point sampled twice reuses the job of the first (same run hash).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from orchestrator import queue
from orchestrator.errors import SpecError
from orchestrator.paths import state_dir
from orchestrator.queue.pruning import epoch_metrics, request_prune
from orchestrator.queue.states import CANCELLED, FAILED, PRUNED, SUCCEEDED
from orchestrator.search.optuna_setup import grid_size, make_pruner, make_sampler
from orchestrator.search.space import merge_space
from orchestrator.specs import expand, load_spec
from orchestrator.specs.sections import OBJECTIVE_METRICS, SearchSection
from orchestrator.uris import ensure_sqlite_parent, sqlite_url

#: objective metric -> the per-epoch metric the job reports for it
EPOCH_METRIC = {"best_mIoU": "mIoU", "best_mIoU_reduced": "mIoU_reduced"}


def default_storage() -> str:
    return sqlite_url(state_dir() / "optuna.db")


@dataclass
class Search:
    """A study over the single run of ``spec_path``. Every option left None comes from the
    spec's ``search:`` section (or its defaults); ``params`` replace the spec's parameters of
    the same name."""

    store: Any
    spec_path: Path
    params: Sequence[Any] = ()
    metric: str | None = None
    direction: str | None = None
    study_name: str | None = None
    storage: str | None = None
    sampler: str | None = None
    sampler_seed: int | None = None
    pruner: str | None = None
    project_dir: Path | None = None
    section: SearchSection = field(init=False)

    def __post_init__(self) -> None:
        import optuna

        spec = load_spec(self.spec_path, project_dir=self.project_dir)
        own = spec.search or SearchSection()
        self.section = dataclasses.replace(
            own, space=tuple(merge_space(own.space, self.params)),
            **{k: v for k, v in (("metric", self.metric), ("direction", self.direction),
                                 ("sampler", self.sampler), ("seed", self.sampler_seed),
                                 ("pruner", self.pruner)) if v is not None})
        if self.pruner is not None and self.pruner != own.pruner:
            self.section = dataclasses.replace(self.section, pruner_options={})
        self._check(spec)
        runs = expand(spec)
        if len(runs) != 1:
            raise SpecError(f"{self.spec_path}: a search needs a spec with exactly one run "
                            f"(no grid, one seed); it expands to {len(runs)}")
        self.base = runs[0].config
        self.spec = dataclasses.replace(spec, name=f"{spec.name}-search",
                                        group=f"{spec.group}-search", search=None)
        storage = self.storage or default_storage()
        ensure_sqlite_parent(storage)
        name = self.study_name or f"regseg/{self.spec.name}"
        s = self.section
        self.study = optuna.create_study(study_name=name, storage=storage, direction=s.direction,
                                         load_if_exists=True)
        if self.study.direction.name.lower() != s.direction:
            raise SpecError(f"study {name!r} exists with direction "
                            f"{self.study.direction.name.lower()}, got {s.direction}")
        # Re-seed per call with the number of trials so far: a restarted driver continues the
        # random sequence instead of replaying the first samples.
        offset = len(self.study.get_trials(deepcopy=False))
        seed = None if s.seed is None else s.seed + offset
        self.study.sampler = make_sampler(s.sampler, seed=seed, space=s.space)
        self.study.pruner = make_pruner(s.pruner, s.pruner_options, epochs=self.base.epochs)

    def _check(self, spec: Any) -> None:
        s = self.section
        if not s.space:
            raise SpecError(f"{self.spec_path}: nothing to search: expected a `search: space:` "
                            f"section in the spec or --param options")
        if s.metric not in OBJECTIVE_METRICS:
            raise SpecError(f"--metric: expected one of {', '.join(OBJECTIVE_METRICS)}, "
                            f"got {s.metric!r}")
        if s.direction not in ("maximize", "minimize"):
            raise SpecError(f"--direction: expected maximize or minimize, got {s.direction!r}")
        from regseg.config import TrainConfig

        known = set(TrainConfig.model_fields) | {"body", "decoder"}
        for p in s.space:
            if p.name not in known or p.name == "seed":
                raise SpecError(f"--param {p.name}: not a TrainConfig field")

    @property
    def column(self) -> str:
        return OBJECTIVE_METRICS[self.section.metric]

    # ------------------------------------------------------------------ sync: report, prune, tell
    def sync(self) -> int:
        """Feed new epoch metrics to running trials (pruning those the pruner rejects), link
        jobs' MLflow runs, tell every trial whose job has ended; return how many were told."""
        from optuna.trial import TrialState

        running = [t for t in self.study.get_trials(deepcopy=False)
                   if t.state == TrialState.RUNNING]
        self._adopt_orphans(running)
        running = [t for t in self.study.get_trials(deepcopy=False)
                   if t.state == TrialState.RUNNING]
        job_ids = sorted({t.user_attrs["job_id"] for t in running if "job_id" in t.user_attrs})
        jobs = {j["id"]: j for j in queue.jobs(self.store) if j["id"] in set(job_ids)}
        streams = epoch_metrics(self.store, job_ids, EPOCH_METRIC[self.section.metric])
        told = 0
        for trial in running:
            job = jobs.get(trial.user_attrs.get("job_id"))
            if job is None:
                continue
            handle = self._handle(trial)
            if (job["mlflow_run_id"]
                    and trial.user_attrs.get("mlflow_run_id") != job["mlflow_run_id"]):
                handle.set_user_attr("mlflow_run_id", job["mlflow_run_id"])
            new = self._report(trial, handle, streams.get(job["id"], {}))
            told += self._settle(trial, job, handle, new)
        return told

    def _handle(self, frozen: Any) -> Any:
        import optuna

        return optuna.trial.Trial(self.study, frozen._trial_id)

    def _report(self, frozen: Any, handle: Any, stream: dict[int, float]) -> int | None:
        """Report the epochs not yet reported (running best); return the last new epoch."""
        best = None
        pick = max if self.section.direction == "maximize" else min
        last = None
        for epoch in sorted(stream):
            best = stream[epoch] if best is None else pick(best, stream[epoch])
            if epoch not in frozen.intermediate_values:
                handle.report(best, epoch)
                last = epoch
        return last

    def _settle(self, frozen: Any, job: dict, handle: Any, new_epoch: int | None) -> int:
        from optuna.trial import TrialState

        state = job["state"]
        if state == SUCCEEDED:
            value = job[self.column]
            if value is None:
                self.study.tell(frozen.number, state=TrialState.FAIL)
            else:
                self.study.tell(frozen.number, value)
            return 1
        if state == PRUNED:
            self.study.tell(frozen.number, state=TrialState.PRUNED)
            return 1
        if state in (FAILED, CANCELLED):
            self.study.tell(frozen.number, state=TrialState.FAIL)
            return 1
        if new_epoch is not None and handle.should_prune():
            after = request_prune(self.store, job["id"], new_epoch)
            if after == PRUNED:  # it was waiting in the queue: pruned there and then
                self.study.tell(frozen.number, state=TrialState.PRUNED)
                return 1
        return 0

    def _adopt_orphans(self, running: list) -> None:
        """A trial the driver asked for but was killed before linking to a job: complete its
        parameters (a value already sampled is kept) and queue it now."""
        for frozen in running:
            if "job_id" in frozen.user_attrs:
                continue
            handle = self._handle(frozen)
            values = {p.name: p.suggest(handle) for p in self.section.space}
            handle.set_user_attr("job_id", self._queue_run(values))

    # ------------------------------------------------------------------ ask
    def ask(self, *, trials: int, parallel: int) -> int:
        """Ask new trials (up to ``trials`` in total, ``parallel`` unfinished at once) and queue
        one run each; return how many were queued."""
        from optuna.trial import TrialState

        if self.section.sampler == "grid":
            trials = min(trials, grid_size(self.section.space))
        queued = 0
        while True:
            existing = self.study.get_trials(deepcopy=False)
            active = sum(t.state == TrialState.RUNNING for t in existing)
            if len(existing) >= trials or active >= parallel:
                return queued
            trial = self.study.ask()
            values = {p.name: p.suggest(trial) for p in self.section.space}
            trial.set_user_attr("job_id", self._queue_run(values))
            queued += 1

    def _queue_run(self, values: dict) -> int:
        """Queue the spec's one run at the grid point ``values`` (expanded like any spec);
        a point sampled before (same run hash) reuses its job: no retraining, same result."""
        spec = dataclasses.replace(self.spec, grid={k: [v] for k, v in values.items()})
        (result,) = queue.submit(self.store, [(spec, expand(spec))])
        return int(result.job_ids[0])

    # ------------------------------------------------------------------ the loop
    def drive(self, *, trials: int | None = None, parallel: int | None = None, wait: bool = True,
              poll_seconds: float = 2.0, on_poll: Callable[[], None] | None = None) -> None:
        """Keep ``parallel`` trials queued until ``trials`` have finished (or, without
        ``wait``, until the first batch is queued). None: the spec's numbers."""
        from optuna.trial import TrialState

        trials = trials or self.section.trials
        parallel = parallel or self.section.parallel
        if self.section.sampler == "grid":
            trials = min(trials, grid_size(self.section.space))
        while True:
            self.sync()
            self.ask(trials=trials, parallel=parallel)
            done = [t for t in self.study.get_trials(deepcopy=False)
                    if t.state != TrialState.RUNNING]
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
            out.append({"trial": t.number, "state": t.state.name, self.section.metric: t.value,
                        "job": job.get("id"), "job_state": job.get("state"),
                        "pruned_epoch": job.get("pruned_epoch"),
                        "mlflow_run_id": job.get("mlflow_run_id"), **t.params})
        return out
