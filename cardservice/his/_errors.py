"""The HIS connector's exception tree (drawn in the package docstring)."""

from __future__ import annotations

from typing import ClassVar

from cardservice.errors import CodedError

__all__ = [
    "AlreadyCancelled",
    "AlreadySettled",
    "AmountMismatch",
    "HisError",
    "HisProtocolError",
    "HisRejected",
    "HisTimeout",
    "HisUnavailable",
    "NotFound",
    "SlotFull",
    "error_for_code",
]


class HisError(CodedError):
    """Anything the HIS connector could not do. ``code`` is stable (API clients and the contract use
    it), ``message_zh`` is what a kiosk shows, ``details`` carries facts (never personal data)."""

    code = "his_error"
    default_zh: ClassVar[str] = "医院信息系统错误"


class HisUnavailable(HisError):
    """The HIS cannot be reached or says it is down (connection refused, 502/503/504): try later."""

    code = "his_unavailable"
    default_zh = "医院信息系统暂时无法连接，请稍后再试"


class HisTimeout(HisUnavailable):
    """The HIS did not answer in time. For a mutating call the outcome is unknown: repeat it with the
    same idempotency key to learn it."""

    code = "his_timeout"
    default_zh = "医院信息系统响应超时，请稍后再试"


class HisProtocolError(HisError):
    """The HIS answered something that is not the contract (bad JSON, missing fields, wrong types)."""

    code = "his_protocol"
    default_zh = "医院信息系统返回的数据有误"


class HisRejected(HisError):
    """The HIS refused the request for a reason without its own code (past slot, key reused for another
    request, bad credentials, ...); ``message`` says which."""

    code = "his_rejected"
    default_zh = "医院信息系统拒绝了该请求"


class NotFound(HisRejected):
    """No such department, doctor, slot, registration or bill (for this patient)."""

    code = "not_found"
    default_zh = "未找到相关记录"


class SlotFull(HisRejected):
    """The slot has no place left."""

    code = "slot_full"
    default_zh = "该号源已约满"


class AlreadyCancelled(HisRejected):
    """The registration (or the bill of a cancelled registration) is cancelled already."""

    code = "already_cancelled"
    default_zh = "该挂号已取消"


class AlreadySettled(HisRejected):
    """The bill was paid already, by another payment (the same payment again is not an error)."""

    code = "already_settled"
    default_zh = "该账单已缴费"


class AmountMismatch(HisRejected):
    """The amount paid is not the bill's total (``details``: ``expected_fen``, ``amount_fen``)."""

    code = "amount_mismatch"
    default_zh = "缴费金额与账单金额不符"


_BY_CODE: dict[str, type[HisError]] = {
    cls.code: cls
    for cls in (
        HisError, HisUnavailable, HisTimeout, HisProtocolError, HisRejected,
        NotFound, SlotFull, AlreadyCancelled, AlreadySettled, AmountMismatch,
    )
}  # fmt: skip


def error_for_code(code: str) -> type[HisError]:
    """The exception class of a contract error code; an unknown code is a plain refusal."""
    return _BY_CODE.get(code, HisRejected)
