"""Cards the daemon refuses (reported lost, cancelled, replaced), by card number (KH).

Shared through the database, or exported and imported as CSV (UTF-8, header
``card_number,reason,listed_at,source``) for sites that do not share one. An import checks every row
first and changes nothing if any is bad.
"""

from __future__ import annotations

import csv
import datetime as _dt
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from cardservice.store import BlacklistRow, Database, StoreError

__all__ = ["Blacklist", "BlacklistEntry"]

_CARD_NUMBER = re.compile(r"[0-9A-Za-z]{1,32}")
_HEADER = ["card_number", "reason", "listed_at", "source"]


@dataclass(frozen=True)
class BlacklistEntry:
    card_number: str
    reason: str
    listed_at: _dt.datetime
    listed_by: str
    source: str


def _entry(row: BlacklistRow) -> BlacklistEntry:
    return BlacklistEntry(row.card_number, row.reason, row.listed_at, row.listed_by, row.source)


def _check_number(number: str) -> str:
    if not _CARD_NUMBER.fullmatch(number):
        raise StoreError("a card number is 1-32 letters and digits")
    return number.upper()


class Blacklist:
    def __init__(self, database: Database) -> None:
        self._db = database

    def add(self, card_number: str, reason: str, *, listed_by: str, source: str = "local") -> BlacklistEntry:
        number = _check_number(card_number)
        if not reason.strip() or len(reason) > 200:
            raise StoreError("give a reason of at most 200 characters")
        with self._db.session() as session:
            row = session.get(BlacklistRow, number) or BlacklistRow(card_number=number)
            row.reason, row.listed_by, row.source = reason.strip(), listed_by, source
            row.listed_at = _dt.datetime.now(_dt.UTC)
            session.add(row)
            return _entry(row)

    def remove(self, card_number: str) -> None:
        with self._db.session() as session:
            row = session.get(BlacklistRow, _check_number(card_number))
            if row is None:
                raise StoreError("that card is not on the blacklist")
            session.delete(row)

    def lookup(self, card_number: str) -> BlacklistEntry | None:
        if not _CARD_NUMBER.fullmatch(card_number):
            return None
        with self._db.session(readonly=True) as session:
            row = session.get(BlacklistRow, card_number.upper())
            return _entry(row) if row else None

    def entries(self) -> list[BlacklistEntry]:
        with self._db.session(readonly=True) as session:
            return [
                _entry(r)
                for r in session.execute(select(BlacklistRow).order_by(BlacklistRow.card_number)).scalars()
            ]

    def export(self, path: Path) -> int:
        entries = self.entries()
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(_HEADER)
            for e in entries:
                writer.writerow([e.card_number, e.reason, e.listed_at.isoformat(), e.source])
        return len(entries)

    def import_(self, path: Path, *, listed_by: str) -> int:
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                rows = list(csv.reader(handle))
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"{path}: cannot read ({exc.__class__.__name__})") from None
        if not rows or [c.strip() for c in rows[0]] != _HEADER:
            raise StoreError(f"{path}: the first line must be {','.join(_HEADER)}")
        problems, good = [], []
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(_HEADER):
                problems.append(f"line {line}: {len(row)} columns, expected {len(_HEADER)}")
                continue
            number, reason = row[0].strip(), row[1].strip()
            if not _CARD_NUMBER.fullmatch(number):
                problems.append(f"line {line}: card number is not 1-32 letters and digits")
            elif not reason or len(reason) > 200:
                problems.append(f"line {line}: reason missing or longer than 200 characters")
            else:
                good.append((number, reason))
        if problems:
            raise StoreError(f"{path}: nothing imported:\n  " + "\n  ".join(problems))
        for number, reason in good:
            self.add(number, reason, listed_by=listed_by, source=f"import:{path.name}")
        return len(good)
