"""Typed messages of the acquirer link: sale (0200/0210), reversal (0400/0410), refund (0220/0230) and
settlement (0500/0510), each a frozen value with ``to_frame`` and ``from_frame``; :func:`encode_message`
and :func:`decode_message` add the framing and the MAC.

How CUP POS tells transactions apart (facts sheet A5): MTI, field 3, field 25 and 60.1 —

===========  ======  ==  =====  ==========================================================================
transaction  3       25  60.1   notes
===========  ======  ==  =====  ==========================================================================
sale         000000  00  22     22 = 051 contact IC + online PIN (52, 53, 26 = 12), 052 without PIN
reversal     000000  00  22     0400; 11 = the ORIGINAL's STAN and the original's 2, 4, 41, 42, 60.2, so the
                                host finds it by (41, 42, 60.2, 11); 39 = reason (98 no answer, 06 card
                                declined after approval, A0 bad MAC on the answer). The facts sheet only
                                says "0400/0410"; keeping 11 is CUP POS practice as publicly described
                                (unconfirmed against JR/T 0055).
refund       200000  00  25     0220, new STAN; the original's RRN in 37 and 61 = original batch (6) ‖
                                original STAN (6) ‖ original date MMDD (4). No reversal (A5 table).
settlement   —       —   00     0500; 60.3 = 201; 48 = domestic debit amount n12 ‖ count n3 ‖ credit amount
                                n12 ‖ count n3 ‖ result n1, then the same five for foreign cards (zeros);
                                the 0510 puts result 1 (balanced) or 2 (not balanced) in 48.
===========  ======  ==  =====  ==========================================================================

Field 60 as sent: 60.1 type ‖ 60.2 batch (6) ‖ 60.3 network code (000; 201 settlement) ‖ 60.4 terminal
capability (5: contact IC) ‖ 60.5 IC condition (0). Reprs mask the PAN and hide track 2, PIN block, ICC data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cardservice.acquiring._base import (
    CURRENCY_CNY,
    SECURITY_CONTROL_PIN,
    Message,
    _Answer,
    _Base,
    _digits,
    _expect,
    _field60,
    _int,
    _need,
    _number,
    _parse60,
    _psn,
    _text,
)
from cardservice.acquiring._errors import Iso8583Error
from cardservice.acquiring._frame import DEFAULT_HEADER, DEFAULT_TPDU, Frame, decode_frame, encode_frame
from cardservice.acquiring._icc import IccData
from cardservice.acquiring._settlement import (
    SETTLEMENT_BALANCED,
    SETTLEMENT_UNBALANCED,
    SettlementRequest,
    SettlementResponse,
    SettlementTotals,
)

__all__ = [
    "CURRENCY_CNY",
    "REVERSAL_BAD_MAC",
    "REVERSAL_CARD_DECLINED",
    "REVERSAL_FINAL_CODES",
    "REVERSAL_NO_ANSWER",
    "SECURITY_CONTROL_PIN",
    "SETTLEMENT_BALANCED",
    "SETTLEMENT_UNBALANCED",
    "AnyMessage",
    "Message",
    "RefundRequest",
    "RefundResponse",
    "ReversalRequest",
    "ReversalResponse",
    "SaleRequest",
    "SaleResponse",
    "SettlementRequest",
    "SettlementResponse",
    "SettlementTotals",
    "decode_message",
    "encode_message",
    "message_from_frame",
]


# -- sale -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class SaleRequest(_Base):
    """0200 sale with the chip. ``pin_block``: 8 bytes from the PIN pad, already encrypted under its TPK
    (the terminal never sees a clear PIN); with it, 22 should be 051 and 53/26 are filled in."""

    MTI: ClassVar[str] = "0200"
    pan: str
    amount_fen: int
    stan: int
    terminal_id: str
    merchant_id: str
    batch: int
    pos_entry_mode: str = "051"
    psn: str | None = None
    expiry: str | None = None
    track2: str | None = None
    pin_block: bytes | None = None
    icc_data: bytes = b""
    currency: str = CURRENCY_CNY
    security_control: str | None = None
    pin_capture_code: str | None = None

    def __post_init__(self) -> None:
        if self.pin_block is not None:
            if len(self.pin_block) != 8:
                raise Iso8583Error("PIN block: 8 bytes")
            if self.security_control is None:
                object.__setattr__(self, "security_control", SECURITY_CONTROL_PIN)
            if self.pin_capture_code is None:
                object.__setattr__(self, "pin_capture_code", "12")

    @property
    def icc(self) -> IccData:
        return IccData.decode(self.icc_data)

    def to_frame(self, *, tpdu: bytes = DEFAULT_TPDU, header: bytes = DEFAULT_HEADER) -> Frame:
        d = self._common()
        self._card(d, self.pan, self.psn, self.expiry, self.pos_entry_mode)
        d.update({3: "000000", 4: _number(self.amount_fen, 12, "amount"), 25: "00"})
        d[49] = _text(self.currency, 3, "currency")
        d[60] = _field60("22", self.batch)
        if self.pin_capture_code is not None:
            d[26] = self.pin_capture_code
        if self.track2 is not None:
            d[35] = self.track2
        if self.pin_block is not None:
            d[52] = self.pin_block
        if self.security_control is not None:
            d[53] = self.security_control
        if self.icc_data:
            d[55] = self.icc_data
        return Frame(self.MTI, d, tpdu, header)

    @classmethod
    def from_frame(cls, frame: Frame) -> SaleRequest:
        _expect(frame, 3, "000000")
        return cls(
            pan=_need(frame, 2),
            amount_fen=_int(frame, 4),
            stan=_int(frame, 11),
            terminal_id=_need(frame, 41),
            merchant_id=_need(frame, 42),
            batch=_parse60(frame, ("22",)),
            pos_entry_mode=_need(frame, 22),
            psn=_psn(frame),
            expiry=frame.text(14),
            track2=frame.text(35),
            pin_block=frame.binary(52),
            icc_data=frame.binary(55) or b"",
            currency=_need(frame, 49),
            security_control=frame.text(53),
            pin_capture_code=frame.text(26),
        )


@dataclass(frozen=True, repr=False)
class SaleResponse(_Answer):
    """0210: ``approved`` when 39 is 00; ``auth_code`` (38), ``rrn`` (37), issuer data from 55."""

    MTI: ClassVar[str] = "0210"

    @classmethod
    def from_frame(cls, frame: Frame) -> SaleResponse:
        return cls(**cls._fields_from(frame))


# -- reversal -----------------------------------------------------------------------------------------------

#: Field 39 of a 0400: why the terminal reverses.
REVERSAL_NO_ANSWER = "98"
REVERSAL_CARD_DECLINED = "06"
REVERSAL_BAD_MAC = "A0"


@dataclass(frozen=True, repr=False)
class ReversalRequest(_Base):
    """0400 for a sale: the original's PAN, amount, STAN, terminal, merchant and batch, and a reason in 39."""

    MTI: ClassVar[str] = "0400"
    pan: str
    amount_fen: int
    stan: int
    terminal_id: str
    merchant_id: str
    batch: int
    reason: str = REVERSAL_NO_ANSWER
    pos_entry_mode: str = "051"
    psn: str | None = None
    expiry: str | None = None
    auth_code: str | None = None
    icc_data: bytes = b""
    currency: str = CURRENCY_CNY

    @classmethod
    def for_sale(
        cls, sale: SaleRequest, reason: str, *, auth_code: str | None = None, icc_data: bytes = b""
    ) -> ReversalRequest:
        """The reversal of *sale* (same STAN); *icc_data*: the card's data after the second GENERATE AC."""
        return cls(
            pan=sale.pan,
            amount_fen=sale.amount_fen,
            stan=sale.stan,
            terminal_id=sale.terminal_id,
            merchant_id=sale.merchant_id,
            batch=sale.batch,
            reason=reason,
            pos_entry_mode=sale.pos_entry_mode,
            psn=sale.psn,
            expiry=sale.expiry,
            auth_code=auth_code,
            icc_data=icc_data,
            currency=sale.currency,
        )

    def to_frame(self, *, tpdu: bytes = DEFAULT_TPDU, header: bytes = DEFAULT_HEADER) -> Frame:
        d = self._common()
        self._card(d, self.pan, self.psn, self.expiry, self.pos_entry_mode)
        d.update({3: "000000", 4: _number(self.amount_fen, 12, "amount"), 25: "00"})
        d[39] = _text(self.reason, 2, "reversal reason")
        d[49] = _text(self.currency, 3, "currency")
        d[60] = _field60("22", self.batch)
        if self.auth_code is not None:
            d[38] = _text(self.auth_code, 6, "authorisation code")
        if self.icc_data:
            d[55] = self.icc_data
        return Frame(self.MTI, d, tpdu, header)

    @classmethod
    def from_frame(cls, frame: Frame) -> ReversalRequest:
        _expect(frame, 3, "000000")
        return cls(
            pan=_need(frame, 2),
            amount_fen=_int(frame, 4),
            stan=_int(frame, 11),
            terminal_id=_need(frame, 41),
            merchant_id=_need(frame, 42),
            batch=_parse60(frame, ("22",)),
            reason=_need(frame, 39),
            pos_entry_mode=_need(frame, 22),
            psn=_psn(frame),
            expiry=frame.text(14),
            auth_code=frame.text(38),
            icc_data=frame.binary(55) or b"",
            currency=_need(frame, 49),
        )


