"""Ticket templates: pure functions from typed inputs to a :class:`Ticket`, all printed text in Chinese.

Inputs carry full data (the patient's name as the HIS has it, money in fen); the templates decide what
reaches paper: names masked (:func:`mask_name`), money as ``¥12.50`` (:func:`format_fen`). Time is an input
(``printed_at``), never read from the clock here, so a ticket is reproducible.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from cardservice.printing._ticket import (
    Align,
    Barcode,
    Column,
    Cut,
    Feed,
    Op,
    QrCode,
    Row,
    Rule,
    Text,
    Ticket,
)

__all__ = [
    "Flag",
    "LabItem",
    "LabReport",
    "PaymentReceipt",
    "ReceiptItem",
    "RegistrationSlip",
    "abnormal_flag",
    "format_fen",
    "lab_report",
    "mask_name",
    "payment_receipt",
    "registration_slip",
]

_WEEKDAYS = "一二三四五六日"


def format_fen(fen: int) -> str:
    """Money in fen (分) as printed: ``1250`` -> ``¥12.50``, ``-300`` -> ``-¥3.00``. Integers only: money
    never goes through float."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError("money is an integer number of fen")
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}¥{yuan}.{cents:02d}"


def mask_name(name: str) -> str:
    """The form of a patient's name that may be printed on a slip others can see: the first character
    kept, every other character a ``*`` (``李明`` -> ``李*``, ``阿依古丽·买买提`` -> ``阿*******``), the
    project's masking rule (cf. :func:`cardservice.apdu.mask_personal`). A one-character name is ``*``."""
    name = name.strip()
    if len(name) <= 1:
        return "*" * len(name)
    return name[0] + "*" * (len(name) - 1)


def _datetime(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M}"


def _date(value: date) -> str:
    return f"{value:%Y-%m-%d} 星期{_WEEKDAYS[value.weekday()]}"


