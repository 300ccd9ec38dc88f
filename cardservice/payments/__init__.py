"""Payments: bill payments, prepaid top-ups and refunds over a double-entry ledger in the project
database, with idempotency keys on every mutating call, recovery after a kill, and daily
reconciliation (对账). No HTTP here: the ``/v1/payments`` routes call :class:`Payments`.

    ledger = Ledger(database)
    prepaid = PrepaidAccount(ledger)                       # 就诊卡账户
    gateway = GatewayMethod("http://127.0.0.1:9300")       # an acquirer (simulators.acquirer in tests)
    payments = Payments(database, his, [prepaid, gateway, CashDesk(ledger)], audit=audit_log.record)
    payments.recover(min_age=timedelta(seconds=60))        # at daemon start
    payments.start_recovery(min_age=60, interval=30)       # then in the background; stop_recovery()
    order = payments.pay_bill(client, key, patient, bill.id, bill.total_fen, "prepaid")
    report = payments.reconcile(day)                       # report.text(), report.csv()

Design: ``cardservice.payments._ledger`` (accounts, postings, trial balance), ``_methods`` (the
:class:`PaymentMethod` protocol, prepaid account, cash desk), ``_gateway`` (acquirer over HTTP),
``_offered`` (the methods a daemon's configuration names), ``_orders`` (:class:`Order`,
:class:`OrderStatus`, the lifecycle of each kind of order), ``_book`` (orders in the database: stored
under their idempotency keys, moved along their lifecycle, audited), ``_steps`` (charge, settle, refund,
resolve, recover), ``_recovery`` (the background sweep), ``_service`` (:class:`Payments`, the API),
``_reconcile``.

Errors (``code`` is stable; ``message_zh`` is for the kiosk screen), in the tree of
:mod:`cardservice.errors`::

    CodedError
    ├── IdempotencyConflict      idempotency_conflict  key already used for another request (shared with
    │                                                  the HIS and the print queue: cardservice.errors)
    └── PaymentError             payment_error
        ├── PaymentRejected      payment_rejected      cannot be done as asked (amount, method, bill, key)
        │   ├── AmountMismatch   amount_mismatch       not the bill's total (details: expected_fen,
        │   │                                          amount_fen)
        │   ├── BillInPayment    bill_in_payment       the bill is held by another order of it: being paid,
        │   │                                          paid, or its money on the way back (details: bill_id)
        │   ├── InsufficientFunds  insufficient_funds  prepaid balance too low (refund of a top-up)
        │   └── OrderNotFound    not_found             no such order for this patient
        ├── LedgerError          ledger_error          a posting that breaks the ledger's rules (a bug)
        │   └── ReferenceClosed  reference_closed      (never leaves the layer: the in-database method
        │                                              answers DECLINED) a posting under a closed reference
        └── PaymentUnavailable   payment_unavailable   database, HIS check or method list unreachable

A declined or in-doubt payment is not an exception: it is the returned order's ``status``. An order
moving where its kind's lifecycle does not go is a bug: :class:`cardservice.store.IllegalTransition`.
"""

from __future__ import annotations

from cardservice.payments._bankcard import BankcardMethod
from cardservice.payments._bankcard_book import BankcardBook, BankcardRecord, BankcardStateError
from cardservice.payments._bankcard_link import IsoAcquirer
from cardservice.payments._book import AuditSink
from cardservice.payments._errors import (
    AmountMismatch,
    BillInPayment,
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    OrderNotFound,
    PaymentError,
    PaymentRejected,
    PaymentUnavailable,
    ReferenceClosed,
)
from cardservice.payments._gateway import GatewayMethod
from cardservice.payments._interactive import ChargeContext, Progress, charge_context, current_charge_context
from cardservice.payments._ledger import (
    CASH,
    CASH_CLEARING,
    GATEWAY_CLEARING,
    HIS_REVENUE,
    PREPAID_CLEARING,
    Entry,
    Ledger,
    Posting,
    TrialBalance,
    credit,
    debit,
    prepaid_account,
)
from cardservice.payments._methods import (
    CashDesk,
    MethodRecord,
    MethodResult,
    MethodStatus,
    PaymentMethod,
    PrepaidAccount,
)
from cardservice.payments._offered import METHOD_NAMES, payment_methods
from cardservice.payments._orders import (
    BILL_HOLDING_STATES,
    FINAL_STATES,
    LIFECYCLES,
    Order,
    OrderKind,
    OrderStatus,
    RecoveryReport,
)
from cardservice.payments._policy import KIOSK_NEVER, PaymentPolicy
from cardservice.payments._qrcode import (
    SIGNATURE_HEADER,
    NotificationOutcome,
    QrCodeMethod,
    sign_notification,
)
from cardservice.payments._reconcile import MethodTotals, Mismatch, ReconciliationReport, reconcile
from cardservice.payments._service import Payments
from cardservice.payments._steps import CRASH_POINTS

__all__ = [
    "BILL_HOLDING_STATES",
    "CASH",
    "CASH_CLEARING",
    "CRASH_POINTS",
    "FINAL_STATES",
    "GATEWAY_CLEARING",
    "HIS_REVENUE",
    "KIOSK_NEVER",
    "LIFECYCLES",
    "METHOD_NAMES",
    "PREPAID_CLEARING",
    "SIGNATURE_HEADER",
    "AmountMismatch",
    "AuditSink",
    "BankcardBook",
    "BankcardMethod",
    "BankcardRecord",
    "BankcardStateError",
    "BillInPayment",
    "CashDesk",
    "ChargeContext",
    "Entry",
    "GatewayMethod",
    "IdempotencyConflict",
    "InsufficientFunds",
    "IsoAcquirer",
    "Ledger",
    "LedgerError",
    "MethodRecord",
    "MethodResult",
    "MethodStatus",
    "MethodTotals",
    "Mismatch",
    "NotificationOutcome",
    "Order",
    "OrderKind",
    "OrderNotFound",
    "OrderStatus",
    "PaymentError",
    "PaymentMethod",
    "PaymentPolicy",
    "PaymentRejected",
    "PaymentUnavailable",
    "Payments",
    "Posting",
    "PrepaidAccount",
    "Progress",
    "QrCodeMethod",
    "ReconciliationReport",
    "RecoveryReport",
    "ReferenceClosed",
    "TrialBalance",
    "charge_context",
    "credit",
    "current_charge_context",
    "debit",
    "payment_methods",
    "prepaid_account",
    "reconcile",
    "sign_notification",
]
