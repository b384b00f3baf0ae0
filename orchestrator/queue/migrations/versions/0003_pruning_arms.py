"""Search pruning and adaptive seeds: the ``pruned`` job state, per-epoch metrics reported by
jobs, the driver's prune request, a sweep's seed policy and the policy's looks at its arms.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.queue.schema import DbTimestamp, db_now

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Spelled out (not imported from states.py) so this revision keeps meaning what it meant.
_STATES_0002 = ("queued", "running", "succeeded", "failed", "cancelled")
_STATES_0003 = _STATES_0002 + ("pruned",)


def _check(states: tuple) -> str:
    return f"state IN ({', '.join(repr(s) for s in states)})"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("ck_jobs_state", type_="check")
        batch.create_check_constraint("ck_jobs_state", _check(_STATES_0003))
        batch.add_column(sa.Column("prune_requested_epoch", sa.Integer, nullable=True))
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("seed_policy", sa.Text, nullable=True))
    op.create_table(
        "job_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("created_at", DbTimestamp, server_default=db_now(), nullable=False),
        sa.UniqueConstraint("job_id", "epoch", "name", name="uq_job_metrics"),
    )
    op.create_table(
        "arm_looks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sweep_id", sa.Integer, sa.ForeignKey("sweeps.id"), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("n_seeds", sa.Integer, nullable=False),
        sa.Column("n_baseline", sa.Integer, nullable=False),
        sa.Column("estimate", sa.Float, nullable=True),
        sa.Column("lower", sa.Float, nullable=True),
        sa.Column("upper", sa.Float, nullable=True),
        sa.Column("alpha_spent", sa.Float, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("cancelled", sa.Integer, nullable=False, server_default="0"),
        sa.Column("saved_hours", sa.Float, nullable=True),
        sa.Column("created_at", DbTimestamp, server_default=db_now(), nullable=False),
        sa.UniqueConstraint("sweep_id", "label", "n_seeds", name="uq_arm_looks"),
    )


def downgrade() -> None:
    op.drop_table("arm_looks")
    op.drop_table("job_metrics")
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("seed_policy")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("prune_requested_epoch")
        batch.drop_constraint("ck_jobs_state", type_="check")
        batch.create_check_constraint("ck_jobs_state", _check(_STATES_0002))
