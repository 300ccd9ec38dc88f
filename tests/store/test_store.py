"""Storage, audit log, API keys and blacklist on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cardservice.audit import AuditLog
from cardservice.blacklist import Blacklist
from cardservice.store import Base, Database, StoreError, open_database
from cardservice.tokens import ApiKeys, Scope

KEY = bytes(range(32))


def test_migrations_create_exactly_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_opening_again_migrates_nothing(database_url: str) -> None:
    open_database(database_url).close()
    again = open_database(database_url)
    with again.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    again.close()


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot apply migrations"):
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none")


# -- audit ------------------------------------------------------------------------------------------------


def fill(log: AuditLog, count: int) -> None:
    for index in range(count):
        log.record(actor="kiosk-1", action="card.read_identity", result="ok", card="1101************30",
                   target="reader-0", detail={"n": index})  # fmt: skip


def raw(database: Database, sql: str) -> None:
    """The attacker's move: drop the append-only triggers, then edit the table directly."""
    with database.engine.connect() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        connection.execute(text(sql))
        connection.commit()


def test_an_untouched_chain_verifies(database: Database) -> None:
    log = AuditLog(database, KEY)
    fill(log, 25)
    report = log.verify()
    assert report.ok
    assert report.records == 25
    entries = log.entries(limit=5)
    assert [e.seq for e in entries] == [21, 22, 23, 24, 25]
    assert entries[-1].detail == {"n": 24}


def test_the_database_refuses_updates_and_deletes(database: Database) -> None:
    fill(AuditLog(database, KEY), 2)
    for statement in ("UPDATE audit_log SET result = 'x'", "DELETE FROM audit_log"):
        with database.engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("UPDATE audit_log SET result = 'denied' WHERE seq = 7", "seq 7: contents changed"),
        ("UPDATE audit_log SET card = NULL WHERE seq = 3", "seq 3: contents changed"),
        ("DELETE FROM audit_log WHERE seq = 5", "seq 5 missing"),
        ("DELETE FROM audit_log WHERE seq >= 9", "newest records deleted"),
        ("UPDATE audit_head SET seq = 3", "head was altered"),
    ],
)
def test_every_edit_or_deletion_is_found(database: Database, sql: str, expected: str) -> None:
    log = AuditLog(database, KEY)
    fill(log, 10)
    raw(database, sql)
    report = log.verify()
    assert not report.ok
    assert any(expected in problem for problem in report.problems), report.problems


def test_a_rewritten_chain_without_the_key_is_found(database: Database) -> None:
    fill(AuditLog(database, KEY), 4)
    forged = AuditLog(database, bytes(32))  # right algorithm, wrong key: what an editor of the database has
    assert not forged.verify().ok


def test_concurrent_appends_leave_no_gaps(database: Database) -> None:
    log = AuditLog(database, KEY)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            fill(log, 25)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = log.verify()
    assert report.ok, report.problems
    assert report.records == 200


def test_the_audit_key_is_made_once_and_private(tmp_path: Path) -> None:
    key = AuditLog.key_from_home(tmp_path / "home")
    assert len(key) == 32
    assert AuditLog.key_from_home(tmp_path / "home") == key
    assert (tmp_path / "home" / "audit.key").stat().st_mode & 0o777 == 0o600


# -- API keys ---------------------------------------------------------------------------------------------


def test_a_key_authenticates_until_revoked(database: Database) -> None:
    keys = ApiKeys(database)
    info, token = keys.create("kiosk-1", [Scope.KIOSK], created_by="test")
    assert token.startswith(f"csk_{info.key_id}_")
    client = keys.authenticate(token)
    assert client is not None
    assert client.name == "kiosk-1"
    assert client.scopes == {Scope.KIOSK}
    assert keys.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    keys.revoke("kiosk-1")
    assert keys.authenticate(token) is None
    assert ApiKeys(database).authenticate(token) is None  # not only this process's cache


def test_only_the_hash_is_stored(database: Database) -> None:
    _, token = ApiKeys(database).create("his-1", ["his"], created_by="test")
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_clients"))
        stored = " ".join(str(value) for row in rows for value in row)
    assert token not in stored
    assert token.rsplit("_", 1)[1] not in stored


def test_names_and_scopes_are_checked(database: Database) -> None:
    keys = ApiKeys(database)
    keys.create("a", ["kiosk"], created_by="t")
    with pytest.raises(StoreError, match="already has an active key"):
        keys.create("a", ["kiosk"], created_by="t")
    with pytest.raises(StoreError, match="scopes are"):
        keys.create("b", ["root"], created_by="t")
    with pytest.raises(StoreError, match="client name"):
        keys.create("bad name!", ["kiosk"], created_by="t")
    with pytest.raises(StoreError, match="no active key"):
        keys.revoke("nobody")
    keys.revoke("a")
    keys.create("a", ["his"], created_by="t")  # a revoked name can get a new key


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_arbitrary_strings_never_authenticate(token: str) -> None:
    database = open_database("sqlite://")
    try:
        keys = ApiKeys(database)
        keys.create("x", ["admin"], created_by="t")
        assert keys.authenticate(token) is None
        assert keys.authenticate("csk_" + token) is None
    finally:
        database.close()


# -- blacklist ---------------------------------------------------------------------------------------------


def test_blacklist_add_lookup_remove(database: Database) -> None:
    blacklist = Blacklist(database)
    blacklist.add("110105198503071230", "挂失 reported lost", listed_by="desk-1")
    entry = blacklist.lookup("110105198503071230")
    assert entry is not None
    assert entry.reason == "挂失 reported lost"
    assert blacklist.lookup("11010519850307123X") is None
    blacklist.remove("110105198503071230")
    assert blacklist.lookup("110105198503071230") is None


def test_blacklist_export_import_round_trip(database: Database, tmp_path: Path) -> None:
    source = Blacklist(database)
    source.add("A1", "lost", listed_by="t")
    source.add("B2", "cancelled", listed_by="t")
    assert source.export(tmp_path / "list.csv") == 2
    other = open_database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert Blacklist(other).import_(tmp_path / "list.csv", listed_by="site-2") == 2
        entry = Blacklist(other).lookup("B2")
        assert entry is not None
        assert entry.source == "import:list.csv"
    finally:
        other.close()


def test_a_bad_import_changes_nothing_and_lists_every_bad_row(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "card_number,reason,listed_at,source\nGOOD1,lost,,x\nbad number!,lost,,x\nGOOD2,,,x\nshort\n",
        encoding="utf-8",
    )
    with pytest.raises(StoreError) as refused:
        Blacklist(database).import_(path, listed_by="t")
    message = str(refused.value)
    assert "line 3" in message
    assert "line 4" in message
    assert "line 5" in message
    assert Blacklist(database).lookup("GOOD1") is None
