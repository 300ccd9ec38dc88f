"""Orders as values: their kinds, their states and the lifecycle of each kind, the :class:`Order` the API
shows, and how a stored row becomes one.

One table per kind of order (:class:`~cardservice.store.Lifecycle`); a move that is not in its kind's
table is never made (:meth:`OrderBook.move <cardservice.payments._book.OrderBook.move>` asks the table)::

    bill:    pending ─┬─> charged ─┬─> settled                  (HIS bill settled with the order reference)
                      │            └─> unsettled ─> returned    (HIS refused: an automatic refund order gives
                      │                                          the whole amount back; returned once it did)
                      ├─> declined | failed                     (no money taken)
                      └─> in_doubt ─> (as pending, once the method answers a query)
    top_up:  pending ─> settled | declined | failed | in_doubt
    refund:  pending ─> refunded | failed | in_doubt     (ledger posted with the order; reversed on failure)

``in_doubt`` may "move" to itself: asked again without a sure answer, the order stays in doubt with the
new message (no state change is recorded). A state no kind moves on from is final (:data:`FINAL_STATES`);
the others are open (:data:`OPEN_STATES`), and ``recover()`` takes them on: ``unsettled`` too, until
its money is back (a failed automatic refund is tried again under a new order).

A bill order in one of :data:`BILL_HOLDING_STATES` holds its bill: no second order of the bill is
recorded while it does (the database's partial unique index ``uq_payments_orders_live_bill``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum

from cardservice.healthcard import mask_id_number
from cardservice.store import Lifecycle, PaymentOrderRow

__all__ = [
    "BILL_HOLDING_STATES",
    "BILL_LIFECYCLE",
    "FINAL_STATES",
    "LIFECYCLES",
    "OPEN_STATES",
    "REFUND_LIFECYCLE",
    "TOP_UP_LIFECYCLE",
    "Order",
    "OrderKind",
    "OrderStatus",
    "RecoveryReport",
    "order_of",
    "paid_status",
]


class OrderKind(enum.StrEnum):
    """What an order does (``payments_orders.kind``)."""

    BILL = "bill"  # pays the patient's outstanding HIS bill
    TOP_UP = "top_up"  # puts money on the patient's prepaid account (充值)
    REFUND = "refund"  # gives back (part of) a settled order's money (退费)


class OrderStatus(enum.StrEnum):
    """Where an order is (``payments_orders.status``); the moves are the lifecycle of its kind."""

    PENDING = "pending"  # recorded; its method not yet asked (or no answer recorded yet)
    CHARGED = "charged"  # bill: paid and posted; the HIS not yet told
    SETTLED = "settled"  # done: a bill settled at the HIS, a top-up on the account
    UNSETTLED = "unsettled"  # bill: paid, but the HIS refused it; a refund order gives the money back
    DECLINED = "declined"  # the method refused: no money taken
    FAILED = "failed"  # not done (method unreachable, unknown at the method, refund refused)
    IN_DOUBT = "in_doubt"  # the method did not answer: asked again by resolve()/recover()
    REFUNDED = "refunded"  # refund: the money went back
    RETURNED = "returned"  # bill: unsettled, and its whole amount went back by a refund order


_S = OrderStatus
BILL_LIFECYCLE = Lifecycle(
    "bill payment",
    OrderStatus,
    {
        _S.PENDING: {_S.CHARGED, _S.DECLINED, _S.FAILED, _S.IN_DOUBT},
        _S.IN_DOUBT: {_S.CHARGED, _S.DECLINED, _S.FAILED, _S.IN_DOUBT},
        _S.CHARGED: {_S.SETTLED, _S.UNSETTLED},
        _S.UNSETTLED: {_S.RETURNED},
    },
)
TOP_UP_LIFECYCLE = Lifecycle(
    "top-up",
    OrderStatus,
    {
        _S.PENDING: {_S.SETTLED, _S.DECLINED, _S.FAILED, _S.IN_DOUBT},
        _S.IN_DOUBT: {_S.SETTLED, _S.DECLINED, _S.FAILED, _S.IN_DOUBT},
    },
)
REFUND_LIFECYCLE = Lifecycle(
    "refund",
    OrderStatus,
    {
        _S.PENDING: {_S.REFUNDED, _S.FAILED, _S.IN_DOUBT},
        _S.IN_DOUBT: {_S.REFUNDED, _S.FAILED, _S.IN_DOUBT},
    },
)
#: The lifecycle of each kind of order.
LIFECYCLES: dict[OrderKind, Lifecycle[OrderStatus]] = {
    OrderKind.BILL: BILL_LIFECYCLE,
    OrderKind.TOP_UP: TOP_UP_LIFECYCLE,
    OrderKind.REFUND: REFUND_LIFECYCLE,
}
#: States no kind of order moves on from: nothing more happens to the order by itself.
FINAL_STATES: frozenset[OrderStatus] = frozenset().union(
    *(lifecycle.final for lifecycle in LIFECYCLES.values())
)
#: States an order is still on its way from: ``recover()`` finishes them.
OPEN_STATES: frozenset[OrderStatus] = frozenset(OrderStatus) - FINAL_STATES
#: States in which a bill order holds its bill: the money may be taken, is taken, or is not back yet
#: (the partial unique index ``uq_payments_orders_live_bill`` of the store's models lists the same).
BILL_HOLDING_STATES: frozenset[OrderStatus] = frozenset(
    {_S.PENDING, _S.IN_DOUBT, _S.CHARGED, _S.SETTLED, _S.UNSETTLED}
)


def paid_status(kind: str) -> OrderStatus:
    """Where an order goes once its method took the money: a bill waits for the HIS, a top-up is done."""
    return OrderStatus.CHARGED if kind == OrderKind.BILL else OrderStatus.SETTLED


@dataclasses.dataclass(frozen=True)
class Order:
    """An order as the API shows it (the card number masked)."""

    reference: str
    kind: OrderKind
    method: str
    status: OrderStatus
    amount_fen: int
    card: str  # masked card number
    bill_id: str | None
    parent_reference: str | None
    method_transaction_id: str | None
    error_code: str | None
    message: str | None
    created_at: _dt.datetime
    updated_at: _dt.datetime

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATES


@dataclasses.dataclass(frozen=True)
class RecoveryReport:
    """What :meth:`Payments.recover` did: orders it finished, and those still in doubt (the method could
    not be asked: they need another recover() later, or a person)."""

    resolved: tuple[Order, ...]
    unresolved: tuple[Order, ...]


def order_of(row: PaymentOrderRow) -> Order:
    """The stored order *row* as the API shows it."""
    return Order(
        reference=row.reference,
        kind=OrderKind(row.kind),
        method=row.method,
        status=OrderStatus(row.status),
        amount_fen=row.amount_fen,
        card=mask_id_number(row.card_number),
        bill_id=row.bill_id,
        parent_reference=row.parent_reference,
        method_transaction_id=row.method_transaction_id,
        error_code=row.error_code,
        message=row.message,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