def _check_fen(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer number of fen")


def _header(hospital: str, title: str) -> list[Op]:
    return [
        Text(hospital, Align.CENTER, bold=True, height=2),
        Text(title, Align.CENTER, bold=True),
        Rule("-"),
    ]


def _footer(printed_at: datetime, notice: str | None = None) -> list[Op]:
    ops: list[Op] = []
    if notice:
        ops.append(Text(notice, Align.CENTER))
    ops += [Text(f"打印时间：{printed_at:%Y-%m-%d %H:%M:%S}", Align.CENTER), Feed(2), Cut()]
    return ops


# -- 挂号单 ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationSlip:
    """A registration (挂号): who sees whom, when, and the queue number to wait for."""

    hospital: str
    queue_number: str  # as called in the waiting area, e.g. "A023"
    department: str
    doctor: str
    visit_date: date
    time_slot: str  # e.g. "上午 09:00-09:30"
    patient_name: str  # full name; printed masked
    fee_fen: int
    registration_no: str  # printed as a barcode (or QR) for the clinic's scanner
    printed_at: datetime
    code: Literal["barcode", "qr"] = "barcode"

    def __post_init__(self) -> None:
        _check_fen("fee_fen", self.fee_fen)
        if not self.queue_number or not self.registration_no:
            raise ValueError("queue number and registration number are required")


def registration_slip(slip: RegistrationSlip) -> Ticket:
    """挂号单: hospital, large queue number, department, doctor, date and slot, masked patient, fee, the
    registration number as a barcode (or QR), print time."""
    code: Op = QrCode(slip.registration_no) if slip.code == "qr" else Barcode(slip.registration_no, height=64)
    ops: list[Op] = [
        *_header(slip.hospital, "挂号单"),
        Text("排队号", Align.CENTER),
        Text(slip.queue_number, Align.CENTER, bold=True, width=3, height=3),
        Rule("-"),
        Row.pair("科室", slip.department),
        Row.pair("医生", slip.doctor),
        Row.pair("就诊日期", _date(slip.visit_date)),
        Row.pair("就诊时段", slip.time_slot),
        Row.pair("患者", mask_name(slip.patient_name)),
        Row.pair("挂号费", format_fen(slip.fee_fen)),
        Row.pair("挂号单号", slip.registration_no),
        Rule("-"),
        code,
        *_footer(slip.printed_at, "请按时到诊区候诊，过号请重新签到"),
    ]
    return Ticket(tuple(ops))


# -- 缴费收据 -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptItem:
    """One line of a bill. ``amount_fen`` defaults to quantity × unit price (give it when a discount or
    insurance share makes it differ)."""

    name: str
    quantity: int
    unit_price_fen: int
    amount_fen: int | None = None

    def __post_init__(self) -> None:
        _check_fen("unit_price_fen", self.unit_price_fen)
        if self.amount_fen is not None:
            _check_fen("amount_fen", self.amount_fen)
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity < 1:
            raise ValueError("quantity must be a positive integer")

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_price_fen if self.amount_fen is None else self.amount_fen


@dataclass(frozen=True)
class PaymentReceipt:
    hospital: str
    patient_name: str  # full name; printed masked
    items: tuple[ReceiptItem, ...]
    payment_method: str  # e.g. "微信支付", "医保统筹 + 个人账户"
    transaction_no: str  # printed, and as a QR code
    paid_at: datetime
    printed_at: datetime

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError("a receipt needs at least one item")
        if not self.transaction_no:
            raise ValueError("transaction number is required")

    @property
    def total_fen(self) -> int:
        return sum(item.amount for item in self.items)


_ITEM_COLUMNS = (
    Column(weight=1),
    Column(width=4, align=Align.RIGHT),
    Column(width=9, align=Align.RIGHT),
    Column(width=9, align=Align.RIGHT),
)


def payment_receipt(receipt: PaymentReceipt) -> Ticket:
    """缴费收据: items (name, quantity, unit price, amount), total, payment method, transaction number and
    time, the transaction number as a QR code."""
    ops: list[Op] = [
        *_header(receipt.hospital, "门诊缴费收据"),
        Row.pair("患者", mask_name(receipt.patient_name)),
        Row.pair("缴费时间", _datetime(receipt.paid_at)),
        Rule("-"),
        Row(("项目", "数量", "单价", "金额"), _ITEM_COLUMNS, bold=True),
    ]
    for item in receipt.items:
        cells = (item.name, str(item.quantity), format_fen(item.unit_price_fen), format_fen(item.amount))
        ops.append(Row(cells, _ITEM_COLUMNS))
    ops += [
        Rule("-"),
        Row.pair("合计", format_fen(receipt.total_fen), bold=True),
        Row.pair("支付方式", receipt.payment_method),
        Row.pair("交易流水号", receipt.transaction_no),
        QrCode(receipt.transaction_no),
        *_footer(receipt.printed_at, "请妥善保管本收据"),
    ]
    return Ticket(tuple(ops))


# -- 检验报告 -------------------------------------------------------------------------------------------


class Flag(StrEnum):
    """Abnormal-result flag as printed beside the result."""

    NONE = ""
    HIGH = "↑"
    LOW = "↓"
    ABNORMAL = "*"  # a qualitative result that is not the expected one (阳性 where 阴性 is normal)


_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*[-~～—–]\s*({_NUMBER})\s*$")
_BOUND = re.compile(rf"^\s*(<=|>=|<|>|≤|≥)\s*({_NUMBER})\s*$")


def abnormal_flag(result: str, reference: str) -> Flag:
    """↑ / ↓ for a numeric result outside a reference range written ``3.9-6.1`` (or ``~``), ``<5``,
    ``≤5``, ``>10``, ``≥10``. Anything not numeric (阴性, 1:100) gets no flag: the lab system flags those."""
    try:
        value = float(result.strip().lstrip("<>≤≥"))
    except ValueError:
        return Flag.NONE
    if not math.isfinite(value):
        return Flag.NONE
    if m := _RANGE.match(reference):
        low, high = float(m.group(1)), float(m.group(2))
        return Flag.LOW if value < low else Flag.HIGH if value > high else Flag.NONE
    if m := _BOUND.match(reference):
        op, bound = m.group(1), float(m.group(2))
        if op in ("<", "<=", "≤"):
            too_high = value >= bound if op == "<" else value > bound
            return Flag.HIGH if too_high else Flag.NONE
        too_low = value <= bound if op == ">" else value < bound
        return Flag.LOW if too_low else Flag.NONE
    return Flag.NONE


@dataclass(frozen=True)
class LabItem:
    """One result line. ``flag=None`` derives ↑/↓ from the result and reference range."""

    name: str
    result: str
    unit: str
    reference: str
    flag: Flag | None = None

    @property
    def shown_flag(self) -> Flag:
        return abnormal_flag(self.result, self.reference) if self.flag is None else self.flag


@dataclass(frozen=True)
class LabReport:
    hospital: str
    patient_name: str  # full name; printed masked
    sex: str  # "男" / "女"
    age: int | str  # years, or a text such as "3月"
    specimen: str  # e.g. "血清"
    report_no: str
    report_time: datetime
    items: tuple[LabItem, ...]
    printed_at: datetime
    title: str = "检验报告单"


# Every row of a table must use the same widths, so no weight-0 (content-sized) columns here.
_LAB_COLUMNS = (
    Column(weight=4),
    Column(weight=2, align=Align.RIGHT),
    Column(width=2),
    Column(weight=3),
    Column(weight=4),
)


def lab_report(report: LabReport, *, rows_per_page: int = 20) -> Ticket:
    """检验报告: patient (masked name, sex, age), specimen, report time, then the results table (item, result,
    ↑/↓, unit, reference range). More than ``rows_per_page`` items continue on further pages, each a
    complete ticket (header repeated, "第 n/m 页", cut)."""
    if rows_per_page < 1:
        raise ValueError("rows_per_page must be >= 1")
    pages = [report.items[i : i + rows_per_page] for i in range(0, len(report.items), rows_per_page)] or [()]
    age = f"{report.age}岁" if isinstance(report.age, int) else report.age
    legend = "↑ 高于参考范围  ↓ 低于参考范围"
    if any(item.shown_flag is Flag.ABNORMAL for item in report.items):
        legend += "  * 异常"
    ops: list[Op] = []
    for number, rows in enumerate(pages, start=1):
        ops += [
            *_header(report.hospital, report.title),
            Row(
                (f"姓名：{mask_name(report.patient_name)}", f"性别：{report.sex}", f"年龄：{age}"),
                (Column(weight=0), Column(weight=1, align=Align.CENTER), Column(weight=0)),
            ),
            Row.pair("标本", report.specimen),
            Row.pair("报告单号", report.report_no),
            Row.pair("报告时间", _datetime(report.report_time)),
            Rule("-"),
            Row(("项目", "结果", "", "单位", "参考值"), _LAB_COLUMNS, bold=True),
        ]
        ops += [
            Row((it.name, it.result, it.shown_flag.value, it.unit, it.reference), _LAB_COLUMNS) for it in rows
        ]
        if not rows:
            ops.append(Text("（无检验项目）", Align.CENTER))
        ops += [
            Rule("-"),
            Text(legend),
            Text(f"第 {number}/{len(pages)} 页", Align.CENTER),
            *_footer(report.printed_at),
        ]
    return Ticket(tuple(ops))
