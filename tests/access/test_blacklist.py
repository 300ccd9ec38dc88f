"""The blacklist: add, look up, remove; the CSV exchange format, checked in full before anything
changes."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from cardservice.access import Blacklist
from cardservice.store import Database, StoreError, open_database

NUMBER = "110105198503071230"
HEADER = "card_number,reason,listed_at,source\n"


def test_add_lookup_remove(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cardservice.access._blacklist")
    blacklist = Blacklist(database)
    added = blacklist.add(NUMBER, "  挂失 reported lost ", listed_by="desk-1")
    assert added.reason == "挂失 reported lost"
    entry = blacklist.lookup(NUMBER)
    assert entry is not None
    assert (entry.reason, entry.listed_by, entry.source) == ("挂失 reported lost", "desk-1", "local")
    assert entry.listed_at.tzinfo == dt.UTC
    assert blacklist.lookup("11010519850307123X") is None
    assert blacklist.lookup("not a number!") is None
    [removed] = blacklist.remove(NUMBER, removed_by="desk-2")
    assert removed.reason == "挂失 reported lost"
    assert blacklist.lookup(NUMBER) is None
    assert NUMBER not in caplog.text  # logged masked
    assert "1101************30 removed by desk-2" in caplog.text


def test_card_numbers_are_case_insensitive_and_adding_again_replaces(database: Database) -> None:
    blacklist = Blacklist(database)
    blacklist.add("ab12", "lost", listed_by="t")
    blacklist.add("AB12", "cancelled", listed_by="t", source="registry")
    entry = blacklist.lookup("aB12")
    assert entry is not None
    assert (entry.card_number, entry.reason, entry.source) == ("AB12", "cancelled", "registry")
    assert [e.card_number for e in blacklist.entries()] == ["AB12"]


def test_bad_input_is_refused(database: Database) -> None:
    blacklist = Blacklist(database)
    for number in ("", "12 34", "x" * 33, "１２３"):
        with pytest.raises(StoreError, match="1-32 letters and digits"):
            blacklist.add(number, "lost", listed_by="t")
    for reason in ("", "   ", "x" * 201):
        with pytest.raises(StoreError, match="reason"):
            blacklist.add("A1", reason, listed_by="t")
    with pytest.raises(StoreError, match="not on the blacklist"):
        blacklist.remove("A1", removed_by="t")


def test_export_then_import_elsewhere_keeps_reason_and_time(database: Database, tmp_path: Path) -> None:
    source = Blacklist(database)
    source.add("A1", "lost, then found, then lost", listed_by="t")
    source.add("B2", "挂失", listed_by="t")
    assert source.export(tmp_path / "list.csv") == 2
    text = (tmp_path / "list.csv").read_bytes().decode()
    assert text.startswith("card_number,reason,listed_at,source,issuance_serial\r\n")
    assert '"lost, then found, then lost"' in text
    with open_database(f"sqlite:///{tmp_path / 'other.db'}") as other:
        assert Blacklist(other).import_(tmp_path / "list.csv", listed_by="site-2") == 2
        for original in source.entries():
            copy = Blacklist(other).lookup(original.card_number)
            assert copy is not None
            assert (copy.reason, copy.listed_at) == (original.reason, original.listed_at)
            assert (copy.source, copy.listed_by) == ("import:list.csv", "site-2")


def test_an_import_accepts_a_bom_blank_lines_and_an_empty_time(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + HEADER + "c3,lost,,x\n\nD4,stolen,2026-01-02T03:04:05+08:00,x\n").encode())
    assert Blacklist(database).import_(path, listed_by="t") == 2
    entry = Blacklist(database).lookup("C3")
    assert entry is not None
    assert entry.card_number == "C3"
    stolen = Blacklist(database).lookup("D4")
    assert stolen is not None
    assert stolen.listed_at == dt.datetime(2026, 1, 1, 19, 4, 5, tzinfo=dt.UTC)


def test_a_bad_import_changes_nothing_and_lists_every_bad_row(database: Database, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER + "GOOD1,lost,,x\nbad number!,lost,,x\nGOOD2,,,x\nshort\nGOOD3,lost,yesterday,x\n"
        "GOOD4,lost,2026-01-01T00:00:00,x\nbad!,,,x\n",
        encoding="utf-8",
    )
    with pytest.raises(StoreError) as refused:
        Blacklist(database).import_(path, listed_by="t")
    assert str(refused.value).splitlines() == [
        f"{path}: nothing imported:",
        "  line 3: card number is not 1-32 letters and digits",
        "  line 4: reason missing or longer than 200 characters",
        "  line 5: 1 columns, expected 4",
        "  line 6: listed_at is not an ISO 8601 time with a time zone",
        "  line 7: listed_at is not an ISO 8601 time with a time zone",
        "  line 8: card number is not 1-32 letters and digits; reason missing or longer than 200 characters",
    ]
    assert Blacklist(database).entries() == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"number,why\nA1,lost\n", "must be card_number,reason,listed_at,source,issuance_serial"),
        (b"", "the first line must be"),
        (b"card_number,reason,listed_at,source\nA1,\xff\xfe,,x\n", "cannot read (UnicodeDecodeError)"),
    ],
)
def test_an_unusable_file_is_refused(
    database: Database, tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        Blacklist(database).import_(path, listed_by="t")


def test_missing_files_are_store_errors(database: Database, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot read"):
        Blacklist(database).import_(tmp_path / "none.csv", listed_by="t")
    with pytest.raises(StoreError, match="cannot write"):
        Blacklist(database).export(tmp_path / "no" / "dir.csv")


def test_a_serial_refuses_one_card_of_a_number_and_no_serial_refuses_them_all(database: Database) -> None:
    """A replacement card (补卡) has its predecessor's card number: listing the old card by its
    issuance serial must leave the new one usable."""
    blacklist = Blacklist(database)
    blacklist.add(NUMBER, "已补换卡", listed_by="t", issuance_serial="0000000007")
    refused = blacklist.lookup(NUMBER, "0000000007")
    assert refused is not None
    assert refused.issuance_serial == "0000000007"
    assert blacklist.lookup(NUMBER, "0000000008") is None  # the replacement
    assert blacklist.lookup(NUMBER) is not None  # a card without a serial: any entry refuses it
    blacklist.add(NUMBER, "挂失", listed_by="t")  # by hand, no serial: every card of the number
    whole = blacklist.lookup(NUMBER, "0000000008")
    assert whole is not None
    assert (whole.reason, whole.issuance_serial) == ("挂失", "")
    assert [e.issuance_serial for e in blacklist.entries()] == ["", "0000000007"]
    [gone] = blacklist.remove(NUMBER, removed_by="t", issuance_serial="")
    assert gone.reason == "挂失"
    assert blacklist.lookup(NUMBER, "0000000008") is None
    with pytest.raises(StoreError, match="up to 16 letters and digits"):
        blacklist.add(NUMBER, "x", listed_by="t", issuance_serial="no spaces")


def test_serials_travel_through_export_and_import(database: Database, tmp_path: Path) -> None:
    source = Blacklist(database)
    source.add(NUMBER, "已补换卡", listed_by="t", issuance_serial="0000000007")
    source.add("B2", "挂失", listed_by="t")
    source.export(tmp_path / "list.csv")
    with open_database(f"sqlite:///{tmp_path / 'other.db'}") as other:
        assert Blacklist(other).import_(tmp_path / "list.csv", listed_by="site-2") == 2
        assert Blacklist(other).lookup(NUMBER, "0000000008") is None
        assert Blacklist(other).lookup(NUMBER, "0000000007") is not None
        assert Blacklist(other).lookup("B2", "0000000001") is not None
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "card_number,reason,listed_at,source,issuance_serial\nA1,lost,,x,no spaces\n", encoding="utf-8"
    )
    with pytest.raises(StoreError, match="line 2: issuance serial is not 0-16 letters and digits"):
        Blacklist(database).import_(bad, listed_by="t")


def test_entries_from_before_serials_keep_refusing_the_whole_number(database_url: str) -> None:
    """Migration 0005 rebuilds the table: an entry listed before it refuses every card of its number."""
    from alembic import command
    from sqlalchemy import text

    from tests.store.test_schema import alembic_config

    with open_database(database_url, migrate=False) as database:
        with database.engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0003")
            connection.execute(
                text(
                    "INSERT INTO blacklist (card_number, reason, listed_at, listed_by, source) "
                    "VALUES (:n, '挂失', :at, 'desk', 'local')"
                ),
                {"n": NUMBER, "at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)},
            )
        database.migrate()
        entry = Blacklist(database).lookup(NUMBER, "0000000009")
        assert entry is not None
        assert (entry.reason, entry.issuance_serial, entry.listed_by) == ("挂失", "", "desk")


def _registry_lists(database: Database, serial: str, reason: str = "挂失") -> None:
    """What the card registry does when a card's status changes (cardservice.issuance)."""
    with database.session() as session:
        Blacklist.list_in(session, NUMBER, reason, issuance_serial=serial, listed_by="clerk")


