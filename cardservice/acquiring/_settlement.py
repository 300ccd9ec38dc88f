"""Settlement (0500/0510): the terminal's totals of one batch against the host's (see ``_messages``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cardservice.acquiring._base import (
    CURRENCY_CNY,
    _Base,
    _digits,
    _field60,
    _int,
    _need,
    _number,
    _parse60,
    _text,
)
from cardservice.acquiring._errors import Iso8583Error
from cardservice.acquiring._frame import DEFAULT_HEADER, DEFAULT_TPDU, Frame

__all__ = [
    "SETTLEMENT_BALANCED",
    "SETTLEMENT_UNBALANCED",
    "SettlementRequest",
    "SettlementResponse",
    "SettlementTotals",
]


@dataclass(frozen=True)
class SettlementTotals:
    """A batch's domestic totals as field 48 carries them (debit: sales net of reversals; credit: refunds)."""

    debit_count: int = 0
    debit_amount_fen: int = 0
    credit_count: int = 0
    credit_amount_fen: int = 0

    def field48(self, result: str = "0") -> str:
        domestic = (
            _number(self.debit_amount_fen, 12, "debit total")
            + _number(self.debit_count, 3, "debit count")
            + _number(self.credit_amount_fen, 12, "credit total")
            + _number(self.credit_count, 3, "credit count")
            + _digits(result, 1, "settlement result")
        )
        return domestic + "0" * 31  # foreign cards: none

    @classmethod
    def parse48(cls, value: str) -> tuple[SettlementTotals, str]:
        if len(value) < 31:
            raise Iso8583Error("field 48: shorter than the domestic totals (31 digits)")
        totals = cls(int(value[12:15]), int(value[0:12]), int(value[27:30]), int(value[15:27]))
        return totals, value[30]


@dataclass(frozen=True, repr=False)
class SettlementRequest(_Base):
    """0500: the terminal's totals of one batch; the host answers whether its own agree."""

    MTI: ClassVar[str] = "0500"
    stan: int
    terminal_id: str
    merchant_id: str
    batch: int
    totals: SettlementTotals
    currency: str = CURRENCY_CNY

    def to_frame(self, *, tpdu: bytes = DEFAULT_TPDU, header: bytes = DEFAULT_HEADER) -> Frame:
        d = self._common()
        d[48] = self.totals.field48()
        d[49] = _text(self.currency, 3, "currency")
        d[60] = _field60("00", self.batch, "201")
        return Frame(self.MTI, d, tpdu, header)

    @classmethod
    def from_frame(cls, frame: Frame) -> SettlementRequest:
        totals, _ = SettlementTotals.parse48(_need(frame, 48))
        return cls(
            stan=_int(frame, 11),
            terminal_id=_need(frame, 41),
            merchant_id=_need(frame, 42),
            batch=_parse60(frame, ("00",)),
            totals=totals,
            currency=_need(frame, 49),
        )


#: 48's result digit in a 0510.
SETTLEMENT_BALANCED = "1"
SETTLEMENT_UNBALANCED = "2"


@dataclass(frozen=True, repr=False)
class SettlementResponse(_Base):
    """0510: 39, and in 48 the host's totals with result 1 (balanced) or 2 (not: batch upload follows)."""

    MTI: ClassVar[str] = "0510"
    response_code: str
    stan: int
    terminal_id: str
    merchant_id: str
    batch: int
    totals: SettlementTotals
    result: str
    local_time: str | None = None
    local_date: str | None = None
    settlement_date: str | None = None
    currency: str = CURRENCY_CNY

    @property
    def balanced(self) -> bool:
        return self.response_code == "00" and self.result == SETTLEMENT_BALANCED

    def to_frame(self, *, tpdu: bytes = DEFAULT_TPDU, header: bytes = DEFAULT_HEADER) -> Frame:
        d = self._common()
        d[39] = _text(self.response_code, 2, "response code")
        d[48] = self.totals.field48(self.result)
        d[49] = _text(self.currency, 3, "currency")
        d[60] = _field60("00", self.batch, "201")
        for number, value, size in (
            (12, self.local_time, 6),
            (13, self.local_date, 4),
            (15, self.settlement_date, 4),
        ):
            if value is not None:
                d[number] = _digits(value, size, f"field {number}")
        return Frame(self.MTI, d, tpdu, header)

    @classmethod
    def from_frame(cls, frame: Frame) -> SettlementResponse:
        totals, result = SettlementTotals.parse48(_need(frame, 48))
        return cls(
            response_code=_need(frame, 39),
            stan=_int(frame, 11),
            terminal_id=_need(frame, 41),
            merchant_id=_need(frame, 42),
            batch=_parse60(frame, ("00",)),
            totals=totals,
            result=result,
            local_time=frame.text(12),
            local_date=frame.text(13),
            settlement_date=frame.text(15),
            currency=_need(frame, 49),
        )
