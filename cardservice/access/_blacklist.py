"""Cards the daemon refuses (reported lost, cancelled, replaced), by card number (KH) and, where
one card of several with the same number is meant, its issuance serial (XPXLH).

A replacement card (补卡) carries the same card number as the card it replaces, so the registry lists
the old card with its serial: the old card is refused, the new one is not. An entry without a serial
refuses every card with that number (what an operator types in by hand). A card that carries no
serial is refused by any entry of its number.

The registry's entries (source ``registry``: a card lost, locked, replaced, cancelled, or spoiled with
something written to it) follow the card's status and nothing else: :meth:`Blacklist.remove` takes
only the other (manual, imported) entries and refuses to remove one of the registry's by hand
(``card-issuer found`` / ``unlock`` take a card off); adding or importing the same card keeps the
registry's entry.

Shared through the database, or exported and imported as CSV for sites that do not share one:

    card_number,reason,listed_at,source,issuance_serial
    110105198503071230,挂失,2026-11-23T10:30:37.123456+00:00,local,
    110105198503071230,已补换卡,2026-11-23T11:02:00+00:00,registry,0000000042

UTF-8 (a byte-order mark is accepted on import), comma-separated, RFC 4180 quoting. ``card_number`` is
1-32 letters and digits (kept upper case), ``reason`` 1-200 characters, ``listed_at`` ISO 8601 with a
time zone or empty (import time), ``source`` where the entry came from, ``issuance_serial`` 0-16
letters and digits (the column may be left out: a list from before serials refuses whole numbers).
An import checks every row first and changes nothing if any is bad (the error lists every bad line);
imported entries get the source ``import:<file name>`` and keep their ``listed_at``. An entry for a
card number and serial already listed is replaced.

Card numbers are personal data: this module logs them masked only.
"""

from __future__ import annotations

import csv
import datetime as _dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cardservice.healthcard import mask_id_number
from cardservice.store import BlacklistRow, Database, StoreError

__all__ = ["Blacklist", "BlacklistEntry"]

log = logging.getLogger(__name__)

_CARD_NUMBER = re.compile(r"[0-9A-Za-z]{1,32}")
_SERIAL = re.compile(r"[0-9A-Za-z]{0,16}")
_HEADER = ["card_number", "reason", "listed_at", "source", "issuance_serial"]
_HEADER_V1 = _HEADER[:4]  # lists exported before issuance serials
_MAX_REASON = 200
_REGISTRY = "registry"  # the source of the card registry's entries (cardservice.issuance)
_REGISTRY_HINT = "card-issuer found / unlock CARD_NUMBER"


@dataclass(frozen=True)
class BlacklistEntry:
    card_number: str
    reason: str
    listed_at: _dt.datetime
    listed_by: str
    source: str
    issuance_serial: str = ""  # empty: every card with this number

    @property
    def from_registry(self) -> bool:
        """Listed by the card registry: it changes with the card's status, not by hand."""
        return self.source == _REGISTRY


def _entry(row: BlacklistRow) -> BlacklistEntry:
    return BlacklistEntry(
        row.card_number, row.reason, row.listed_at, row.listed_by, row.source, row.issuance_serial
    )


def _check_number(number: str) -> str:
    if not _CARD_NUMBER.fullmatch(number):
        raise StoreError("a card number is 1-32 letters and digits")
    return number.upper()


def _check_serial(serial: str) -> str:
    if not _SERIAL.fullmatch(serial):
        raise StoreError("an issuance serial is up to 16 letters and digits")
    return serial.upper()


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > _MAX_REASON:
        raise StoreError(f"give a reason of 1-{_MAX_REASON} characters")
    return reason


def _registry_refusal(entries: list[BlacklistEntry]) -> str:
    why = f"({_REGISTRY_HINT}), not by hand"
    if len(entries) == 1:
        [e] = entries
        return (
            f"card {e.issuance_serial} is on the blacklist because the card registry says {e.reason}: "
            f"it comes off with the card's status {why}"
        )
    cards = ", ".join(f"{e.issuance_serial} ({e.reason})" for e in entries)
    return (
        f"cards {cards} are on the blacklist because of the card registry: they come off with the "
        f"cards' status {why}"
    )


def _listed_at(text: str) -> _dt.datetime | None:
    """The CSV's listed_at: None when empty; ValueError when not ISO 8601 with a time zone."""
    if not text:
        return None
    value = _dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("no time zone")
    return value


