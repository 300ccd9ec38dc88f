"""Sample template inputs (a registration slip, a payment receipt, a lab report of any length), for the
tests of the templates, the queue and the drivers."""

from __future__ import annotations

from datetime import date, datetime

from cardservice.printing import (
    LabItem,
    LabReport,
    PaperWidth,
    PaymentReceipt,
    ReceiptItem,
    RegistrationSlip,
)

__all__ = ["PAPERS", "PRINTED_AT", "make_lab", "make_receipt", "make_slip"]

PRINTED_AT = datetime(2025, 3, 14, 8, 30, 5)


def make_slip(**changes: object) -> RegistrationSlip:
    fields: dict[str, object] = {
        "hospital": "北京市朝阳区第一人民医院",
        "queue_number": "A023",
        "department": "心血管内科",
        "doctor": "王建国 主任医师",
        "visit_date": date(2025, 3, 14),
        "time_slot": "上午 09:00-09:30",
        "patient_name": "李明",
        "fee_fen": 1250,
        "registration_no": "R202503140023",
        "printed_at": PRINTED_AT,
    }
    fields.update(changes)
    return RegistrationSlip(**fields)  # type: ignore[arg-type]


def make_receipt(**changes: object) -> PaymentReceipt:
    fields: dict[str, object] = {
        "hospital": "北京市朝阳区第一人民医院",
        "patient_name": "阿依古丽·买买提",
        "items": (
            ReceiptItem("阿莫西林胶囊", 2, 1850),
            ReceiptItem("血常规", 1, 2500),
            ReceiptItem("挂号费（专家）", 1, 5000, amount_fen=4000),
        ),
        "payment_method": "微信支付",
        "transaction_no": "T2025031400001234",
        "paid_at": datetime(2025, 3, 14, 9, 1),
        "printed_at": PRINTED_AT,
    }
    fields.update(changes)
    return PaymentReceipt(**fields)  # type: ignore[arg-type]


def make_lab(count: int = 5, **changes: object) -> LabReport:
    results = ["3.2", "5.0", "7.8", "阴性", "<0.5"]
    items = tuple(
        LabItem(f"项目{n:02d}", results[n % len(results)], "mmol/L", "3.9-6.1") for n in range(count)
    )
    fields: dict[str, object] = {
        "hospital": "北京市朝阳区第一人民医院",
        "patient_name": "张三丰",
        "sex": "男",
        "age": 45,
        "specimen": "血清",
        "report_no": "L20250314-0007",
        "report_time": datetime(2025, 3, 14, 10, 15),
        "items": items,
        "printed_at": PRINTED_AT,
    }
    fields.update(changes)
    return LabReport(**fields)  # type: ignore[arg-type]


PAPERS = [PaperWidth.MM58, PaperWidth.MM80]
