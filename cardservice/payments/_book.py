"""The order book: orders in the database. Each is stored once under its client's idempotency key
(:func:`cardservice.store.once`), read back, and moved only along its kind's lifecycle
(:data:`~cardservice.payments._orders.LIFECYCLES`): every move writes its event (``payments_events``) in
the transaction that makes it, and is audited once committed.

**Audit, at least once.** The audit log is its own hash chain (``AuditLog.record`` commits its own
transaction), so an order's move and its audit record cannot commit together. Each event is written
with ``audited_at`` empty; once its record is written it is marked. A kill between the two, or an audit
sink that failed, leaves the event unmarked, and :meth:`OrderBook.publish_backlog` (``recover()``)
writes its record from the event and the order later — the record a kill would have lost. (A kill after
the record and before the mark repeats it: each record names its ``event``, so a repeat is visible.)

Database failures become :class:`PaymentUnavailable` here; nothing above this module sees SQLAlchemy.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.errors import IdempotencyConflict
from cardservice.healthcard import mask_id_number
from cardservice.payments._errors import OrderNotFound, PaymentRejected, PaymentUnavailable
from cardservice.payments._orders import LIFECYCLES, Order, OrderKind, OrderStatus, order_of
from cardservice.store import (
    Database,
    PaymentEventRow,
    PaymentOrderRow,
    check_key,
    describe,
    find_stored,
    once,
)

__all__ = ["AuditSink", "OrderBook", "unavailable"]

_log = logging.getLogger("cardservice.payments")
_T = TypeVar("_T")


class AuditSink(Protocol):
    """The shape of :meth:`cardservice.access.AuditLog.record`."""

    def __call__(
        self,
        *,
        actor: str,
        action: str,
        result: str,
        card: str | None = ...,
        target: str | None = ...,
        detail: Mapping[str, object] | None = ...,
    ) -> object: ...


def unavailable(text: str) -> PaymentUnavailable:
    """The error for a database failure described by *text* (which never carries values)."""
    return PaymentUnavailable(f"payments database: {text}")


def _invalid_key(text: str) -> PaymentRejected:
    return PaymentRejected(text, message_zh="请求标识格式错误")


class OrderBook:
    """The orders of one :class:`Payments`: ``audit`` receives every committed move (e.g.
    ``AuditLog.record``), ``clock`` stamps them."""

    def __init__(
        self, database: Database, *, audit: AuditSink | None, clock: Callable[[], _dt.datetime]
    ) -> None:
        self._db = database
        self._audit = audit
        self._clock = clock

    # -- idempotency -------------------------------------------------------------------------------

    def stored(self, client_id: str, key: str, request: str) -> PaymentOrderRow | None:
        """The order stored under *client_id*'s *key* for this *request* (a digest of it), or ``None``:
        the read-only look before anything else is asked. The key used for another request is
        :class:`~cardservice.errors.IdempotencyConflict`."""
        _check_client_key(client_id, key)
        return find_stored(self._db, find=_by_key(client_id, key), request=request, unavailable=unavailable)

    def stored_and(
        self, client_id: str, key: str, request: str, other: Select[PaymentOrderRow]
    ) -> tuple[PaymentOrderRow | None, PaymentOrderRow | None]:
        """:meth:`stored`, and when nothing is stored under the key the order *other* selects, in one
        read: ``(stored, None)`` or ``(None, other's or None)``."""
        _check_client_key(client_id, key)
        with self.read() as session:
            row = _by_key(client_id, key)(session)
            found = session.scalar(other) if row is None else None
        if row is not None and row.request_hash != request:
            raise IdempotencyConflict("idempotency key already used for another request")
        return row, found

    def once(
        self, client_id: str, key: str, request: str, create: Callable[[Session], PaymentOrderRow]
    ) -> tuple[PaymentOrderRow, bool]:
        """``(row, True)``: *create* stored a new order (it calls :meth:`add`) under *client_id*'s *key*,
        in one transaction with whatever else it did; ``(stored row, False)``: the key was there for
        the same request — also when a concurrent call stored it first."""
        _check_client_key(client_id, key)
        return once(
            self._db,
            find=_by_key(client_id, key),
            request=request,
            create=create,
            replay=lambda session, row: row,
            unavailable=unavailable,
        )

    def add(self, session: Session, row: PaymentOrderRow, actor: str, detail: Mapping[str, object]) -> None:
        """Add the new order *row* (``pending``) and its first event to *session* (audited by
        :meth:`publish_created` once committed)."""
        session.add(row)
        session.flush()
        action = "refund" if row.kind == OrderKind.REFUND else "order"
        session.add(
            PaymentEventRow(
                order_reference=row.reference,
                at=row.created_at,
                actor=actor,
                from_status=None,
                to_status=row.status,
                detail=_detail({"action": action, **detail}),
            )
        )

    # -- reading -----------------------------------------------------------------------------------

    def load(self, reference: str) -> PaymentOrderRow:
        with self.read() as session:
            row = session.scalar(select(PaymentOrderRow).where(PaymentOrderRow.reference == reference))
        if row is None:
            raise OrderNotFound(f"no order {reference!r}")
        return row

    @contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with self._db.session(readonly=True) as session:
                yield session
        except SQLAlchemyError as exc:
            raise unavailable(describe(exc)) from None

    def write(self, work: Callable[[Session], _T]) -> _T:
        for attempt in (1, 2):
            try:
                with self._db.session() as session:
                    return work(session)
            except IntegrityError as exc:  # a concurrent insert of the same reference: look again
                if attempt == 2:
                    raise unavailable(describe(exc)) from None
            except SQLAlchemyError as exc:
                raise unavailable(describe(exc)) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- moving ------------------------------------------------------------------------------------

    def move(
        self,
        reference: str,
        to: OrderStatus | Callable[[PaymentOrderRow], OrderStatus],
        change: Callable[[Session, PaymentOrderRow], None] | None,
        actor: str,
        action: str,
    ) -> Order:
        """Lock the order and move it to *to* (a state, or the state for the row) if its kind's lifecycle
        goes there from where the order is now: *change* is applied first (it may post to the ledger in
        the same transaction), then the new state and its event are recorded. If the lifecycle does not
        go there from the order's state, another call moved the order on first: the order as it is now.
        A state its kind never goes to is a bug: :class:`~cardservice.store.IllegalTransition`."""
        moved: list[tuple[PaymentEventRow, PaymentOrderRow]] = []

        def work(session: Session) -> Order:
            moved.clear()  # a second attempt starts again
            row = session.scalar(
                select(PaymentOrderRow)
                .where(PaymentOrderRow.reference == reference)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if row is None:
                raise OrderNotFound(f"no order {reference!r}")
            target = to(row) if callable(to) else to
            lifecycle = LIFECYCLES[OrderKind(row.kind)]
            if not lifecycle.can(row.status, target):
                if not any(lifecycle.can(state, target) for state in OrderStatus):
                    lifecycle.check(row.status, target)  # raises: no order of this kind goes there
                return order_of(row)
            before = row.status
            if change is not None:
                change(session, row)
            if target != before:
                row.status = target.value
                row.updated_at = self._clock()
                event = PaymentEventRow(
                    order_reference=reference,
                    at=row.updated_at,
                    actor=actor[:128],
                    from_status=before,
                    to_status=target.value,
                    detail=_detail({"action": action, "code": row.error_code}),
                )
                session.add(event)
                moved.append((event, row))
            session.flush()
            return order_of(row)

        order = self.write(work)
        self._publish(moved)  # as committed: the rows of the transaction, not read again
        return order

    # -- audit of the events -----------------------------------------------------------------------

    def publish_created(self, reference: str) -> None:
        """Audit the creation of the order *reference* (its first event), once committed."""
        with self.read() as session:
            rows = session.execute(
                _unaudited()
                .where(PaymentEventRow.order_reference == reference, PaymentEventRow.from_status.is_(None))
                .order_by(PaymentEventRow.id)
            ).all()
        self._publish([(event, order) for event, order in rows])

    def publish_backlog(self, cutoff: _dt.datetime) -> int:
        """Audit every event committed at *cutoff* or before whose record was never written (see the
        module docstring); how many were written."""
        with self.read() as session:
            ids = list(
                session.scalars(
                    select(PaymentEventRow.id)
                    .where(PaymentEventRow.audited_at.is_(None), PaymentEventRow.at <= cutoff)
                    .order_by(PaymentEventRow.id)
                )
            )
        if ids:
            _log.warning("payments: %d order events were never audited; auditing them now", len(ids))
        return self.publish(ids)

    def publish(self, event_ids: Sequence[int]) -> int:
        """Write the audit records of the committed events *event_ids*, in order, and mark them audited;
        how many were written. An event whose record could not be written stays unmarked."""
        if not event_ids:
            return 0
        with self.read() as session:
            rows = session.execute(
                _unaudited().where(PaymentEventRow.id.in_(event_ids)).order_by(PaymentEventRow.id)
            ).all()
        return self._publish([(event, order) for event, order in rows])

    def _publish(self, events: Sequence[tuple[PaymentEventRow, PaymentOrderRow]]) -> int:
        """:meth:`publish` of committed events, each with its order as committed with it."""
        if not events:
            return 0
        done = [event.id for event, order in events if self.audit(*_record_of(event, order))]
        if done:
            now = self._clock()

            def mark(session: Session) -> None:
                session.execute(
                    update(PaymentEventRow)
                    .where(PaymentEventRow.id.in_(done), PaymentEventRow.audited_at.is_(None))
                    .values(audited_at=now)
                    .execution_options(synchronize_session=False)
                )

            try:
                self.write(mark)
            except PaymentUnavailable as exc:  # written, not marked: recover() repeats them (named by event)
                _log.warning("payments: audit marks not stored: %s", exc.message)
        return len(done)

    # -- audit -------------------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        action: str,
        result: str,
        card_number: str | None,
        target: str | None,
        detail: Mapping[str, Any],
    ) -> bool:
        """Log and audit ``payment.<action>`` (the card masked, ``None`` details left out); whether the
        record was written (or there is no audit sink). An audit failure is logged, never raised: the
        change is committed and in ``payments_events``."""
        _log.info(
            "payment.%s %s %s %s",
            action,
            target or "-",
            result,
            mask_id_number(card_number) if card_number else "-",
        )
        if self._audit is None:
            return True
        try:
            self._audit(
                actor=actor,
                action=f"payment.{action}",
                result=result,
                card=mask_id_number(card_number) if card_number else None,
                target=target,
                detail={k: v for k, v in detail.items() if v is not None},
            )
        except Exception:
            _log.exception("payments: audit record of %s failed", target)
            return False
        return True


def _record_of(
    event: PaymentEventRow, order: PaymentOrderRow
) -> tuple[str, str, str, str, str, dict[str, Any]]:
    """The audit record of *event* of *order*: (actor, action, result, card number, target, detail)."""
    try:
        noted = json.loads(event.detail or "{}")
    except ValueError:
        noted = {}
    noted = noted if isinstance(noted, dict) else {}
    detail: dict[str, Any]
    if event.from_status is None and order.kind == OrderKind.REFUND:  # a refund order was recorded
        action, detail = "refund", {"parent": order.parent_reference, "amount_fen": order.amount_fen}
    elif event.from_status is None:  # a bill payment or top-up was recorded
        action = "order"
        detail = {
            "kind": order.kind,
            "method": order.method,
            "amount_fen": order.amount_fen,
            "bill": order.bill_id,
        }
    else:
        action = str(noted.get("action") or "move")
        detail = {
            "from": event.from_status,
            "amount_fen": order.amount_fen,
            "method": order.method,
            "code": noted.get("code"),
        }
    detail["event"] = event.id
    return event.actor, action, event.to_status, order.card_number, order.reference, detail


def _unaudited() -> Select[PaymentEventRow, PaymentOrderRow]:
    """Events whose audit record is not written yet, each with its order."""
    return (
        select(PaymentEventRow, PaymentOrderRow)
        .join(PaymentOrderRow, PaymentOrderRow.reference == PaymentEventRow.order_reference)
        .where(PaymentEventRow.audited_at.is_(None))
    )


def _by_key(client_id: str, key: str) -> Callable[[Session], PaymentOrderRow | None]:
    def find(session: Session) -> PaymentOrderRow | None:
        return session.scalar(
            select(PaymentOrderRow).where(
                PaymentOrderRow.client_id == client_id, PaymentOrderRow.idempotency_key == key
            )
        )

    return find


def _check_client_key(client_id: str, key: str) -> None:
    if not isinstance(client_id, str) or not 1 <= len(client_id) <= 128:
        raise PaymentRejected("client_id: 1-128 characters")
    check_key(key, _invalid_key)


def _detail(values: Mapping[str, object]) -> str:
    return json.dumps({k: v for k, v in values.items() if v is not None}, sort_keys=True, ensure_ascii=False)