#: 0410 codes after which the terminal stops retrying: the host holds no money for the original.
REVERSAL_FINAL_CODES = frozenset({"00", "25"})


@dataclass(frozen=True, repr=False)
class ReversalResponse(_Answer):
    """0410. ``final``: 00 (reversed, now or before) or 25 (no such original: nothing was taken)."""

    MTI: ClassVar[str] = "0410"

    @property
    def final(self) -> bool:
        return self.response_code in REVERSAL_FINAL_CODES

    @classmethod
    def from_frame(cls, frame: Frame) -> ReversalResponse:
        return cls(**cls._fields_from(frame))


# -- refund -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class RefundRequest(_Base):
    """0220 refund (退货) of an earlier sale, named by its RRN (37) and batch/STAN/date (61)."""

    MTI: ClassVar[str] = "0220"
    pan: str
    amount_fen: int
    stan: int
    terminal_id: str
    merchant_id: str
    batch: int
    original_rrn: str
    original_batch: int
    original_stan: int
    original_date: str  # MMDD, field 13 of the original's answer
    pos_entry_mode: str = "051"
    psn: str | None = None
    expiry: str | None = None
    icc_data: bytes = b""
    currency: str = CURRENCY_CNY

    def to_frame(self, *, tpdu: bytes = DEFAULT_TPDU, header: bytes = DEFAULT_HEADER) -> Frame:
        d = self._common()
        self._card(d, self.pan, self.psn, self.expiry, self.pos_entry_mode)
        d.update({3: "200000", 4: _number(self.amount_fen, 12, "amount"), 25: "00"})
        d[37] = _text(self.original_rrn, 12, "original RRN")
        d[49] = _text(self.currency, 3, "currency")
        d[60] = _field60("25", self.batch)
        d[61] = (
            _number(self.original_batch, 6, "original batch")
            + _number(self.original_stan, 6, "original STAN")
            + _digits(self.original_date, 4, "original date MMDD")
        )
        if self.icc_data:
            d[55] = self.icc_data
        return Frame(self.MTI, d, tpdu, header)

    @classmethod
    def from_frame(cls, frame: Frame) -> RefundRequest:
        _expect(frame, 3, "200000")
        original = _need(frame, 61)
        if len(original) < 16:
            raise Iso8583Error("0220: field 61 shorter than batch, STAN and date")
        return cls(
            pan=_need(frame, 2),
            amount_fen=_int(frame, 4),
            stan=_int(frame, 11),
            terminal_id=_need(frame, 41),
            merchant_id=_need(frame, 42),
            batch=_parse60(frame, ("25",)),
            original_rrn=_need(frame, 37),
            original_batch=int(original[:6]),
            original_stan=int(original[6:12]),
            original_date=original[12:16],
            pos_entry_mode=_need(frame, 22),
            psn=_psn(frame),
            expiry=frame.text(14),
            icc_data=frame.binary(55) or b"",
            currency=_need(frame, 49),
        )


