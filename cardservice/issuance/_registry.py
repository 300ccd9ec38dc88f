"""The card registry: every card the issuer made, its status, and who changed it when.

States and transitions (each recorded in ``card_events`` with actor, time and reason)::

    personalising ─► active | issued | spoiled       (verified, or failed verification / interrupted)
    issued        ─► active | lost | cancelled         (handed over)
    active        ─► lost | locked | replaced | cancelled
    lost (挂失)    ─► active (解挂) | replaced (补卡) | cancelled
    locked        ─► active | replaced | cancelled

Entering lost, locked, replaced or cancelled lists the card (card number and issuance serial: a
replacement has the same number) on the blacklist in the same transaction; going back to active
removes it — so a daemon on the same database refuses the card from
the next insertion, and ``blacklist export`` carries it to other sites. A card spoiled after anything
was written to its chip is listed too (the chip may work as the person's card); one spoiled while
still blank is not. These entries (source ``registry``) change only with the card's status: the
blacklist's ``remove`` leaves them. A transition the table does not allow is refused
(:meth:`Registry.check_transition` asks before any card is touched). The database itself refuses a
second live card (issued/active/lost/locked) or a second card in personalisation for one person
(partial unique indexes, migration 0003). Card numbers are personal data: logged masked only.

A card with the bank application also gets its bank account and PAN sequence number here
(:meth:`Registry.assign_pan`, before its chip is written; the PAN rule is :mod:`._bank`'s): the registry
allocates the account numbers, so they are unique and never reused, and the database refuses a second chip
with the same account and PSN (migration 0010). Its masked PAN is what lists show.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cardservice.access import Blacklist
from cardservice.healthcard import mask_id_number
from cardservice.issuance._bank import pan_for
from cardservice.issuance._sealing import ContentCipher
from cardservice.pboc import mask_pan
from cardservice.pboc._profile import DEMO_ACCOUNT_NUMBER
from cardservice.store import LIVE_CARD_STATES, CardEventRow, CardRow, Database, StoreError

__all__ = ["CardRecord", "CardStatus", "Registry", "RegistryError"]

log = logging.getLogger(__name__)


class CardStatus(StrEnum):
    PERSONALISING = "personalising"
    ISSUED = "issued"
    ACTIVE = "active"
    LOST = "lost"
    LOCKED = "locked"
    REPLACED = "replaced"
    CANCELLED = "cancelled"
    SPOILED = "spoiled"


S = CardStatus
_ALLOWED: dict[CardStatus, frozenset[CardStatus]] = {
    S.PERSONALISING: frozenset({S.ACTIVE, S.ISSUED, S.SPOILED}),
    S.ISSUED: frozenset({S.ACTIVE, S.LOST, S.CANCELLED}),
    S.ACTIVE: frozenset({S.LOST, S.LOCKED, S.REPLACED, S.CANCELLED}),
    S.LOST: frozenset({S.ACTIVE, S.REPLACED, S.CANCELLED}),
    S.LOCKED: frozenset({S.ACTIVE, S.REPLACED, S.CANCELLED}),
    S.REPLACED: frozenset(),
    S.CANCELLED: frozenset(),
    S.SPOILED: frozenset(),
}
_BLACKLIST_REASONS = {S.LOST: "挂失", S.LOCKED: "锁定", S.REPLACED: "已补换卡", S.CANCELLED: "注销"}
_SPOILED_REASON = "制卡作废"  # spoiled at issuance, with something written to the chip
_MAX_PSN = 99


class RegistryError(StoreError):
    """A refused registry operation (message safe to show: card numbers masked)."""


@dataclass(frozen=True)
class CardRecord:
    id: int
    card_number: str = field(repr=False)
    issuance_serial: str | None
    chip_serial: str | None
    status: CardStatus
    batch: str | None
    batch_row: int | None
    created_at: _dt.datetime
    updated_at: _dt.datetime
    station: str | None = None
    replaces: int | None = None
    bank_account: int | None = field(default=None, repr=False)
    pan_sequence: int | None = None
    masked_pan: str | None = None
    guardian_number: str | None = field(default=None, repr=False)  # a child's card: the guardian's ID number
    id_number: str | None = field(default=None, repr=False)  # a child's ID number, recorded after issuance

    @property
    def masked(self) -> str:
        return mask_id_number(self.card_number)

    @property
    def pan(self) -> str | None:
        """The bank application's PAN (BIN of the masked PAN ‖ account ‖ Luhn digit), None without one."""
        if self.bank_account is None or self.masked_pan is None:
            return None
        return pan_for(self.masked_pan[:6], self.bank_account)

    @property
    def psn(self) -> str | None:
        return None if self.pan_sequence is None else f"{self.pan_sequence:02d}"

    @property
    def summary(self) -> str:
        """One line for an operator (numbers masked): serial, card, status, chip, bank card, child link."""
        line = f"card {self.issuance_serial} ({self.masked}): {self.status}, chip {self.chip_serial or '-'}"
        if self.masked_pan:
            line += f", bank card {self.masked_pan} PSN {self.psn}"
        if self.guardian_number:
            line += f", a child's card: guardian {mask_id_number(self.guardian_number)}"
        if self.id_number:
            line += f", ID number {mask_id_number(self.id_number)}"
        return line


