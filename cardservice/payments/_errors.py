"""The payments layer's exception tree (drawn in the package docstring). A key reused for another
request is the shared :class:`cardservice.errors.IdempotencyConflict` (the store raises it), re-exported
here under the same name."""

from __future__ import annotations

from typing import ClassVar

from cardservice.errors import CodedError, IdempotencyConflict

__all__ = [
    "AmountMismatch",
    "BillInPayment",
    "IdempotencyConflict",
    "InsufficientFunds",
    "LedgerError",
    "OrderNotFound",
    "PaymentError",
    "PaymentRejected",
    "PaymentUnavailable",
    "ReferenceClosed",
]


class PaymentError(CodedError):
    """Anything the payments layer could not do. ``code`` is stable, ``message_zh`` is for the kiosk
    screen, ``details`` carries facts (never personal data)."""

    code = "payment_error"
    default_zh: ClassVar[str] = "支付处理失败"


class PaymentRejected(PaymentError):
    """The request cannot be done as asked (bad amount, unknown method, bill not outstanding, ...)."""

    code = "payment_rejected"
    default_zh = "支付请求被拒绝"


class AmountMismatch(PaymentRejected):
    """The amount is not the bill's total (``details``: ``expected_fen``, ``amount_fen``)."""

    code = "amount_mismatch"
    default_zh = "缴费金额与账单不符"


class BillInPayment(PaymentRejected):
    """The bill is held by another order of it — being paid, paid, or its money on the way back — so it
    is not paid again (``details``: ``bill_id``). Refused before any payment method is asked."""

    code = "bill_in_payment"
    default_zh = "该账单正在支付或已缴费，请勿重复支付"


class InsufficientFunds(PaymentRejected):
    """The account's balance would go below its floor (a prepaid account below zero)."""

    code = "insufficient_funds"
    default_zh = "账户余额不足"


class OrderNotFound(PaymentRejected):
    """No such order (or not this patient's)."""

    code = "not_found"
    default_zh = "未找到该订单"


class LedgerError(PaymentError):
    """A posting that breaks the ledger's rules: unbalanced, fewer than two entries, a reference reused
    for other entries. A programming error, never a customer's."""

    code = "ledger_error"
    default_zh = "账务处理错误"


class ReferenceClosed(LedgerError):
    """A posting under a reference that was closed (recovery found nothing posted under it and failed
    its order): never posted. The in-database methods answer it DECLINED; it never leaves the layer."""

    code = "reference_closed"
    default_zh = "该交易已关闭"


class PaymentUnavailable(PaymentError):
    """The database or a payment method cannot be reached now: try later."""

    code = "payment_unavailable"
    default_zh = "支付服务暂时不可用，请稍后再试"