@dataclass(frozen=True, repr=False)
class RefundResponse(_Answer):
    """0230: ``approved`` when 39 is 00; ``rrn`` is the refund's own."""

    MTI: ClassVar[str] = "0230"
    PROCESSING: ClassVar[str] = "200000"
    TYPE_CODE: ClassVar[str] = "25"

    @classmethod
    def from_frame(cls, frame: Frame) -> RefundResponse:
        return cls(**cls._fields_from(frame))


# -- dispatch -----------------------------------------------------------------------------------------------

AnyMessage = (
    SaleRequest
    | SaleResponse
    | ReversalRequest
    | ReversalResponse
    | RefundRequest
    | RefundResponse
    | SettlementRequest
    | SettlementResponse
)

_BY_MTI: Mapping[str, Any] = {
    cls.MTI: cls
    for cls in (
        SaleRequest,
        SaleResponse,
        ReversalRequest,
        ReversalResponse,
        RefundRequest,
        RefundResponse,
        SettlementRequest,
        SettlementResponse,
    )
}


def message_from_frame(frame: Frame) -> AnyMessage:
    """The typed message of a decoded frame (by MTI; 3 and 60.1 must be those of a supported transaction)."""
    cls = _BY_MTI.get(frame.mti)
    if cls is None:
        raise Iso8583Error(f"MTI {frame.mti} is not supported")
    try:
        message: AnyMessage = cls.from_frame(frame)
    except ValueError as exc:  # int() of a field that was checked for digits cannot fail; a guard
        raise Iso8583Error(f"{frame.mti}: {exc}") from None
    return message


def encode_message(
    message: Message, *, mac_key: bytes, tpdu: bytes = DEFAULT_TPDU, header: bytes = DEFAULT_HEADER
) -> bytes:
    """The frame on the wire (length ‖ TPDU ‖ header ‖ message ‖ MAC under *mac_key*)."""
    return encode_frame(message.to_frame(tpdu=tpdu, header=header), mac_key=mac_key)


def decode_message(data: bytes, *, mac_key: bytes) -> AnyMessage:
    """The typed message in *data*; its MAC must verify under *mac_key* (:class:`MacError`)."""
    return message_from_frame(decode_frame(data, mac_key=mac_key))
