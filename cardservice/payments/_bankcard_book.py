"""BankcardBook: the bank-card terminal's journal, ``bankcard_transactions`` (see :mod:`._bankcard`).

Every write is its own committed transaction: the row must be on disk before the step it announces, or a kill
between the two would forget a message the acquirer acted on. A move names the states it may come from; a row
found in another state raises :class:`BankcardStateError` (a bug or a second daemon acting on the same sale,
never something to paper over).

A reversal and a refund repeat the sale's PAN, PSN and expiry (ISO 8583 fields 2, 23, 14): the journal keeps
them sealed with AES-256-GCM under the terminal's journal key (the reference as associated data, so a sealed
value cannot be moved to another row), and drops them once no message will need them. The masked PAN is the
only form in clear.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from cardservice.errors import CardserviceError
from cardservice.store import BankcardTransactionRow as Row
from cardservice.store import Database

__all__ = ["BankcardBook", "BankcardRecord", "BankcardStateError", "CardData", "batch_of"]

_MAX_STAN = 999_999


class BankcardStateError(CardserviceError):
    """A bank-card transaction was not in a state the move may start from."""


@dataclasses.dataclass(frozen=True, repr=False)
class CardData:
    """What a reversal or refund repeats of the card. Never in a repr or a log."""

    pan: str
    psn: str | None
    expiry: str | None

    def __repr__(self) -> str:
        return "CardData(<sealed>)"


@dataclasses.dataclass(frozen=True)
class BankcardRecord:
    reference: str
    kind: str
    order_reference: str
    terminal_id: str
    merchant_id: str
    batch: int
    stan: int
    amount_fen: int
    masked_pan: str | None
    state: str
    response_code: str | None
    auth_code: str | None
    rrn: str | None
    original_rrn: str | None
    reversal_reason: str | None
    attempts: int
    message: str | None
    created_at: _dt.datetime
    updated_at: _dt.datetime

    @property
    def transaction_id(self) -> str:
        """The acquirer's name for it: the retrieval reference number once known, else terminal/batch/STAN."""
        return self.rrn or f"{self.terminal_id}/{self.batch:06d}/{self.stan:06d}"


def _record(row: Row) -> BankcardRecord:
    return BankcardRecord(
        **{field.name: getattr(row, field.name) for field in dataclasses.fields(BankcardRecord)}
    )


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


_BEIJING = _dt.timezone(_dt.timedelta(hours=8))


def batch_of(moment: _dt.datetime | _dt.date) -> int:
    """The batch (ISO 8583 60.2) of a moment: its business day in Beijing as YYMMDD. One batch per day, so a
    day's settlement is its batch's, and no batch number is kept anywhere (our choice; CUP leaves numbering
    to the terminal)."""
    day = moment.astimezone(_BEIJING).date() if isinstance(moment, _dt.datetime) else moment
    return int(day.strftime("%y%m%d"))