def _check(card: CardRecord, to: CardStatus) -> None:
    if to not in _ALLOWED[card.status]:
        sources = [str(status) for status in CardStatus if to in _ALLOWED[status]]
        either = " or ".join([", ".join(sources[:-1]), *sources[-1:]] if len(sources) > 1 else sources)
        only = f"only {'an' if either[:1] in tuple('aeiou') else 'a'} {either} card" if sources else "no card"
        where = f"card {card.issuance_serial} ({card.masked})"
        raise RegistryError(f"{where} is {card.status}: {only} can become {to}")


def _record(row: CardRow) -> CardRecord:
    return CardRecord(
        row.id,
        row.card_number,
        row.issuance_serial,
        row.chip_serial,
        CardStatus(row.status),
        row.batch,
        row.batch_row,
        row.created_at,
        row.updated_at,
        row.station,
        row.replaces,
        row.bank_account,
        row.pan_sequence,
        row.masked_pan,
        row.guardian_number,
        row.id_number,
    )


class Registry:
    """The registry of one database. *cipher* seals the card contents it keeps (needed to record or
    read them; status changes and queries work without it)."""

    def __init__(self, database: Database, cipher: ContentCipher | None = None) -> None:
        self._db = database
        self._cipher = cipher

    # -- issuance ------------------------------------------------------------------------------

    def begin(
        self,
        card_number: str,
        *,
        actor: str,
        batch: str | None = None,
        batch_row: int | None = None,
        replaces: int | None = None,
        station: str | None = None,
        guardian_number: str | None = None,
    ) -> CardRecord:
        """Reserve the person's next card (status personalising) and its issuance serial (XPXLH).
        Refused when the person has a live card (unless this replaces it) or one in personalisation.
        *guardian_number*: a child's card (its number a birth certificate's), linked to that guardian."""
        now = _dt.datetime.now(_dt.UTC)
        try:
            with self._db.session() as session:
                live = self._live(session, card_number)
                if live is not None and live.id != replaces:
                    raise RegistryError(f"{mask_id_number(card_number)} already has a card ({live.status})")
                id_number = None
                if replaces is not None:  # changed since the caller's check_transition?
                    old = self._row(session, replaces)
                    _check(_record(old), S.REPLACED)
                    # a child's replacement card stays linked to the guardian, and keeps the ID number
                    guardian_number, id_number = guardian_number or old.guardian_number, old.id_number
                row = CardRow(
                    card_number=card_number,
                    status=S.PERSONALISING,
                    batch=batch,
                    batch_row=batch_row,
                    replaces=replaces,
                    station=station and station[:128],
                    guardian_number=guardian_number,
                    id_number=id_number,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                session.flush()
                row.issuance_serial = f"{row.id:010d}"
                self._event(session, row.id, actor, None, S.PERSONALISING, batch)
                return _record(row)
        except IntegrityError:
            raise RegistryError(f"{mask_id_number(card_number)} already has a card being issued") from None

    def attach(self, card_id: int, *, chip_serial: str, content: str) -> None:
        """Record which chip is being personalised and what goes on it (before the first write)."""
        if self._cipher is None:
            raise RegistryError("card contents are kept encrypted: open the registry with the key store")
        with self._db.session() as session:
            row = self._row(session, card_id)
            row.chip_serial = chip_serial
            row.content = self._cipher.seal(row.id, row.issuance_serial, content)
            row.updated_at = _dt.datetime.now(_dt.UTC)

    def assign_pan(self, card_id: int, *, bin_digits: str) -> CardRecord:
        """Give the card being personalised its bank account and PSN (see the module docstring): a
        replacement keeps the account of the card it replaces and takes the account's highest PSN + 1 (spoiled
        cards included); any other card opens an account, numbered by its own registry id, with PSN 01. A card
        that has them keeps them. :class:`RegistryError` when numbers run out."""
        with self._db.session() as session:
            row = self._row(session, card_id, lock=True)
            if row.bank_account is not None:
                return _record(row)
            if row.status != S.PERSONALISING:
                raise RegistryError(f"card {row.issuance_serial} is {row.status}, not being personalised")
            old = self._row(session, row.replaces) if row.replaces is not None else None
            if old is not None and old.bank_account is not None and old.masked_pan is not None:
                account, bin_digits = old.bank_account, old.masked_pan[:6]
                used = session.execute(
                    select(CardRow.pan_sequence).where(CardRow.bank_account == account)
                ).scalars()
                psn = max((n for n in used if n is not None), default=0) + 1
            else:
                account, psn = row.id, 1
            if account >= DEMO_ACCOUNT_NUMBER or psn > _MAX_PSN:
                raise RegistryError(f"card {row.issuance_serial}: no account number or PSN left")
            row.bank_account, row.pan_sequence = account, psn
            row.masked_pan = mask_pan(pan_for(bin_digits, account))
            row.updated_at = _dt.datetime.now(_dt.UTC)
            session.flush()
            log.info("registry: card %s gets bank card %s PSN %02d", row.issuance_serial, row.masked_pan, psn)
            return _record(row)

    def complete(self, card_id: int, *, actor: str, hold: bool = False) -> CardRecord:
        """Verified: active (or issued with *hold*: awaiting handover). A replacement also moves the
        card it replaces to replaced (and onto the blacklist) in the same transaction; should that card
        no longer allow it (cancelled meanwhile), :class:`RegistryError` and nothing changes."""
        target = S.ISSUED if hold else S.ACTIVE
        with self._db.session() as session:
            row = self._row(session, card_id)
            if row.replaces is not None:
                old = self._row(session, row.replaces, lock=True)  # its status as committed now
                self._move(session, old, S.REPLACED, actor, f"replaced by {row.id}")
            self._move(session, row, target, actor, None)
            return _record(row)

    def spoil(self, card_id: int, *, actor: str, reason: str, written: bool = True) -> CardRecord:
        """Failed or interrupted: spoiled. Unless the chip is known to be still blank (*written*
        False: nothing sent that changes it, the card reused), its issuance serial goes on the
        blacklist in the same transaction: a chip with contents may work as the person's card."""
        with self._db.session() as session:
            row = self._row(session, card_id)
            self._move(session, row, S.SPOILED, actor, reason)
            if written:
                Blacklist.list_in(session, row.card_number, _SPOILED_REASON,
                                  issuance_serial=row.issuance_serial or "", listed_by=actor)  # fmt: skip
            return _record(row)

    # -- life cycle ----------------------------------------------------------------------------

    def transition(
        self, card_number: str, to: CardStatus, *, actor: str, reason: str | None = None
    ) -> CardRecord:
        """Move the person's live card to *to* (挂失 = LOST, 解挂 = ACTIVE, CANCELLED, LOCKED...)."""
        with self._db.session() as session:
            row = self._live(session, card_number, lock=True)
            if row is None:
                raise RegistryError(f"{mask_id_number(card_number)} has no live card")
            self._move(session, row, to, actor, reason)
            return _record(row)

    @staticmethod
    def check_transition(card: CardRecord, to: CardStatus) -> None:
        """Refuse (:class:`RegistryError`, naming the card's status) a move the table above does not
        allow: asked before a card is touched (补卡 of an issued or cancelled card)."""
        _check(card, to)

    def _move(self, session: Session, row: CardRow, to: CardStatus, actor: str, reason: str | None) -> None:
        current = CardStatus(row.status)
        if to not in _ALLOWED[current]:
            raise RegistryError(f"card {row.issuance_serial}: {current} cannot become {to}")
        row.status, row.updated_at = to, _dt.datetime.now(_dt.UTC)
        session.flush()
        serial = row.issuance_serial or ""
        if to in _BLACKLIST_REASONS:
            Blacklist.list_in(
                session, row.card_number, _BLACKLIST_REASONS[to], issuance_serial=serial, listed_by=actor
            )
        elif to is S.ACTIVE and current in _BLACKLIST_REASONS:
            Blacklist.unlist_in(session, row.card_number, issuance_serial=serial)
        self._event(session, row.id, actor, current, to, reason)
        log.info(
            "registry: card %s of %s %s -> %s by %s",
            row.issuance_serial,
            mask_id_number(row.card_number),
            current,
            to,
            actor,
        )

    def record_id_number(
        self, card_id: int, id_number: str, *, guardian_number: str, actor: str
    ) -> CardRecord:
        """Record the ID number of the child whose card *card_id* is (a live card linked to
        *guardian_number*): from now on it is the person's key as much as the card number. Recording the
        same number again changes nothing; a number that is another live card's is refused."""
        masked = mask_id_number(id_number)
        try:
            with self._db.session() as session:
                row = self._row(session, card_id, lock=True)
                if row.guardian_number is None:
                    raise RegistryError(f"card {row.issuance_serial} is not a child's card")
                if row.guardian_number != guardian_number:
                    raise RegistryError(f"card {row.issuance_serial} is linked to another guardian")
                if row.status not in LIVE_CARD_STATES:
                    raise RegistryError(f"card {row.issuance_serial} is {row.status}, not a live card")
                if row.id_number == id_number:
                    return _record(row)
                if row.id_number is not None:
                    raise RegistryError(f"card {row.issuance_serial} already has another ID number")
                other = self._live(session, id_number)
                if other is not None:
                    raise RegistryError(f"{masked} already has a card ({other.status})")
                row.id_number = id_number
                row.updated_at = _dt.datetime.now(_dt.UTC)
                self._event(session, row.id, actor, row.status, row.status, f"身份证号码登记 {masked}")
                return _record(row)
        except IntegrityError:
            raise RegistryError(f"{masked} already has a card") from None

    # -- queries -------------------------------------------------------------------------------

    def live_card(self, card_number: str) -> CardRecord | None:
        """The person's live card: *card_number* is its number, or the ID number recorded for a child's."""
        with self._db.session(readonly=True) as session:
            row = self._live(session, card_number)
            return _record(row) if row else None

    def pending(self, *, station: str | None = None) -> list[CardRecord]:
        """Cards left in personalisation by an interrupted run (the batch journal) of *station*."""
        return [
            card
            for card in self.cards(status=S.PERSONALISING)
            if station is None or card.station == station[:128]
        ]

    def content(self, card_id: int) -> str | None:
        """What was written to the card (the holder document as JSON), or None if nothing was yet."""
        with self._db.session(readonly=True) as session:
            row = self._row(session, card_id)
            stored, serial = row.content, row.issuance_serial
        if stored is None:
            return None
        if self._cipher is None:
            raise RegistryError("card contents are kept encrypted: open the registry with the key store")
        return self._cipher.open(card_id, serial, stored)

    def cards(
        self,
        *,
        status: CardStatus | None = None,
        batch: str | None = None,
        card_number: str | None = None,
        chip_serial: str | None = None,
        guardian_number: str | None = None,
    ) -> list[CardRecord]:
        """Cards in the order they were begun, filtered by status, batch, card number, chip and guardian."""
        with self._db.session(readonly=True) as session:
            query = select(CardRow).order_by(CardRow.id)
            if status is not None:
                query = query.where(CardRow.status == status)
            if batch is not None:
                query = query.where(CardRow.batch == batch)
            if card_number is not None:  # the card number, or a child's ID number recorded later
                number = card_number.upper()
                query = query.where(or_(CardRow.card_number == number, CardRow.id_number == number))
            if chip_serial is not None:
                query = query.where(CardRow.chip_serial == chip_serial)
            if guardian_number is not None:
                query = query.where(CardRow.guardian_number == guardian_number.upper())
            return [_record(row) for row in session.execute(query).scalars()]

    def history(self, card_id: int) -> list[tuple[_dt.datetime, str, str | None, str, str | None]]:
        with self._db.session(readonly=True) as session:
            rows = session.execute(
                select(CardEventRow).where(CardEventRow.card_id == card_id).order_by(CardEventRow.id)
            ).scalars()
            return [(r.at, r.actor, r.from_status, r.to_status, r.reason) for r in rows]

    @staticmethod
    def _live(session: Session, card_number: str, *, lock: bool = False) -> CardRow | None:
        """The person's live card; *lock*: row-locked until the transaction ends (PostgreSQL), so
        that two status changes of one card never both read the old status."""
        query = select(CardRow).where(
            or_(CardRow.card_number == card_number, CardRow.id_number == card_number),
            CardRow.status.in_(LIVE_CARD_STATES),
        )
        if lock:
            query = query.with_for_update()
        return session.execute(query).scalars().first()

    @staticmethod
    def _row(session: Session, card_id: int, *, lock: bool = False) -> CardRow:
        row = session.get(CardRow, card_id, with_for_update=lock or None)
        if row is None:
            raise RegistryError(f"no card {card_id} in the registry")
        return row

    @staticmethod
    def _event(
        session: Session, card_id: int, actor: str, old: str | None, new: str, reason: str | None
    ) -> None:
        session.add(
            CardEventRow(
                card_id=card_id,
                at=_dt.datetime.now(_dt.UTC),
                actor=actor[:128],
                from_status=old,
                to_status=new,
                reason=(reason or None) and reason[:200],
            )
        )
