"""Database access: engines, the ``session_scope()`` helper (and its Core-connection twin for
the queue's hot path), migrations applied on open.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every transaction starts
with ``BEGIN IMMEDIATE`` so writers queue on the busy handler instead of failing on a lock
upgrade. PostgreSQL is used as is; migrations there run under an advisory lock so workers that
start together do not race to create the schema. A pooled PostgreSQL connection is pinged before
reuse only when it has been idle for ``PING_AFTER_IDLE_S`` (a worker's back-to-back claims pay no
ping; one that waited, e.g. across a server restart, is checked and replaced when dead).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.errors import QueueError
from orchestrator.paths import default_db_url
from orchestrator.uris import ensure_sqlite_parent, is_sqlite, sqlite_missing
from regseg.exit_codes import EXIT_USAGE

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_MS = 60_000
SCHEMA_HEAD = "0004"  # newest revision in orchestrator/migrations/versions
_MIGRATION_LOCK_KEY = 0x5265_6753  # "RegS": pg_advisory_xact_lock key for schema upgrades
PING_AFTER_IDLE_S = 1.0


class Store:
    """An engine plus a session factory for one queue database URL."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sessions = sessionmaker(bind=engine, expire_on_commit=False)
        # Same pool; on PostgreSQL each statement commits on its own (see connection_scope).
        self._autocommit = (engine.execution_options(isolation_level="AUTOCOMMIT")
                            if self.dialect == "postgresql" else engine)

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """One transaction: commit on success, roll back on any exception, always close."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def connection_scope(self, *, single_statement: bool = False) -> Iterator[Connection]:
        """One transaction on a Core connection, for the queue's hot path (claim, heartbeat, the
        attempt's end): no ORM session or unit of work. With ``single_statement`` the body runs
        exactly one statement; on PostgreSQL that statement then commits on its own (autocommit:
        no BEGIN and COMMIT round trips), on SQLite it keeps its ``BEGIN IMMEDIATE``."""
        engine = self._autocommit if single_statement else self.engine
        with engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str) -> Engine:
    ensure_sqlite_parent(url)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000,
                                              "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _engine(url: str) -> Engine:
    try:
        if is_sqlite(url):
            return _sqlite_engine(url)
        engine = create_engine(url, pool_size=4, max_overflow=8)
        _ping_when_idle(engine)
        return engine
    except (ArgumentError, ImportError) as exc:
        raise QueueError(f"queue database URL {url!r}: expected sqlite:///PATH or "
                         f"postgresql+psycopg://..., got an error: {exc}") from None


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before reuse when it has been idle for PING_AFTER_IDLE_S; a dead
    one makes the pool drop every connection older than now and connect afresh."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):  # noqa: ANN001
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn, record, _proxy):  # noqa: ANN001
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:  # in autocommit, so the ping opens no transaction
            autocommit = dbapi_conn.autocommit
            dbapi_conn.autocommit = True
            dbapi_conn.execute("SELECT 1")
            dbapi_conn.autocommit = autocommit
        except Exception as exc:
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc


def _current_revision(store: Store) -> str | None:
    """The schema's Alembic revision, read with plain SQL (None for an empty database)."""
    from sqlalchemy import inspect

    with store.engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(store: Store) -> None:
    """Bring the schema to the newest Alembic revision shipped in orchestrator/migrations.

    Fast path: a database already at ``SCHEMA_HEAD`` is left alone without importing Alembic
    (a test keeps ``SCHEMA_HEAD`` equal to the migrations' head).
    """
    if _current_revision(store) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


_cache: dict[str, Store] = {}
_cache_lock = threading.Lock()


def open_store(url: str | None = None, *, migrate_schema: bool = True,
               create: bool = True) -> Store:
    """The Store for ``url`` (default ``$REGSEG_DB`` or ``<state>/queue.db``), schema up to date.

    ``create=False`` (commands that only read or steer the queue) refuses a database that holds
    no queue yet (a missing SQLite file, a schema-less server database) instead of creating an
    empty one. Stores are cached per URL within a process. Raises QueueError when the database
    cannot be reached.
    """
    url = url or default_db_url()
    with _cache_lock:
        if url in _cache:
            return _cache[url]
        if not create and sqlite_missing(url):
            raise QueueError(f"queue database {url}: no such file; only `regseg queue` and "
                             f"`regseg worker` create a queue (check --db / $REGSEG_DB)",
                             exit_code=EXIT_USAGE)
        store = Store(url, _engine(url))
        if not create and _current_revision(store) is None:
            store.dispose()
            raise QueueError(f"queue database {_safe(url)}: holds no queue; only `regseg queue` "
                             f"and `regseg worker` create one (check --db / $REGSEG_DB)",
                             exit_code=EXIT_USAGE)
        if migrate_schema:
            try:
                migrate(store)
            except OperationalError as exc:
                store.dispose()
                raise QueueError(f"queue database {_safe(url)}: cannot open it: "
                                 f"{str(exc.orig).strip()}") from None
        _cache[url] = store
        return store


def close_all() -> None:
    """Dispose every cached engine (tests, forked processes)."""
    with _cache_lock:
        for store in _cache.values():
            store.dispose()
        _cache.clear()


def _safe(url: str) -> str:
    """The URL without a password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url