class BankcardBook:
    """The journal of terminal *terminal_id* (ISO 8583 field 41) at merchant *merchant_id* (field 42)."""

    def __init__(
        self,
        database: Database,
        *,
        terminal_id: str,
        merchant_id: str,
        journal_key: bytes,
        clock: Callable[[], _dt.datetime] = _now,
    ) -> None:
        if len(terminal_id) != 8 or not terminal_id.isascii() or not terminal_id.isalnum():
            raise ValueError("terminal_id: 8 letters or digits (ISO 8583 field 41)")
        if len(merchant_id) != 15 or not merchant_id.isascii() or not merchant_id.isalnum():
            raise ValueError("merchant_id: 15 letters or digits (ISO 8583 field 42)")
        self._db = database
        self.terminal_id = terminal_id
        self.merchant_id = merchant_id
        if len(journal_key) != 32:
            raise ValueError("journal_key: 32 bytes (AES-256)")
        self._aead = AESGCM(journal_key)
        self._clock = clock

    def _seal(self, reference: str, card: CardData) -> bytes:
        nonce = secrets.token_bytes(12)
        plain = json.dumps(dataclasses.asdict(card)).encode()
        return nonce + self._aead.encrypt(nonce, plain, reference.encode())

    def card_data(self, reference: str) -> CardData | None:
        """The sealed card data of *reference*, or ``None`` (never stored, dropped, or not authentic)."""
        with self._db.session(readonly=True) as session:
            sealed = session.scalar(select(Row.card_sealed).where(Row.reference == reference))
        if not sealed:
            return None
        try:
            plain = self._aead.decrypt(sealed[:12], sealed[12:], reference.encode())
        except InvalidTag:
            return None
        return CardData(**json.loads(plain))

    def find(self, reference: str) -> BankcardRecord | None:
        with self._db.session(readonly=True) as session:
            row = session.scalar(select(Row).where(Row.reference == reference))
            return None if row is None else _record(row)

    def attempt(self, reference: str) -> BankcardRecord:
        """Count one more attempt at the acquirer for *reference* (a reversal or a refund advice)."""
        with self._db.session() as session:
            row = self._row(session, reference)
            row.attempts += 1
            row.updated_at = self._clock()
            return _record(row)

    def start(
        self,
        reference: str,
        kind: str,
        order_reference: str,
        amount_fen: int,
        *,
        masked_pan: str | None = None,
        original_rrn: str | None = None,
    ) -> BankcardRecord:
        """Record a new transaction with the terminal's next STAN (1 … 999999, then 1 again)."""
        for _ in range(5):
            try:
                with self._db.session() as session:
                    now = self._clock()
                    last = session.scalar(
                        select(Row.stan)
                        .where(Row.terminal_id == self.terminal_id)
                        .order_by(Row.id.desc())
                        .limit(1)
                    )
                    stan = (last or 0) % _MAX_STAN + 1
                    row = Row(
                        reference=reference, kind=kind, order_reference=order_reference,
                        terminal_id=self.terminal_id, merchant_id=self.merchant_id, batch=batch_of(now),
                        stan=stan, amount_fen=amount_fen, masked_pan=masked_pan, state="started",
                        original_rrn=original_rrn, attempts=0, created_at=now, updated_at=now,
                    )  # fmt: skip
                    session.add(row)
                    session.flush()
                    return _record(row)
            except IntegrityError:  # the STAN taken concurrently, or the reference recorded meanwhile
                known = self.find(reference)
                if known is not None:
                    return known
        raise BankcardStateError("no free STAN after 5 attempts")

    def move(
        self,
        reference: str,
        sources: Iterable[str],
        target: str,
        *,
        card: CardData | None = None,
        **fields: Any,
    ) -> BankcardRecord:
        """Move *reference* from one of *sources* (or already *target*) to *target*, setting *fields* (and
        sealing *card*). A final state that needs no more messages drops the card data."""
        with self._db.session() as session:
            row = self._row(session, reference)
            if row.state != target and row.state not in tuple(sources):
                raise BankcardStateError(
                    f"bank card transaction {reference} is {row.state}, not {'/'.join(sources)}"
                )
            row.state = target
            for name, value in fields.items():
                if name not in Row.__table__.columns:
                    raise TypeError(f"no column {name}")
                setattr(row, name, value[:200] if name == "message" and isinstance(value, str) else value)
            if card is not None:
                row.card_sealed = self._seal(reference, card)
            if target in ("declined", "not_sent", "reversed", "refunded"):
                row.card_sealed = None
            row.updated_at = self._clock()
            return _record(row)

    @staticmethod
    def _row(session: Any, reference: str) -> Row:
        row = session.scalar(select(Row).where(Row.reference == reference).with_for_update())
        if row is None:
            raise BankcardStateError(f"no bank card transaction {reference}")
        return row  # type: ignore[no-any-return]

    def references_in(self, states: Iterable[str], *, kind: str | None = None) -> list[str]:
        query = select(Row.reference).where(Row.state.in_(tuple(states)))
        if kind is not None:
            query = query.where(Row.kind == kind)
        with self._db.session(readonly=True) as session:
            return list(session.scalars(query.order_by(Row.id)))

    def refunded(self, sale_reference: str, *, exclude: str) -> int:
        """Fen refunded (or being refunded) of the sale *sale_reference*, not counting refund *exclude*."""
        with self._db.session(readonly=True) as session:
            total = session.scalar(
                select(func.coalesce(func.sum(Row.amount_fen), 0)).where(
                    Row.kind == "refund",
                    Row.order_reference == sale_reference,
                    Row.reference != exclude,
                    Row.state.in_(("started", "sent", "refunded")),
                )
            )
            return int(total or 0)

    def next_stan(self) -> int:
        """A STAN for a message that is not journalled (a settlement): the one after the last used."""
        with self._db.session(readonly=True) as session:
            last = session.scalar(
                select(Row.stan).where(Row.terminal_id == self.terminal_id).order_by(Row.id.desc()).limit(1)
            )
        return (last or 0) % _MAX_STAN + 1

    def batch(self, batch: int) -> list[BankcardRecord]:
        """Every transaction of batch *batch*, oldest first."""
        with self._db.session(readonly=True) as session:
            rows = session.scalars(
                select(Row).where(Row.terminal_id == self.terminal_id, Row.batch == batch).order_by(Row.id)
            )
            return [_record(row) for row in rows]

    def day(self, day: _dt.date) -> list[BankcardRecord]:
        start = _dt.datetime.combine(day, _dt.time(), tzinfo=_dt.UTC)
        with self._db.session(readonly=True) as session:
            rows = session.scalars(
                select(Row)
                .where(Row.updated_at >= start)
                .where(Row.updated_at < start + _dt.timedelta(days=1))
                .order_by(Row.id)
            )
            return [_record(row) for row in rows]

    def all(self) -> list[BankcardRecord]:
        with self._db.session(readonly=True) as session:
            return [_record(row) for row in session.scalars(select(Row).order_by(Row.id))]
