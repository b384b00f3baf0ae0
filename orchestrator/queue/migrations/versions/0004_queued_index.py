"""A partial index of the queued jobs in claim order (priority DESC, id), so a claim reads the
head of the queue instead of sorting every queued job: the older ``ix_jobs_claim`` (state,
priority, id) cannot serve ``ORDER BY priority DESC, id`` (mixed directions).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_QUEUED = sa.text("state = 'queued'")


def upgrade() -> None:
    op.create_index("ix_jobs_queued", "jobs", [sa.text("priority DESC"), "id"],
                    postgresql_where=_QUEUED, sqlite_where=_QUEUED)


def downgrade() -> None:
    op.drop_index("ix_jobs_queued", "jobs")
