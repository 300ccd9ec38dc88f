"""The database layer: migrations on both dialects agree with the models; SQLite's settings; URLs never
show a password; timestamps are UTC; one active key per client name is the database's rule."""

from __future__ import annotations

import datetime as dt
import os
from importlib import resources
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError, StatementError

from cardservice.store import ApiClientRow, Base, BlacklistRow, CardRow, Database, StoreError, open_database
from tests import dbfixtures

TABLES = {
    "alembic_version", "api_clients", "audit_head", "audit_log", "blacklist", "cards", "card_events",
    "his_departments", "his_doctors", "his_slots", "his_registrations", "his_bills", "his_bill_items",
    "his_lab_reports", "his_lab_items", "his_idempotency", "his_births",
    "ledger_accounts", "ledger_transactions", "ledger_entries", "payments_orders", "payments_events",
    "print_jobs", "bankcard_transactions",
}  # fmt: skip


def alembic_config(connection: object) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("cardservice.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config(None)).get_current_head()
    assert head is not None
    return head


def test_migrations_from_empty_create_exactly_the_models(database_url: str) -> None:
    """The autogenerate check: the migrated schema and the models have no difference."""
    database = open_database(database_url)
    try:
        with database.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == TABLES
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert version == head_revision()
    finally:
        database.close()


def test_opening_again_migrates_nothing(database_url: str) -> None:
    open_database(database_url).close()
    with open_database(database_url) as again, again.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()


def test_every_migration_goes_down_and_up_again(database_url: str) -> None:
    with open_database(database_url) as database:
        with database.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        with database.engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == {"alembic_version"}
        database.migrate()
        with database.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_without_migrate_the_database_is_left_alone(database_url: str) -> None:
    with open_database(database_url, migrate=False) as database, database.engine.connect() as connection:
        assert inspect(connection).get_table_names() == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "cs.db"
    with open_database(f"sqlite:///{path}") as database:
        assert database.dialect == "sqlite"
        assert (path.parent.stat().st_mode & 0o777) == 0o700
        assert (path.stat().st_mode & 0o777) == 0o600
        with database.session() as session:
            session.execute(text("CREATE TABLE t (x INTEGER)"))
        assert (path.with_name("cs.db-wal").stat().st_mode & 0o777) == 0o600
        for readonly in (False, True):
            with database.session(readonly=readonly) as session:
                assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
                assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
                assert session.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_an_in_memory_sqlite_database_is_one_database() -> None:
    """Reading sessions see what writing sessions wrote (one connection, not one database each)."""
    with open_database("sqlite://") as database:
        with database.session() as session:
            session.add(
                BlacklistRow(
                    card_number="A1",
                    reason="r",
                    listed_at=dt.datetime.now(dt.UTC),
                    listed_by="t",
                    source="local",
                )
            )
        with database.session(readonly=True) as session:
            assert session.get(BlacklistRow, ("A1", "")) is not None


def test_a_session_rolls_back_on_an_exception(database: Database) -> None:
    def add_then_fail() -> None:
        with database.session() as session:
            session.add(
                BlacklistRow(
                    card_number="A1",
                    reason="r",
                    listed_at=dt.datetime.now(dt.UTC),
                    listed_by="t",
                    source="local",
                )
            )
            session.flush()
            raise RuntimeError

    with pytest.raises(RuntimeError):
        add_then_fail()
    with database.session(readonly=True) as session:
        assert session.get(BlacklistRow, ("A1", "")) is None


def test_times_come_back_in_utc_and_naive_ones_are_refused(database: Database) -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    listed = dt.datetime(2026, 11, 23, 18, 30, 0, 123456, tzinfo=beijing)
    with database.session() as session:
        session.add(BlacklistRow(card_number="A1", reason="r", listed_at=listed, listed_by="t", source="x"))
    with database.session(readonly=True) as session:
        row = session.get(BlacklistRow, ("A1", ""))
        assert row is not None
        assert row.listed_at == listed
        assert row.listed_at.tzinfo == dt.UTC
    naive = BlacklistRow(
        card_number="B2", reason="r", listed_at=dt.datetime(2026, 1, 1), listed_by="t", source="x"
    )
    with database.session() as session:
        session.add(naive)
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()
        session.rollback()


def test_a_client_name_has_one_active_key_in_the_database_itself(database: Database) -> None:
    now = dt.datetime.now(dt.UTC)

    def client(key_id: str, revoked: dt.datetime | None) -> ApiClientRow:
        return ApiClientRow(
            name="kiosk-1",
            key_id=key_id,
            key_hash="0" * 64,
            scopes="kiosk",
            created_at=now,
            created_by="t",
            revoked_at=revoked,
        )

    with database.session() as session:
        session.add_all(
            [client("000000000001", now), client("000000000002", now), client("000000000003", None)]
        )
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(client("000000000004", None))


def test_no_two_cards_share_a_bank_account_and_pan_sequence_number(database: Database) -> None:
    """Migration 0010: two chips with one account and PSN would have the same card keys."""
    now = dt.datetime.now(dt.UTC)

    def card(number: str, account: int | None, psn: int | None) -> CardRow:
        return CardRow(card_number=number, status="spoiled", bank_account=account, pan_sequence=psn,
                       created_at=now, updated_at=now)  # fmt: skip

    with database.session() as session:
        session.add_all([card("A", 7, 1), card("A", 7, 2), card("B", 8, 1), card("C", None, None),
                         card("D", None, None)])  # fmt: skip
    with pytest.raises(IntegrityError), database.session() as session:
        session.add(card("E", 7, 2))


def test_an_unreachable_database_is_a_clear_error_without_its_password() -> None:
    with pytest.raises(StoreError, match="cannot apply migrations") as refused:
        open_database("postgresql+psycopg://cardservice:s3cret-pw@127.0.0.1:1/none")
    assert "s3cret-pw" not in str(refused.value)
    assert "***" in str(refused.value)


def test_the_url_and_repr_mask_the_password() -> None:
    with Database("postgresql+psycopg://cardservice:s3cret-pw@db.example/cs") as database:
        assert "s3cret-pw" not in database.url
        assert "s3cret-pw" not in repr(database)
        assert database.dialect == "postgresql"


@pytest.mark.parametrize("url", ["", "not a url", "nosuchdialect://x/y"])
def test_a_bad_url_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError):
        open_database(url)


def test_the_migrations_ship_inside_the_package() -> None:
    """No alembic.ini at runtime: env.py, the template and the versions are package files."""
    migrations = resources.files("cardservice.store") / "migrations"
    names = {entry.name for entry in migrations.iterdir()}
    assert {"env.py", "script.py.mako", "versions"} <= names
    versions = [n for n in os.listdir(str(migrations / "versions")) if n[0].isdigit() and n.endswith(".py")]
    assert sorted(versions)[0].startswith("0001_")


def test_without_postgresql_make_test_fails_and_a_developer_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    """No skipped storage test may hide that half of the suite did not run under make test."""
    monkeypatch.delenv(dbfixtures.POSTGRES_ENV, raising=False)
    monkeypatch.setenv("CARDSERVICE_PCSCD", "ours")
    with pytest.raises(pytest.fail.Exception, match="postgres-ctl start did not run"):
        dbfixtures.postgres_url()
    monkeypatch.delenv("CARDSERVICE_PCSCD")
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL"):
        dbfixtures.postgres_url()
    monkeypatch.setenv(dbfixtures.POSTGRES_ENV, "postgresql+psycopg://u@127.0.0.1:5/db")
    assert dbfixtures.postgres_url() == "postgresql+psycopg://u@127.0.0.1:5/db"
