"""What every message of the acquirer link shares: value checks that raise :class:`Iso8583Error` by field,
field 60, a repr without card secrets, and the answer shape of 0210/0410/0230 (39, 37, 38, 12/13/15, 55)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from cardservice.acquiring._errors import Iso8583Error
from cardservice.acquiring._frame import DEFAULT_HEADER, DEFAULT_TPDU, FieldValue, Frame, mask_pan
from cardservice.acquiring._icc import IccData

__all__ = ["CURRENCY_CNY", "SECURITY_CONTROL_PIN", "Message"]

CURRENCY_CNY = "156"
#: Field 53 with a PIN block: format 2 (ISO 9564 format 0, with PAN), algorithm 6 (double-length 3DES).
SECURITY_CONTROL_PIN = "2600000000000000"
_HIDDEN = {"pin_block", "track2"}


# -- checks shared by every message -------------------------------------------------------------------


def _digits(value: str, n: int | None, what: str, *, lo: int = 1, hi: int = 99) -> str:
    ok = isinstance(value, str) and value.isascii() and value.isdigit()
    if not ok or (len(value) != n if n is not None else not lo <= len(value) <= hi):
        size = f"{n}" if n is not None else f"{lo}..{hi}"
        raise Iso8583Error(f"{what}: {size} decimal digits")
    return value


def _text(value: str, n: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != n or not (value.isascii() and value.isprintable()):
        raise Iso8583Error(f"{what}: {n} printable ASCII characters")
    return value


def _number(value: int, digits: int, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**digits:
        raise Iso8583Error(f"{what}: 0..{10**digits - 1}")
    return f"{value:0{digits}d}"


def _need(frame: Frame, number: int) -> str:
    value = frame.text(number)
    if value is None:
        raise Iso8583Error(f"{frame.mti}: field {number} missing")
    return value


def _int(frame: Frame, number: int) -> int:
    return int(_need(frame, number))


def _field60(type_code: str, batch: int, network: str = "000") -> str:
    return type_code + _number(batch, 6, "batch") + network + "50"


def _parse60(frame: Frame, type_codes: tuple[str, ...]) -> int:
    value = _need(frame, 60)
    if len(value) < 8 or value[:2] not in type_codes:
        raise Iso8583Error(f"{frame.mti}: field 60.1 {value[:2]!r}, expected {' or '.join(type_codes)}")
    return int(value[2:8])


def _expect(frame: Frame, number: int, expected: str) -> None:
    if frame.text(number) != expected:
        raise Iso8583Error(f"{frame.mti}: field {number} is not {expected} (unsupported transaction)")


class _Base:
    """Shared behaviour: a repr without card secrets, and the fields common to every message."""

    MTI: ClassVar[str]

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value: Any = getattr(self, f.name)
            if value is None or value == b"":
                continue
            if f.name == "pan":
                value = mask_pan(value)
            elif f.name in _HIDDEN or isinstance(value, bytes):
                value = f"<{len(value)} bytes>" if isinstance(value, bytes) else "<hidden>"
            parts.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _common(self) -> dict[int, FieldValue]:
        values: Any = self  # every message has these three
        return {
            11: _number(values.stan, 6, "STAN"),
            41: _text(values.terminal_id, 8, "terminal id"),
            42: _text(values.merchant_id, 15, "merchant id"),
        }

    @staticmethod
    def _card(
        d: dict[int, FieldValue], pan: str | None, psn: str | None, expiry: str | None, entry: str | None
    ) -> None:
        if pan is not None:
            d[2] = _digits(pan, None, "PAN", lo=12, hi=19)
        if expiry is not None:
            d[14] = _digits(expiry, 4, "expiry YYMM")
        if entry is not None:
            d[22] = _digits(entry, 3, "POS entry mode")
        if psn is not None:
            d[23] = _digits(psn, None, "PAN sequence number", lo=1, hi=3).zfill(3)


def _psn(frame: Frame) -> str | None:
    value = frame.text(23)
    return None if value is None else value[-2:]


class Message(Protocol):
    MTI: ClassVar[str]

    def to_frame(self, *, tpdu: bytes = ..., header: bytes = ...) -> Frame: ...


@dataclass(frozen=True, repr=False)
class _Answer(_Base):
    """What the answers to 0200/0400/0220 share: 39, 37, 38, 12/13/15, 55 (issuer data)."""

    response_code: str
    amount_fen: int
    stan: int
    terminal_id: str
    merchant_id: str
    batch: int
    pan: str | None = None
    rrn: str | None = None
    auth_code: str | None = None
    local_time: str | None = None
    local_date: str | None = None
    settlement_date: str | None = None
    icc_data: bytes = b""
    additional_response: str | None = None
    currency: str = CURRENCY_CNY

    PROCESSING: ClassVar[str] = "000000"
    TYPE_CODE: ClassVar[str] = "22"

    @property
    def approved(self) -> bool:
        return self.response_code == "00"

    @property
    def icc(self) -> IccData:
        return IccData.decode(self.icc_data)

    @property
    def issuer_authentication_data(self) -> bytes | None:
        """Tag 91 from field 55: ARPC (8) ‖ ARC (2), for EXTERNAL AUTHENTICATE; ``None`` when absent."""
        return self.icc.issuer_authentication_data

    @property
    def issuer_scripts(self) -> list[bytes]:
        """The issuer script templates (71 and 72, whole TLVs) in field 55, in order."""
        return self.icc.scripts

    @property
    def scripts_before(self) -> tuple[bytes, ...]:
        """Tag 71 templates (before the second GENERATE AC)."""
        return self.icc.scripts_before

    @property
    def scripts_after(self) -> tuple[bytes, ...]:
        """Tag 72 templates (after the second GENERATE AC)."""
        return self.icc.scripts_after

    def to_frame(self, *, tpdu: bytes = DEFAULT_TPDU, header: bytes = DEFAULT_HEADER) -> Frame:
        d = self._common()
        self._card(d, self.pan, None, None, None)
        d.update({3: self.PROCESSING, 4: _number(self.amount_fen, 12, "amount"), 25: "00"})
        d[39] = _text(self.response_code, 2, "response code")
        d[49] = _text(self.currency, 3, "currency")
        d[60] = _field60(self.TYPE_CODE, self.batch)
        for number, value, size, name in (
            (37, self.rrn, 12, "RRN"),
            (38, self.auth_code, 6, "authorisation code"),
        ):
            if value is not None:
                d[number] = _text(value, size, name)
        for number, value, size, name in (
            (12, self.local_time, 6, "time hhmmss"),
            (13, self.local_date, 4, "date MMDD"),
            (15, self.settlement_date, 4, "settlement date MMDD"),
        ):
            if value is not None:
                d[number] = _digits(value, size, name)
        if self.additional_response is not None:
            d[44] = self.additional_response
        if self.icc_data:
            d[55] = self.icc_data
        return Frame(self.MTI, d, tpdu, header)

    @classmethod
    def _fields_from(cls, frame: Frame) -> dict[str, Any]:
        _expect(frame, 3, cls.PROCESSING)
        return {
            "response_code": _need(frame, 39),
            "amount_fen": _int(frame, 4),
            "stan": _int(frame, 11),
            "terminal_id": _need(frame, 41),
            "merchant_id": _need(frame, 42),
            "batch": _parse60(frame, (cls.TYPE_CODE,)),
            "pan": frame.text(2),
            "rrn": frame.text(37),
            "auth_code": frame.text(38),
            "local_time": frame.text(12),
            "local_date": frame.text(13),
            "settlement_date": frame.text(15),
            "icc_data": frame.binary(55) or b"",
            "additional_response": frame.text(44),
            "currency": _need(frame, 49),
        }
