"""The blacklist: add, look up, remove; the CSV exchange format, checked in full before anything
changes."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from cardservice.blacklist import Blacklist
from cardservice.store import Database, StoreError, open_database

NUMBER = "110105198503071230"
HEADER = "card_number,reason,listed_at,source\n"


def test_add_lookup_remove(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cardservice.blacklist")
    blacklist = Blacklist(database)
    added = blacklist.add(NUMBER, "  挂失 reported lost ", listed_by="desk-1")
    assert added.reason == "挂失 reported lost"
    entry = blacklist.lookup(NUMBER)
    assert entry is not None
    assert (entry.reason, entry.listed_by, entry.source) == ("挂失 reported lost", "desk-1", "local")
    assert entry.listed_at.tzinfo == dt.UTC
    assert blacklist.lookup("11010519850307123X") is None
    assert blacklist.lookup("not a number!") is None
    removed = blacklist.remove(NUMBER, removed_by="desk-2")
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
    assert text.startswith(HEADER.replace("\n", "\r\n"))
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
        (b"number,why\nA1,lost\n", "the first line must be card_number,reason,listed_at,source"),
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
