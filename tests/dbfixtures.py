"""A fresh database per test, on SQLite and on a real PostgreSQL: fixtures any test package can use.

    # tests/<package>/conftest.py
    from tests.dbfixtures import database, database_url  # noqa: F401  (pytest fixtures)

``database_url`` is parametrised ``sqlite`` (a file in the test's tmp_path) and ``postgresql`` (a new
database, created for the test and dropped after it, on the server named by
``$CARDSERVICE_TEST_DATABASE_URL`` — ``scripts/postgres-ctl url``). The URL names an empty database;
``database`` is it opened and migrated.

Under ``make test`` (``CARDSERVICE_PCSCD=ours``) a missing PostgreSQL FAILS the PostgreSQL cases: a
skipped storage test would hide that half of the suite did not run. Run ad hoc without the variable,
they skip and say how to start one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cardservice.store import Database, open_database

__all__ = ["POSTGRES_ENV", "database", "database_url", "postgres_url"]

POSTGRES_ENV = "CARDSERVICE_TEST_DATABASE_URL"


def postgres_url() -> str:
    """The test server's URL; fails (under make test) or skips (ad hoc) the test without one."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CARDSERVICE_PCSCD") == "ours":
        pytest.fail(f"{POSTGRES_ENV} is not set: scripts/postgres-ctl start did not run", pytrace=False)
    pytest.skip(
        f"no PostgreSQL: scripts/postgres-ctl start; export {POSTGRES_ENV}=$(scripts/postgres-ctl url)"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database (see the module docstring)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with new_postgres_database(postgres_url()) as url:
        yield url


@contextlib.contextmanager
def new_postgres_database(base: str, prefix: str = "t") -> Iterator[str]:
    """The URL of a new, empty database on the server of *base*, dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(base).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The database of ``database_url``, migrated; closed after the test."""
    db = open_database(database_url)
    try:
        yield db
    finally:
        db.close()
