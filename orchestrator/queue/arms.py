"""Queue side of adaptive seeds: a sweep's seed policy, its arms' jobs, and the policy's looks.

A look is one ``arm_looks`` row, unique per (sweep, arm label, finished seeds): whichever worker
inserts it makes the look, and a stopping look cancels the arm's queued seeds in the same
transaction (compare-and-set on ``state = 'queued'``), each with the look's reason.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from orchestrator.queue.lease import close_attempts
from orchestrator.queue.schema import ArmLook, Job, Sweep, db_now
from orchestrator.queue.states import CANCELLED, QUEUED
from orchestrator.queue.store import Store

ARM_JOB_COLUMNS = ("id", "label", "seed", "state", "best_miou", "best_miou_reduced", "gpus",
                   "started_at", "finished_at", "mlflow_run_id", "exit_reason")
LOOK_COLUMNS = ("label", "n_seeds", "n_baseline", "estimate", "lower", "upper", "alpha_spent",
                "decision", "reason", "cancelled", "saved_hours", "created_at")


def seed_policy(store: Store, sweep_id: int) -> dict | None:
    """The sweep's adaptive-seeds policy (see orchestrator/specs/sections.py), None if plain."""
    with store.session_scope() as session:
        text = session.execute(select(Sweep.seed_policy)
                               .where(Sweep.id == sweep_id)).scalar_one_or_none()
    return json.loads(text) if text else None


def arm_jobs(store: Store, sweep_id: int) -> list[dict]:
    """Every job of the sweep (id order) with what the policy needs."""
    stmt = select(*(getattr(Job, c) for c in ARM_JOB_COLUMNS)).where(
        Job.sweep_id == sweep_id).order_by(Job.id)
    with store.session_scope() as session:
        return [dict(zip(ARM_JOB_COLUMNS, row)) for row in session.execute(stmt)]


def looks(store: Store, sweep_id: int) -> list[dict]:
    """The policy's looks at the sweep's arms, in the order they were made."""
    stmt = select(ArmLook).where(ArmLook.sweep_id == sweep_id).order_by(ArmLook.id)
    with store.session_scope() as session:
        return [{c: getattr(r, c) for c in LOOK_COLUMNS} for r in session.execute(stmt).scalars()]


def record_look(store: Store, sweep_id: int, label: str, look: Any, *, n_seeds: int,
                n_baseline: int, hours_per_run: float | None) -> int | None:
    """Insert the look; when it stops the arm, cancel the arm's queued seeds with its reason.
    Returns the number of seeds cancelled, None when this look was already made elsewhere."""
    stop = look.decision == "stop"
    reason = f"adaptive seeds: arm stopped after {n_seeds} seeds: {look.reason}"
    try:
        with store.session_scope() as session:
            row = ArmLook(sweep_id=sweep_id, label=label, n_seeds=n_seeds, n_baseline=n_baseline,
                          estimate=look.estimate, lower=look.lower, upper=look.upper,
                          alpha_spent=look.alpha_spent, decision=look.decision,
                          reason=look.reason, cancelled=0)
            session.add(row)
            session.flush()
            if not stop:
                return 0
            which = (Job.sweep_id == sweep_id) & (Job.label == label) & (Job.state == QUEUED)
            cancelled = list(session.execute(
                update(Job).where(which)
                .values(state=CANCELLED, finished_at=db_now(), updated_at=db_now(),
                        exit_reason=reason[:1000])
                .returning(Job.id).execution_options(synchronize_session=False)).scalars())
            if cancelled:
                close_attempts(session, Job.id.in_(cancelled), "cancelled")
            row.cancelled = len(cancelled)
            row.saved_hours = None if hours_per_run is None else hours_per_run * len(cancelled)
            return len(cancelled)
    except IntegrityError:  # another worker made this look first
        return None
