"""The database: an engine, sessions, and migrations run at open.

SQLite (the embedded default) runs in WAL mode so readers never wait for the writer, with a busy
timeout so concurrent writers queue instead of failing. PostgreSQL (``postgresql+psycopg://``) is for
deployments where several kiosks share one database.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "StoreError", "open_database"]


class StoreError(Exception):
    """A storage operation cannot be done; the message says why (never secrets)."""


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across crashes of the process
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self.url = parsed.render_as_string(hide_password=True)
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                path = Path(database)
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # pysqlite's own transaction handling is switched off: we issue BEGIN (IMMEDIATE) ourselves,
            # so a writer takes the write lock at the start of its transaction, not at its first write.
            options["connect_args"] = {"check_same_thread": False, "isolation_level": None}
        else:
            options["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(parsed, **options)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"database {self.url}: {exc}") from None
        self._read_engine = self.engine
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(
                self.engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE")
            )
            # Readers need no write lock (WAL lets them run beside the writer): an engine of their own.
            self._read_engine = create_engine(parsed, **options)
            event.listen(self._read_engine, "connect", _sqlite_pragmas)
            event.listen(self._read_engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    @contextlib.contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A transaction: committed when the block ends, rolled back on an exception. On SQLite a
        writing session takes the write lock at its start (BEGIN IMMEDIATE): read-then-write sequences
        such as the audit chain's append cannot interleave."""
        with (self._read_sessions if readonly else self._sessions)() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        """Bring the schema to the newest migration (a no-op when it is there)."""
        config = Config()
        config.set_main_option(
            "script_location", str(resources.files("cardservice.store").joinpath("migrations"))
        )
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise StoreError(
                f"database {self.url}: cannot apply migrations: {exc.__class__.__name__}: {exc}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()
        self._read_engine.dispose()


def open_database(url: str, *, migrate: bool = True) -> Database:
    database = Database(url)
    if migrate:
        try:
            database.migrate()
        except BaseException:
            database.close()
            raise
    return database
