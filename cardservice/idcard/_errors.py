"""The errors of cardservice.idcard: one subtree of :class:`cardservice.errors.CodedError` (drawn in the
package docstring). Each has a stable ``code`` (the API's), ``message`` (English), ``message_zh`` (what a
kiosk shows) and ``details`` (facts: the reader's name, an SW3 byte; never an ID number or a name)."""

from __future__ import annotations

from typing import ClassVar

from cardservice.errors import CodedError

__all__ = [
    "IdCardError",
    "IdCardNoCard",
    "IdCardProtocolError",
    "IdCardReadFailed",
    "IdCardReaderOffline",
    "IdCardSamUnavailable",
    "IdCardTimeout",
    "IdCardUnknownReader",
    "IdCardUnsupported",
]


class IdCardError(CodedError):
    """Root of the ID-card reader's errors."""

    code = "idcard_error"
    default_zh: ClassVar[str] = "身份证读取出错"


class IdCardNoCard(IdCardError):
    """No ID card on the reader (find failed, SW3 80) — or the card read last is still lying there: a
    reader finds a card once, and again only after it was taken off (the must-remove rule)."""

    code = "idcard_no_card"
    default_zh = "请将身份证放在阅读器上"


class IdCardReadFailed(IdCardError):
    """The card was found but could not be selected or read (SW3 81, 41, 31-33, 47): moved during the
    read, or a damaged card. Taking it off and putting it back usually helps."""

    code = "idcard_read_failed"
    default_zh = "读取身份证失败，请拿开后重新放置"


class IdCardUnsupported(IdCardError):
    """A card type the reader or this codec does not know (SW3 40, or an unknown type flag)."""

    code = "idcard_unsupported"
    default_zh = "暂不支持此类证件"


class IdCardSamUnavailable(IdCardError):
    """The reader's security module (SAM_V) failed its self-test or is not authorised (SW3 60, 66)."""

    code = "idcard_sam_unavailable"
    default_zh = "身份证阅读器安全模块不可用，请联系工作人员"


class IdCardProtocolError(IdCardError, ValueError):
    """Bytes that are not the protocol: a bad checksum or length, an unexpected reply, a text that does
    not decode, or the reader refusing our frame (SW3 10, 11, 21, 23). A :class:`ValueError` too: the
    codec's only error."""

    code = "idcard_protocol"
    default_zh = "身份证阅读器返回的数据有误"


class IdCardTimeout(IdCardError):
    """The reader did not answer (a whole frame) in time."""

    code = "idcard_timeout"
    default_zh = "身份证阅读器响应超时"


class IdCardReaderOffline(IdCardError):
    """The reader's serial port cannot be opened or failed (unplugged, wrong device, no permission)."""

    code = "idcard_reader_offline"
    default_zh = "身份证阅读器未连接，请联系工作人员"


class IdCardUnknownReader(IdCardError, LookupError):
    """No ID-card reader of that name is configured."""

    code = "reader_not_found"
    default_zh = "未找到身份证阅读器"
