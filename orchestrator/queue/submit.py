"""Submitting runs: one sweep per spec, one transaction for all, dedup by (run hash, repetition)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from sqlalchemy import insert, select

from orchestrator.errors import QueueError
from orchestrator.queue.project_paths import stored_path
from orchestrator.queue.schema import Job, Sweep
from orchestrator.queue.store import Store

IN_CHUNK = 500  # run hashes per IN (...) lookup


@dataclass(frozen=True)
class SubmitResult:
    spec_name: str
    sweep_id: int | None  # None for a dry run, and when nothing new was queued
    n_runs: int
    n_new: int
    n_known: int
    rows: list = field(default_factory=list, repr=False)  # per run: label, seed, hash, new
    job_ids: list = field(default_factory=list)  # the queued jobs of these runs, created or found


# ----------------------------------------------------------------------------- submit
def _existing(session: Any, hashes: Sequence[str]) -> dict[tuple[str, int], int]:
    """{(run hash, repetition): job id} of every queued job (any state) with one of ``hashes``:
    one indexed lookup per chunk of hashes (the dedup and the job ids both read it)."""
    found: dict[tuple[str, int], int] = {}
    unique = sorted(set(hashes))
    conn = session.connection()
    for i in range(0, len(unique), IN_CHUNK):
        stmt = (select(Job.run_hash, Job.repetition, Job.id)
                .where(Job.run_hash.in_(unique[i:i + IN_CHUNK])))
        found.update({(h, r): job_id for h, r, job_id in conn.execute(stmt)})
    return found


def _known_repetitions(existing: dict[tuple[str, int], int]) -> dict[str, int]:
    """{run hash: its highest queued repetition}."""
    known: dict[str, int] = {}
    for run_hash, rep in existing:
        known[run_hash] = max(rep, known.get(run_hash, -1))
    return known


def submit(store: Store, batches: Sequence[tuple[Any, Sequence[Any]]], *, force: bool = False,
           priority: int = 0, max_attempts: int = 3, max_lost_attempts: int = 10,
           dry_run: bool = False) -> list[SubmitResult]:
    """Queue every (spec, runs) batch in ONE transaction; one sweep per spec.

    A run whose hash is already in the queue (any state) is "known" and skipped, unless
    ``force``, which adds a new repetition. ``dry_run`` only counts. Nothing is written when any
    batch fails. ``max_attempts`` bounds the job's own failures, ``max_lost_attempts`` the
    attempts lost with their worker.
    """
    if max_attempts < 1:
        raise QueueError(f"max_attempts: expected >= 1, got {max_attempts}")
    if max_lost_attempts < 1:
        raise QueueError(f"max_lost_attempts: expected >= 1, got {max_lost_attempts}")
    results = []
    with store.session_scope() as session:
        existing = _existing(session, [r.run_hash for _, runs in batches for r in runs])
        known = _known_repetitions(existing)
        for spec, runs in batches:
            results.append(_submit_one(session, spec, runs, known, existing, force=force,
                                       priority=priority,
                                       limits=(max_attempts, max_lost_attempts), dry_run=dry_run,
                                       project_dir=stored_path(store.url, spec.project_dir)))
        if dry_run:
            session.rollback()
    return results


def _submit_one(session: Any, spec: Any, runs: Sequence[Any], known: dict[str, int],
                existing: dict[tuple[str, int], int], *, force: bool, priority: int,
                limits: tuple[int, int], dry_run: bool, project_dir: str) -> SubmitResult:
    new_rows, rows, pairs = [], [], []
    for run in runs:
        # A run is (run_hash, repetition): a spec's `repeats` asks for repetitions 0..N-1, and
        # --force adds one more on top of what is known.
        wanted = getattr(run, "repetition", 0)
        is_new = force or wanted > known.get(run.run_hash, -1)
        rows.append({"label": run.label, "seed": run.seed, "repetition": wanted,
                     "run_hash": run.run_hash[:12], "model_name": run.config.model_name,
                     "status": "new" if is_new else "known"})
        if is_new:
            rep = known.get(run.run_hash, -1) + 1 if force else wanted
            known[run.run_hash] = max(rep, known.get(run.run_hash, -1))  # later batches see it
            new_rows.append((run, rep))
            pairs.append((run.run_hash, rep))
        else:
            pairs.append((run.run_hash, wanted))
    sweep_id = None
    if not dry_run and new_rows:  # a submission that adds nothing leaves no empty sweep
        sweep = Sweep(spec_name=spec.name, group=spec.group, spec_path=str(spec.path),
                      project_dir=project_dir, n_runs=len(runs), n_new=len(new_rows),
                      spec_hash=getattr(spec, "content_hash", None),
                      seed_policy=_seed_policy(spec, runs))
        session.add(sweep)
        session.flush()
        sweep_id = sweep.id
        tags = json.dumps(spec.tags, sort_keys=True)
        gpus = int(spec.resources.get("gpus", 1))
        rows_to_insert = [
            {"sweep_id": sweep_id, "spec_name": spec.name, "group_name": spec.group,
             "run_hash": run.run_hash, "repetition": rep, "label": run.label, "seed": run.seed,
             "config": run.config.canonical_json(), "tags": tags, "gpus": gpus, "state": "queued",
             "priority": priority, "attempts": 0, "max_attempts": limits[0],
             "lost_attempts": 0, "max_lost_attempts": limits[1]}
            for run, rep in new_rows]
        conn = session.connection()  # Core executemany: no ORM bookkeeping per row
        conn.execute(insert(Job.__table__), rows_to_insert)
        existing.update({(h, r): job_id for h, r, job_id in conn.execute(
            select(Job.run_hash, Job.repetition, Job.id).where(Job.sweep_id == sweep_id))})
    return SubmitResult(spec_name=spec.name, sweep_id=sweep_id, n_runs=len(runs),
                        n_new=len(new_rows), n_known=len(runs) - len(new_rows), rows=rows,
                        job_ids=[existing[p] for p in pairs if p in existing])


def _seed_policy(spec: Any, runs: Sequence[Any]) -> str | None:
    """The adaptive-seeds policy of the spec as stored on its sweep (JSON), None without one."""
    policy = getattr(spec, "seed_policy", None)
    return None if policy is None else policy.record(list(runs), spec.fail)
