"""A fresh database per test, on SQLite and on the real PostgreSQL `make test` starts
(scripts/postgres-ctl). Under `make test` a missing PostgreSQL fails the run; run ad hoc without it,
the PostgreSQL cases skip and say how to start it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from cardservice.store import Database, open_database

POSTGRES_ENV = "CARDSERVICE_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CARDSERVICE_PCSCD") == "ours":  # under make test: PostgreSQL must be there
        pytest.fail(f"{POSTGRES_ENV} is not set: scripts/postgres-ctl start did not run", pytrace=False)
    pytest.skip(f"no PostgreSQL: scripts/postgres-ctl start, then {POSTGRES_ENV}=$(scripts/postgres-ctl url)")
    return None


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    base = postgres_url()
    assert base is not None
    name = f"t_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = open_database(database_url)
    yield db
    db.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "database_url" in metafunc.fixturenames:
        metafunc.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