class Blacklist:
    """The blacklist of one database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add(
        self,
        card_number: str,
        reason: str,
        *,
        listed_by: str,
        source: str = "local",
        issuance_serial: str = "",
    ) -> BlacklistEntry:
        """List *card_number* — one card of it with *issuance_serial* — replacing an entry already there."""
        number, reason = _check_number(card_number), _check_reason(reason)
        serial = _check_serial(issuance_serial)
        with self._db.session() as session:
            entry = self._put(session, number, serial, reason, _dt.datetime.now(_dt.UTC), listed_by, source)
        log.info("blacklist: %s listed by %s", mask_id_number(number), listed_by)
        return entry

    @staticmethod
    def _put(
        session: Session,
        number: str,
        serial: str,
        reason: str,
        listed_at: _dt.datetime,
        listed_by: str,
        source: str,
    ) -> BlacklistEntry:
        row = session.get(BlacklistRow, (number, serial))
        if row is not None and row.source == _REGISTRY and source != _REGISTRY:
            return _entry(row)  # the card is refused already; by hand its entry would become removable
        row = row or BlacklistRow(card_number=number, issuance_serial=serial)
        row.reason, row.listed_at = reason, listed_at
        row.listed_by, row.source = listed_by[:128], source[:200]
        session.add(row)
        return _entry(row)

    def remove(
        self, card_number: str, *, removed_by: str, issuance_serial: str | None = None
    ) -> list[BlacklistEntry]:
        """Accept *card_number* again (only its card *issuance_serial*, if given; else every entry of
        the number); the entries removed. Only manual and imported entries: the card registry's stay
        (see the module docstring), and when those are all there is → :class:`StoreError` saying so.
        None listed → :class:`StoreError`. Nothing of them is kept: the caller audits who removed
        them (*removed_by* is logged)."""
        number = _check_number(card_number)
        query = select(BlacklistRow).where(BlacklistRow.card_number == number)
        if issuance_serial is not None:
            query = query.where(BlacklistRow.issuance_serial == _check_serial(issuance_serial))
        with self._db.session() as session:
            rows = list(session.execute(query.order_by(BlacklistRow.issuance_serial)).scalars())
            if not rows:
                raise StoreError("that card is not on the blacklist")
            manual = [row for row in rows if row.source != _REGISTRY]
            if not manual:
                raise StoreError(_registry_refusal([_entry(row) for row in rows]))
            entries = [_entry(row) for row in manual]
            for row in manual:
                session.delete(row)
        log.info("blacklist: %s removed by %s", mask_id_number(number), removed_by)
        return entries

    @staticmethod
    def list_in(
        session: Session, card_number: str, reason: str, *, issuance_serial: str, listed_by: str
    ) -> None:
        """List one card inside the caller's transaction (the registry's status changes)."""
        Blacklist._put(session, _check_number(card_number), _check_serial(issuance_serial),
                       _check_reason(reason), _dt.datetime.now(_dt.UTC), listed_by, "registry")  # fmt: skip

    @staticmethod
    def unlist_in(session: Session, card_number: str, *, issuance_serial: str) -> None:
        """Remove one card's entry inside the caller's transaction (no error when it is not listed)."""
        row = session.get(BlacklistRow, (_check_number(card_number), _check_serial(issuance_serial)))
        if row is not None:
            session.delete(row)

    def lookup(self, card_number: str, issuance_serial: str | None = None) -> BlacklistEntry | None:
        """The entry that refuses the card *card_number* / *issuance_serial*, or None (also for a
        malformed number: nothing to refuse). Without a serial, any entry of the number refuses."""
        if not _CARD_NUMBER.fullmatch(card_number):
            return None
        query = select(BlacklistRow).where(BlacklistRow.card_number == card_number.upper())
        if issuance_serial is not None:
            serial = issuance_serial.strip().upper()
            query = query.where(BlacklistRow.issuance_serial.in_(("", serial)))
        with self._db.session(readonly=True) as session:
            row = session.execute(query.order_by(BlacklistRow.issuance_serial).limit(1)).scalars().first()
            return _entry(row) if row else None

    def entries(self, card_number: str | None = None) -> list[BlacklistEntry]:
        """Every entry (of *card_number*, if given), by card number and serial."""
        query = select(BlacklistRow).order_by(BlacklistRow.card_number, BlacklistRow.issuance_serial)
        if card_number is not None:
            query = query.where(BlacklistRow.card_number == _check_number(card_number))
        with self._db.session(readonly=True) as session:
            return [_entry(r) for r in session.execute(query).scalars()]

    def export(self, path: Path) -> int:
        """Write every entry to *path* (the CSV above); how many."""
        entries = self.entries()
        try:
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(_HEADER)
                for e in entries:
                    row = [e.card_number, e.reason, e.listed_at.isoformat(), e.source, e.issuance_serial]
                    writer.writerow(row)
        except OSError as exc:
            raise StoreError(f"{path}: cannot write ({exc.strerror or exc.__class__.__name__})") from None
        return len(entries)

    def import_(self, path: Path, *, listed_by: str) -> int:
        """Add every entry of *path* (the CSV above) in one transaction; how many. Any bad row →
        :class:`StoreError` listing every bad line, and nothing is changed."""
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                rows = list(csv.reader(handle))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise StoreError(f"{path}: cannot read ({exc.__class__.__name__})") from None
        header = [c.strip() for c in rows[0]] if rows else []
        if header not in (_HEADER, _HEADER_V1):
            raise StoreError(f"{path}: the first line must be {','.join(_HEADER)}")
        problems: list[str] = []
        good: list[tuple[str, str, str, _dt.datetime | None]] = []
        for line, row in enumerate(rows[1:], start=2):
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                problems.append(f"line {line}: {len(row)} columns, expected {len(header)}")
                continue
            number, reason, listed_at = (value.strip() for value in row[:3])
            serial = row[4].strip() if len(row) > 4 else ""
            bad = []
            when: _dt.datetime | None = None
            if not _CARD_NUMBER.fullmatch(number):
                bad.append("card number is not 1-32 letters and digits")
            if not _SERIAL.fullmatch(serial):
                bad.append("issuance serial is not 0-16 letters and digits")
            if not reason or len(reason) > _MAX_REASON:
                bad.append(f"reason missing or longer than {_MAX_REASON} characters")
            try:
                when = _listed_at(listed_at)
            except ValueError:
                bad.append("listed_at is not an ISO 8601 time with a time zone")
            if bad:
                problems.append(f"line {line}: " + "; ".join(bad))
            else:
                good.append((number.upper(), serial.upper(), reason, when))
        if problems:
            raise StoreError(f"{path}: nothing imported:\n  " + "\n  ".join(problems))
        now = _dt.datetime.now(_dt.UTC)
        with self._db.session() as session:
            for number, serial, reason, when in good:
                self._put(session, number, serial, reason, when or now, listed_by, f"import:{path.name}")
        log.info("blacklist: %d entries imported from %s by %s", len(good), path.name, listed_by)
        return len(good)
