"""Initial queue schema: sweeps and jobs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from orchestrator.queue.schema import DbTimestamp, db_now

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("spec_name", sa.String(200), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=False),
        sa.Column("spec_path", sa.Text, nullable=False),
        sa.Column("project_dir", sa.Text, nullable=False),
        sa.Column("n_runs", sa.Integer, nullable=False),
        sa.Column("n_new", sa.Integer, nullable=False),
        sa.Column("created_at", DbTimestamp, server_default=db_now(), nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sweep_id", sa.Integer, sa.ForeignKey("sweeps.id"), nullable=False),
        sa.Column("spec_name", sa.String(200), nullable=False),
        sa.Column("group_name", sa.String(200), nullable=False),
        sa.Column("run_hash", sa.String(64), nullable=False),
        sa.Column("repetition", sa.Integer, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("gpus", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("worker_id", sa.String(200)),
        sa.Column("lease_expires_at", DbTimestamp),
        sa.Column("exit_reason", sa.Text),
        sa.Column("mlflow_run_id", sa.String(64)),
        sa.Column("job_dir", sa.Text),
        sa.Column("created_at", DbTimestamp, server_default=db_now(), nullable=False),
        sa.Column("started_at", DbTimestamp),
        sa.Column("finished_at", DbTimestamp),
        sa.Column("updated_at", DbTimestamp, server_default=db_now(), nullable=False),
        sa.UniqueConstraint("run_hash", "repetition", name="uq_jobs_run_hash_repetition"),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="ck_jobs_state"),
    )
    op.create_index("ix_jobs_claim", "jobs", ["state", "priority", "id"])
    op.create_index("ix_jobs_sweep", "jobs", ["sweep_id"])


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("sweeps")