def test_remove_takes_only_manual_entries_and_leaves_the_registrys(database: Database) -> None:
    """The registry's entries (a lost or replaced card, by serial) follow the card's status: removing
    the number's entries by hand takes the manual ones and leaves those."""
    blacklist = Blacklist(database)
    _registry_lists(database, "0000000007", "已补换卡")
    _registry_lists(database, "0000000008")
    blacklist.add(NUMBER, "stolen", listed_by="desk")
    blacklist.add(NUMBER, "suspicious", listed_by="desk", issuance_serial="0000000009")
    removed = blacklist.remove(NUMBER, removed_by="desk")
    assert [(e.issuance_serial, e.reason) for e in removed] == [("", "stolen"), ("0000000009", "suspicious")]
    assert [(e.issuance_serial, e.source) for e in blacklist.entries()] == [
        ("0000000007", "registry"),
        ("0000000008", "registry"),
    ]
    assert blacklist.lookup(NUMBER, "0000000008") is not None  # the lost card: still refused
    assert blacklist.lookup(NUMBER, "0000000007") is not None  # the replaced one too
    assert blacklist.lookup(NUMBER, "0000000009") is None


@pytest.mark.parametrize("serial", [None, "0000000008"])
def test_removing_a_registry_entry_by_hand_is_refused(database: Database, serial: str | None) -> None:
    blacklist = Blacklist(database)
    _registry_lists(database, "0000000008")
    with pytest.raises(StoreError) as refused:
        blacklist.remove(NUMBER, removed_by="desk", issuance_serial=serial)
    assert str(refused.value) == (
        "card 0000000008 is on the blacklist because the card registry says 挂失: it comes off with the "
        "card's status (card-issuer found / unlock CARD_NUMBER), not by hand"
    )
    assert blacklist.lookup(NUMBER, "0000000008") is not None


def test_a_manual_entry_does_not_take_over_a_registry_entry(database: Database, tmp_path: Path) -> None:
    """Adding or importing the same card by hand keeps the registry's entry (the card is refused
    either way): it would otherwise become removable by hand."""
    blacklist = Blacklist(database)
    _registry_lists(database, "0000000008")
    blacklist.add(NUMBER, "stolen", listed_by="desk", issuance_serial="0000000008")
    path = tmp_path / "list.csv"
    path.write_text(f"card_number,reason,listed_at,source,issuance_serial\n{NUMBER},x,,y,0000000008\n")
    assert blacklist.import_(path, listed_by="desk") == 1
    [entry] = blacklist.entries()
    assert (entry.reason, entry.source, entry.listed_by) == ("挂失", "registry", "clerk")
    with pytest.raises(StoreError, match="card-issuer found / unlock"):
        blacklist.remove(NUMBER, removed_by="desk", issuance_serial="0000000008")
