"""What a patient's documents say, from the records they come from: a registration (挂号) of the HIS
becomes a :class:`RegistrationSlip`, a paid order of :mod:`cardservice.payments` with its HIS bill a
:class:`PaymentReceipt`, a HIS lab report a :class:`LabReport`. Pure functions: the route that prints
fetches the records (for the card holder only) and queues the result.

    slip = registration_slip_of(registration, patient_name, hospital="某某医院")
    receipt = payment_receipt_of(order, bill, patient_name, hospital=...)     # bill None for a top-up
    report = lab_report_of(his_report, patient_name, sex=1, birth_date=date(1985, 3, 7), hospital=...)

Each raises :class:`~cardservice.printing.NotPrintable` (code ``not_printable``) for a record that must
not be printed as asked (a cancelled registration, an order not paid).
"""

from __future__ import annotations

import datetime as _dt

from cardservice.his import CHINA_TZ, Bill, Registration
from cardservice.his import LabReport as HisLabReport
from cardservice.payments import Order
from cardservice.printing._errors import NotPrintable
from cardservice.printing._templates import (
    Flag,
    LabItem,
    LabReport,
    PaymentReceipt,
    ReceiptItem,
    RegistrationSlip,
)

__all__ = [
    "METHOD_LABELS",
    "NotPrintable",
    "lab_report_of",
    "payment_receipt_of",
    "registration_slip_of",
]

#: How a payment method is named on a receipt.
METHOD_LABELS = {"prepaid": "就诊卡账户", "gateway": "银行卡", "cash": "现金"}
#: The sex code of the card (GB/T 2261.1, XB) as a report prints it.
_SEX = {0: "未知", 1: "男", 2: "女", 9: "未说明"}
_PAID_ORDERS = ("settled", "charged")
_FLAGS = {"↑": Flag.HIGH, "↓": Flag.LOW, "*": Flag.ABNORMAL, "": Flag.NONE}


def _local(moment: _dt.datetime) -> _dt.datetime:
    return moment.astimezone(CHINA_TZ)


def _now() -> _dt.datetime:
    return _dt.datetime.now(CHINA_TZ).replace(microsecond=0)


def registration_slip_of(
    registration: Registration, patient_name: str, *, hospital: str, printed_at: _dt.datetime | None = None
) -> RegistrationSlip:
    """挂号单 of a registration that is not cancelled: the queue number (就诊序号) three digits wide, as
    called out in the waiting area; the slot as 上午/下午 and its hours; the registration id as barcode."""
    if registration.status == "cancelled":
        raise NotPrintable(
            f"registration {registration.id} is {registration.status}", "该挂号已取消，不能打印挂号单"
        )
    start, end = _local(registration.start), _local(registration.end)
    session = "上午" if start.hour < 12 else "下午"
    return RegistrationSlip(
        hospital=hospital,
        queue_number=f"{registration.queue_number:03d}",
        department=registration.department_name,
        doctor=registration.doctor_name or "普通门诊",
        visit_date=start.date(),
        time_slot=f"{session} {start:%H:%M}-{end:%H:%M}",
        patient_name=patient_name,
        fee_fen=registration.fee_fen,
        registration_no=registration.id,
        printed_at=printed_at or _now(),
    )


def payment_receipt_of(
    order: Order,
    bill: Bill | None,
    patient_name: str,
    *,
    hospital: str,
    printed_at: _dt.datetime | None = None,
) -> PaymentReceipt:
    """缴费收据 of a paid order: a bill payment lists the bill's items (``bill`` is the order's bill), a
    top-up is one line 就诊卡账户充值. The transaction number is the order reference (what the counter looks
    up); the amounts are the order's, which the payment service checked against the bill."""
    if order.kind not in ("bill", "top_up"):
        raise NotPrintable(f"order {order.reference} is a {order.kind}", "退费记录请到收费窗口打印")
    if order.status not in _PAID_ORDERS:
        raise NotPrintable(f"order {order.reference} is {order.status}", "该订单未支付成功，不能打印收据")
    if order.kind == "bill":
        if bill is None or bill.id != order.bill_id:
            raise ValueError("a bill payment's receipt needs that bill")
        items = tuple(
            ReceiptItem(item.name, item.quantity, item.unit_price_fen, item.amount_fen) for item in bill.items
        ) or (ReceiptItem(bill.title, 1, order.amount_fen),)
        if sum(item.amount for item in items) != order.amount_fen:
            # The HIS changed the bill after it was paid: print what was paid, as one line.
            items = (ReceiptItem(bill.title, 1, order.amount_fen),)
    else:
        items = (ReceiptItem("就诊卡账户充值", 1, order.amount_fen),)
    return PaymentReceipt(
        hospital=hospital,
        patient_name=patient_name,
        items=items,
        payment_method=METHOD_LABELS.get(order.method, order.method),
        transaction_no=order.reference,
        paid_at=_local(order.created_at).replace(microsecond=0),
        printed_at=printed_at or _now(),
    )


def _age(birth_date: _dt.date | None, on: _dt.date) -> int | str:
    """Whole years on the day (months for a baby under one, as Chinese reports write it)."""
    if birth_date is None or birth_date > on:
        return "未知"
    months = (on.year - birth_date.year) * 12 + on.month - birth_date.month - (on.day < birth_date.day)
    return months // 12 if months >= 12 else f"{months}月"


def lab_report_of(
    report: HisLabReport,
    patient_name: str,
    *,
    sex: int | None,
    birth_date: _dt.date | None,
    hospital: str,
    printed_at: _dt.datetime | None = None,
) -> LabReport:
    """检验报告单 of a HIS lab report: sex and age from the card (age on the day the specimen was taken),
    each item's flag as the HIS computed it from the reference range."""
    items = tuple(
        LabItem(
            name=item.name,
            result=item.result,
            unit=item.unit or "",
            reference=item.reference_range,
            flag=_FLAGS.get(item.abnormal, Flag.NONE),
        )
        for item in report.items
    )
    return LabReport(
        hospital=hospital,
        patient_name=patient_name,
        sex=_SEX.get(sex if sex is not None else 0, "未知"),
        age=_age(birth_date, _local(report.collected_at).date()),
        specimen=report.specimen,
        report_no=report.id,
        report_time=_local(report.reported_at).replace(microsecond=0),
        items=items,
        printed_at=printed_at or _now(),
        title=f"{report.title}检验报告单",
    )
