"""The database: an engine, sessions, and migrations run at open.

SQLite (the embedded default) runs in WAL mode so readers never wait for the writer, with a busy
timeout so concurrent writers queue instead of failing. PostgreSQL (``postgresql+psycopg://``) is for
deployments where several kiosks share one database.

Transactions on SQLite: pysqlite's own transaction handling is switched off (``isolation_level=None``)
and the engine's ``begin`` event issues the BEGIN itself — the recipe of SQLAlchemy's pysqlite notes.
A writing session starts with ``BEGIN IMMEDIATE``: it takes the write lock at its start, not at its
first write, so read-then-write sequences (the audit chain's append, "is this name taken?") cannot
interleave and never fail half-way with "database is locked". Reading sessions use a second engine
with a plain (deferred) ``BEGIN``: in WAL mode they see one snapshot and never block the writer.

Reading sessions on PostgreSQL are READ ONLY and REPEATABLE READ: every statement of the session sees
the same snapshot (``audit verify`` compares the rows with the head row while the daemon appends).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from cardservice.errors import CardserviceError

__all__ = ["Database", "StoreError", "describe", "open_database"]

_BUSY_TIMEOUT_MS = 5000
# Any constant: two daemons opening one PostgreSQL database at once migrate one after the other.
_MIGRATION_LOCK = 0x63617264  # "card"


class StoreError(CardserviceError):
    """A storage operation cannot be done; the message says why (never secrets)."""


def describe(exc: SQLAlchemyError) -> str:
    """One line for a database error: the driver's exception and the first line of its message (no
    SQL, no parameters, no link to SQLAlchemy's documentation)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{cause.__class__.__name__}: {lines[0]}" if lines else cause.__class__.__name__


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # an in-memory database answers "memory": fine
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of the process
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cursor.close()


def _create_private(path: Path, url: str) -> None:
    """The folder (0700) and an empty database file (0600) when missing: the file holds key hashes,
    card numbers and the audit log, and SQLite gives its -wal and -shm files the file's mode."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as exc:
        raise StoreError(f"database {url}: cannot create {exc.filename or path}: {exc.strerror}") from None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


class Database:
    """An open database. ``url`` is the URL with any password masked (safe to print and log)."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except (SQLAlchemyError, ValueError):
            raise StoreError("not a database URL (sqlite:///PATH or postgresql+psycopg://...)") from None
        self.dialect: str = parsed.get_backend_name()
        self.url: str = parsed.render_as_string(hide_password=True)
        options: dict[str, Any] = {}
        memory = False
        if self.dialect == "sqlite":
            database = parsed.database
            memory = not database or database == ":memory:" or parsed.query.get("mode") == "memory"
            if not memory:
                _create_private(Path(database or ""), self.url)
            options["connect_args"] = {"check_same_thread": False, "isolation_level": None}
            if memory:
                # One connection is the whole database: every session must get it. (For tests and
                # one-thread tools; concurrent sessions need a file.)
                options["poolclass"] = StaticPool
        try:
            self.engine: Engine = create_engine(parsed, **options)
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.url}: {describe(exc)}") from None
        except ImportError as exc:  # the driver is not installed
            raise StoreError(f"database {self.url}: {exc}") from None
        self._read_engine: Engine = self.engine
        self._own_read_engine = False
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _begin_immediate)
            if not memory:
                self._read_engine = create_engine(parsed, **options)
                self._own_read_engine = True
                event.listen(self._read_engine, "connect", _sqlite_pragmas)
                event.listen(self._read_engine, "begin", _begin_deferred)
        elif self.dialect == "postgresql":
            # A server restart must not fail the next request: see _check_alive.
            event.listen(self.engine, "checkout", self._check_alive)
            # Shares the pool; the options are reset when a connection goes back to it.
            self._read_engine = self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        # SQLite has one writer at a time; threads of this process queue here, handed the lock the
        # moment it is free, instead of in SQLite's busy handler, which polls with sleeps of up to
        # 100 ms (measured: 8 kiosks booking and paying at once had a p99 of 2.6 s that way).
        # Other processes (card-issuer on the same file) still meet the busy timeout.
        self._writer: contextlib.AbstractContextManager[object] = (
            threading.RLock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    def _check_alive(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        """Before a pooled PostgreSQL connection is handed out: is it still alive? ``pool_pre_ping`` asks
        the server every time, a round trip per transaction (a quarter of a kiosk's statements). A server
        going away (restart, shutdown, a killed backend) closes the connection and tells the client so,
        which leaves the idle socket readable; a healthy idle connection has nothing to read. So the
        server is asked only then (or for a connection already known to be closed), and a dead connection
        is replaced before anyone uses it (the pool retries the checkout with a new one)."""
        if not getattr(dbapi_connection, "closed", False):
            poller = select.poll()
            poller.register(dbapi_connection.fileno(), select.POLLIN)
            if not poller.poll(0):
                return
        try:
            alive = self.engine.dialect.do_ping(dbapi_connection)
        except Exception:  # whatever the driver raises for a connection that is gone
            alive = False
        if not alive:
            raise DisconnectionError("the PostgreSQL connection was closed by the server")

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on an exception.

        A writing session on SQLite holds the write lock from its start (other writers wait up to 5 s).
        ``readonly=True``: one consistent snapshot, no lock (writes in it fail on PostgreSQL).
        """
        sessions = self._read_sessions if readonly else self._sessions
        with contextlib.nullcontext() if readonly else self._writer, sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A writing transaction on a Core connection, for a hot path that needs no ORM (the audit log's
        appends): the same locks as a writing :meth:`session`, a fraction of its cost. Committed when the
        block ends, rolled back on an exception."""
        with self._writer, self.engine.begin() as connection:
            yield connection

    def migrate(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is there)."""
        config = Config()
        config.set_main_option(
            "script_location", str(resources.files("cardservice.store").joinpath("migrations"))
        )
        try:
            with self.engine.begin() as connection:
                if self.dialect == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.url}: cannot apply migrations: {describe(exc)}") from None

    def close(self) -> None:
        self.engine.dispose()
        if self._own_read_engine:
            self._read_engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    """Open *url* (``sqlite:///PATH`` or ``postgresql+psycopg://...``), migrated to the newest schema
    unless ``migrate=False``. Raises :class:`StoreError` (URL masked) when it cannot."""
    database = Database(url)
    if migrate:
        try:
            database.migrate()
        except BaseException:
            database.close()
            raise
    return database
