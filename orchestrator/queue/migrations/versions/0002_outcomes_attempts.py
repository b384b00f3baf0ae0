"""A job's outcome in its row, infrastructure losses counted apart, one row per attempt, the
spec's content hash on its sweep.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.queue.schema import DbTimestamp, db_now

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JOB_COLUMNS = (
    sa.Column("lost_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_lost_attempts", sa.Integer, nullable=False, server_default="10"),
    sa.Column("best_miou", sa.Float, nullable=True),
    sa.Column("best_miou_reduced", sa.Float, nullable=True),
    sa.Column("best_epoch", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("pruned_epoch", sa.Integer, nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("sweeps") as batch:
        batch.add_column(sa.Column("spec_hash", sa.String(64), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        for column in _JOB_COLUMNS:
            batch.add_column(column.copy())
    op.create_table(
        "job_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id"), nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("slot", sa.String(64), nullable=False),
        sa.Column("slurm_job_id", sa.String(64), nullable=True),
        sa.Column("start_epoch", sa.Integer, nullable=True),
        sa.Column("checkpoint_source", sa.String(16), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("started_at", DbTimestamp, server_default=db_now(), nullable=False),
        sa.Column("ended_at", DbTimestamp, nullable=True),
    )
    op.create_index("ix_job_attempts_job", "job_attempts", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_job_attempts_job", "job_attempts")
    op.drop_table("job_attempts")
    with op.batch_alter_table("jobs") as batch:
        for column in reversed(_JOB_COLUMNS):
            batch.drop_column(column.name)
    with op.batch_alter_table("sweeps") as batch:
        batch.drop_column("spec_hash")
