"""Fixtures of the orchestrator tests (owner: orchestrator).

``db_url`` runs a test against SQLite (a file in tmp_path) and PostgreSQL (a fresh database per
test on the server in $REGSEG_TEST_PG_URL; ``tools/with-postgres`` starts one). Without that URL
the PostgreSQL case is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

PG_ENV = "REGSEG_TEST_PG_URL"


def _pg_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but ${PG_ENV} is not set: the PostgreSQL tests must run in CI")
        pytest.skip(f"${PG_ENV} not set (run under tools/with-postgres)")
    return url


@contextmanager
def _fresh_pg_database() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"regseg_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(_pg_admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        _close_stores()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty queue database URL (schema created on first open)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.db'}"
        _close_stores()
        return
    with _fresh_pg_database() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database (tests of several hosts or SLURM: SQLite cannot be shared)."""
    with _fresh_pg_database() as url:
        yield url


def _close_stores() -> None:
    from orchestrator.queue.store import close_all

    close_all()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory with experiments/ (specs are written into it by tests)."""
    root = tmp_path / "project"
    (root / "experiments").mkdir(parents=True)
    return root
