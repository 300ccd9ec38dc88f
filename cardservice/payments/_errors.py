"""The payments layer's exception tree (drawn in the package docstring). A key reused for another
request is the shared :class:`cardservice.errors.IdempotencyConflict` (the store raises it), re-exported
here under the same name."""

from __future__ import annotations

from typing import ClassVar

from cardservice.errors import CodedError, IdempotencyConflict

__all__ = [
    "IdempotencyConflict",
    "InsufficientFunds",
    "LedgerError",
    "OrderNotFound",
    "PaymentError",
    "PaymentRejected",
    "PaymentUnavailable",
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


class PaymentUnavailable(PaymentError):
    """The database or a payment method cannot be reached now: try later."""

    code = "payment_unavailable"
    default_zh = "支付服务暂时不可用，请稍后再试"
