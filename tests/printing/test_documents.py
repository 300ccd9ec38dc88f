"""What a patient's documents say, from hand-made HIS and payment records (pure: no database, no printer):
the registration slip (挂号单), the payment receipt (缴费收据) and the lab report (检验报告单)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cardservice.his import CHINA_TZ, Bill, BillItem, LabItem, LabReport, Registration
from cardservice.payments import Order
from cardservice.printing import (
    METHOD_LABELS,
    Flag,
    NotPrintable,
    PaperWidth,
    ReceiptItem,
    lab_report,
    lab_report_of,
    payment_receipt,
    payment_receipt_of,
    preview_pages,
    registration_slip,
    registration_slip_of,
)

UTC = dt.UTC
HOSPITAL = "演示市第一人民医院"
NAME = "欧阳娜娜"
PRINTED_AT = dt.datetime(2025, 3, 14, 10, 0, 5, tzinfo=CHINA_TZ)


def _text(ticket: Any) -> str:
    return "".join(preview_pages(ticket, PaperWidth.MM80))


# -- 挂号单 ---------------------------------------------------------------------------------------------


def make_registration(**changes: Any) -> Registration:
    fields: dict[str, Any] = {
        "id": "GH0123456789ABCD",
        "queue_number": 7,
        "slot_id": "D01-01-20250314-0900",
        "department_id": "D01",
        "department_name": "内科",
        "doctor_id": "D01-01",
        "doctor_name": "王建国",
        "start": dt.datetime(2025, 3, 14, 1, 0, tzinfo=UTC),  # 09:00 in Beijing
        "end": dt.datetime(2025, 3, 14, 1, 30, tzinfo=UTC),
        "fee_fen": 5000,
        "status": "booked",
        "bill_id": "SF0123456789ABCD",
    }
    fields.update(changes)
    return Registration(**fields)


def test_a_registration_becomes_its_slip() -> None:
    slip = registration_slip_of(make_registration(), NAME, hospital=HOSPITAL, printed_at=PRINTED_AT)
    assert slip.hospital == HOSPITAL
    assert slip.queue_number == "007"
    assert (slip.department, slip.doctor) == ("内科", "王建国")
    assert slip.visit_date == dt.date(2025, 3, 14)
    assert slip.time_slot == "上午 09:00-09:30"
    assert slip.patient_name == NAME  # the template masks it
    assert (slip.fee_fen, slip.registration_no) == (5000, "GH0123456789ABCD")
    assert slip.printed_at == PRINTED_AT
    assert slip.code == "barcode"
    text = _text(registration_slip(slip))
    assert "欧***" in text
    assert NAME not in text
    assert "[BARCODE CODE128: GH0123456789ABCD]" in text
    assert "\uffe550.00" in text  # ¥50.00 in the printers' full-width yuan sign


@pytest.mark.parametrize(
    ("number", "shown"), [(1, "001"), (23, "023"), (999, "999"), (1000, "1000"), (12345, "12345")]
)
def test_the_queue_number_is_three_digits_wide_at_least(number: int, shown: str) -> None:
    slip = registration_slip_of(make_registration(queue_number=number), NAME, hospital=HOSPITAL)
    assert slip.queue_number == shown


@pytest.mark.parametrize(
    ("start", "end", "day", "slot"),
    [
        # UTC times: the session and the hours are Beijing time (UTC+8), and so is the date
        (dt.datetime(2025, 3, 13, 23, 30, tzinfo=UTC), dt.datetime(2025, 3, 14, 0, 0, tzinfo=UTC),
         dt.date(2025, 3, 14), "上午 07:30-08:00"),
        (dt.datetime(2025, 3, 14, 3, 30, tzinfo=UTC), dt.datetime(2025, 3, 14, 3, 59, tzinfo=UTC),
         dt.date(2025, 3, 14), "上午 11:30-11:59"),
        (dt.datetime(2025, 3, 14, 4, 0, tzinfo=UTC), dt.datetime(2025, 3, 14, 4, 30, tzinfo=UTC),
         dt.date(2025, 3, 14), "下午 12:00-12:30"),
        (dt.datetime(2025, 3, 14, 5, 30, tzinfo=UTC), dt.datetime(2025, 3, 14, 9, 0, tzinfo=UTC),
         dt.date(2025, 3, 14), "下午 13:30-17:00"),
        (dt.datetime(2025, 3, 14, 15, 0, tzinfo=UTC), dt.datetime(2025, 3, 14, 15, 30, tzinfo=UTC),
         dt.date(2025, 3, 14), "下午 23:00-23:30"),
        (dt.datetime(2025, 3, 14, 16, 0, tzinfo=UTC), dt.datetime(2025, 3, 14, 16, 30, tzinfo=UTC),
         dt.date(2025, 3, 15), "上午 00:00-00:30"),
        # already Beijing time
        (dt.datetime(2025, 3, 14, 14, 0, tzinfo=CHINA_TZ), dt.datetime(2025, 3, 14, 14, 30, tzinfo=CHINA_TZ),
         dt.date(2025, 3, 14), "下午 14:00-14:30"),
    ],
)  # fmt: skip
def test_the_session_and_hours_are_beijing_time(
    start: dt.datetime, end: dt.datetime, day: dt.date, slot: str
) -> None:
    slip = registration_slip_of(make_registration(start=start, end=end), NAME, hospital=HOSPITAL)
    assert (slip.visit_date, slip.time_slot) == (day, slot)


def test_a_general_clinic_registration_names_no_doctor() -> None:
    slip = registration_slip_of(
        make_registration(doctor_id=None, doctor_name=None, fee_fen=1000), NAME, hospital=HOSPITAL
    )
    assert slip.doctor == "普通门诊"
    assert "普通门诊" in _text(registration_slip(slip))


def test_a_cancelled_registration_is_not_printable() -> None:
    with pytest.raises(NotPrintable) as refused:
        registration_slip_of(make_registration(status="cancelled"), NAME, hospital=HOSPITAL)
    assert refused.value.message_zh == "该挂号已取消，不能打印挂号单"
    assert "GH0123456789ABCD" in refused.value.message
    assert isinstance(refused.value, ValueError)


def test_the_print_time_defaults_to_now_in_beijing() -> None:
    before = dt.datetime.now(UTC).replace(microsecond=0)
    slip = registration_slip_of(make_registration(), NAME, hospital=HOSPITAL)
    after = dt.datetime.now(UTC)
    assert slip.printed_at.utcoffset() == dt.timedelta(hours=8)
    assert slip.printed_at.microsecond == 0
    assert before <= slip.printed_at <= after


# -- 缴费收据 -------------------------------------------------------------------------------------------

PAID_AT_UTC = dt.datetime(2025, 3, 14, 1, 2, 3, 456789, tzinfo=UTC)


def make_bill(**changes: Any) -> Bill:
    fields: dict[str, Any] = {
        "id": "SF-0001",
        "title": "药费",
        "department": "内科",
        "items": (
            BillItem("阿莫西林胶囊 0.25g×24粒", "盒", 2, 1850, 3700),
            BillItem("布洛芬缓释胶囊", "盒", 1, 2260, 2260),
            BillItem("复方甘草片", "瓶", 1, 850, 600),  # discounted: the amount is not quantity × price
        ),
        "total_fen": 6560,
        "status": "settled",
        "created_at": dt.datetime(2025, 3, 13, 2, 20, tzinfo=UTC),
        "settled_at": PAID_AT_UTC,
        "payment_reference": "PO-0001",
    }
    fields.update(changes)
    return Bill(**fields)


def make_order(**changes: Any) -> Order:
    fields: dict[str, Any] = {
        "reference": "PO-0001",
        "kind": "bill",
        "method": "prepaid",
        "status": "settled",
        "amount_fen": 6560,
        "card": "1101************30",
        "bill_id": "SF-0001",
        "parent_reference": None,
        "method_transaction_id": None,
        "error_code": None,
        "message": None,
        "created_at": PAID_AT_UTC,
        "updated_at": PAID_AT_UTC,
    }
    fields.update(changes)
    return Order(**fields)


def test_a_paid_bill_becomes_a_receipt_of_its_items() -> None:
    receipt = payment_receipt_of(make_order(), make_bill(), NAME, hospital=HOSPITAL, printed_at=PRINTED_AT)
    assert receipt.items == (
        ReceiptItem("阿莫西林胶囊 0.25g×24粒", 2, 1850, 3700),
        ReceiptItem("布洛芬缓释胶囊", 1, 2260, 2260),
        ReceiptItem("复方甘草片", 1, 850, 600),
    )
    assert receipt.total_fen == 6560
    assert (receipt.payment_method, receipt.transaction_no) == ("就诊卡账户", "PO-0001")
    assert receipt.paid_at == dt.datetime(2025, 3, 14, 9, 2, 3, tzinfo=CHINA_TZ)
    assert receipt.paid_at.microsecond == 0
    assert receipt.paid_at.utcoffset() == dt.timedelta(hours=8)
    assert (receipt.hospital, receipt.patient_name, receipt.printed_at) == (HOSPITAL, NAME, PRINTED_AT)
    ticket = payment_receipt(receipt)
    text = _text(ticket)
    for expected in ("门诊缴费收据", "阿莫西林胶囊", "复方甘草片", "\uffe565.60", "就诊卡账户", "PO-0001",
                     "2025-03-14 09:02", "欧***"):  # fmt: skip
        assert expected in text, expected
    assert NAME not in text
    assert "[QR: PO-0001]" in text


def test_a_charged_order_not_yet_settled_at_the_his_is_printable() -> None:
    receipt = payment_receipt_of(make_order(status="charged"), make_bill(), NAME, hospital=HOSPITAL)
    assert receipt.total_fen == 6560


@pytest.mark.parametrize("method", ["prepaid", "gateway", "cash"])
def test_a_top_up_is_one_line(method: str) -> None:
    order = make_order(reference="TU-0001", kind="top_up", method=method, amount_fen=20_000, bill_id=None)
    receipt = payment_receipt_of(order, None, NAME, hospital=HOSPITAL)
    assert receipt.items == (ReceiptItem("就诊卡账户充值", 1, 20_000),)
    assert receipt.total_fen == 20_000
    assert receipt.transaction_no == "TU-0001"
    assert receipt.payment_method == METHOD_LABELS[method]


def test_methods_are_named_as_a_patient_reads_them() -> None:
    assert METHOD_LABELS == {"prepaid": "就诊卡账户", "gateway": "银行卡", "cash": "现金"}
    labels = {
        method: payment_receipt_of(
            make_order(method=method), make_bill(), NAME, hospital=HOSPITAL
        ).payment_method
        for method in ("prepaid", "gateway", "cash", "wechat")
    }
    assert labels == {"prepaid": "就诊卡账户", "gateway": "银行卡", "cash": "现金", "wechat": "wechat"}


@pytest.mark.parametrize("status", ["pending", "in_doubt", "declined", "failed", "unsettled", "refunded"])
def test_an_order_that_is_not_paid_is_not_printable(status: str) -> None:
    with pytest.raises(NotPrintable) as refused:
        payment_receipt_of(make_order(status=status), make_bill(), NAME, hospital=HOSPITAL)
    assert refused.value.message_zh == "该订单未支付成功，不能打印收据"
    assert status in refused.value.message


@pytest.mark.parametrize("status", ["pending", "in_doubt", "failed", "refunded"])
def test_a_refund_is_never_printed_as_a_receipt(status: str) -> None:
    order = make_order(reference="RF-0001", kind="refund", status=status, parent_reference="PO-0001")
    with pytest.raises(NotPrintable):
        payment_receipt_of(order, None, NAME, hospital=HOSPITAL)


def test_a_refund_says_where_to_print_it() -> None:
    """A refund order ends ``refunded`` (cardservice.payments): the refusal must say 退费记录请到收费窗口打印,
    not that the order was not paid."""
    order = make_order(reference="RF-0001", kind="refund", status="refunded", parent_reference="PO-0001")
    with pytest.raises(NotPrintable) as refused:
        payment_receipt_of(order, None, NAME, hospital=HOSPITAL)
    assert refused.value.message_zh == "退费记录请到收费窗口打印"


def test_items_that_do_not_sum_to_the_paid_amount_are_one_line_of_what_was_paid() -> None:
    # the HIS changed the bill after it was paid: the receipt shows what was paid
    changed = make_bill(items=(*make_bill().items, BillItem("静脉采血", "次", 1, 500, 500)), total_fen=7060)
    receipt = payment_receipt_of(make_order(), changed, NAME, hospital=HOSPITAL)
    assert receipt.items == (ReceiptItem("药费", 1, 6560),)
    assert receipt.total_fen == 6560


def test_a_bill_without_items_is_one_line_of_its_title() -> None:
    receipt = payment_receipt_of(make_order(), make_bill(items=()), NAME, hospital=HOSPITAL)
    assert receipt.items == (ReceiptItem("药费", 1, 6560),)


def test_a_bill_payment_needs_its_own_bill() -> None:
    with pytest.raises(ValueError, match="needs that bill") as missing:
        payment_receipt_of(make_order(), None, NAME, hospital=HOSPITAL)
    assert not isinstance(missing.value, NotPrintable)
    with pytest.raises(ValueError, match="needs that bill"):
        payment_receipt_of(make_order(), make_bill(id="SF-9999"), NAME, hospital=HOSPITAL)


# -- 检验报告单 ------------------------------------------------------------------------------------------


def make_report(**changes: Any) -> LabReport:
    fields: dict[str, Any] = {
        "id": "JY-0001",
        "title": "血常规",
        "specimen": "全血",
        "department": "内科",
        "doctor_name": "王建国",
        "collected_at": dt.datetime(2025, 3, 14, 0, 26, tzinfo=UTC),  # 08:26 in Beijing
        "reported_at": dt.datetime(2025, 3, 14, 1, 41, 7, 999, tzinfo=UTC),
        "items": (
            LabItem("WBC", "白细胞计数", "10.8", "10^9/L", "3.5", "9.5"),  # ↑
            LabItem("LYMPH%", "淋巴细胞百分比", "15.1", "%", "20", "50"),  # ↓
            LabItem("HGB", "血红蛋白", "138", "g/L", "130", "175"),
            LabItem("DBIL", "直接胆红素", "7.2", "μmol/L", None, "6.8"),  # ↑ against "<6.8"
            LabItem("SG", "比重", "1.020", None, "1.003", "1.030"),  # no unit
        ),
    }
    fields.update(changes)
    return LabReport(**fields)


URINE_BLOOD = LabItem("BLD", "隐血", "弱阳性(±)", None, reference_text="阴性")  # * (qualitative)


def test_a_lab_report_becomes_its_printed_form() -> None:
    report = lab_report_of(
        make_report(), NAME, sex=1, birth_date=dt.date(1985, 3, 7), hospital=HOSPITAL, printed_at=PRINTED_AT
    )
    assert report.title == "血常规检验报告单"
    assert (report.hospital, report.patient_name, report.sex, report.age) == (HOSPITAL, NAME, "男", 40)
    assert (report.specimen, report.report_no) == ("全血", "JY-0001")
    assert report.report_time == dt.datetime(2025, 3, 14, 9, 41, 7, tzinfo=CHINA_TZ)
    assert report.printed_at == PRINTED_AT
    assert [(i.name, i.result, i.unit, i.reference, i.flag) for i in report.items] == [
        ("白细胞计数", "10.8", "10^9/L", "3.5-9.5", Flag.HIGH),
        ("淋巴细胞百分比", "15.1", "%", "20-50", Flag.LOW),
        ("血红蛋白", "138", "g/L", "130-175", Flag.NONE),
        ("直接胆红素", "7.2", "μmol/L", "<6.8", Flag.HIGH),
        ("比重", "1.020", "", "1.003-1.030", Flag.NONE),
    ]


@pytest.mark.parametrize(("sex", "shown"), [(1, "男"), (2, "女"), (0, "未知"), (None, "未知"), (9, "未说明")])
def test_sex_comes_from_the_card_code(sex: int | None, shown: str) -> None:
    report = lab_report_of(make_report(), NAME, sex=sex, birth_date=None, hospital=HOSPITAL)
    assert report.sex == shown
    assert f"性别：{shown}" in _text(lab_report(report))


@pytest.mark.parametrize(
    ("birth", "collected", "age"),
    [
        (dt.date(1985, 3, 7), dt.datetime(2025, 3, 7, 0, 30, tzinfo=UTC), 40),  # the birthday
        (dt.date(1985, 3, 7), dt.datetime(2025, 3, 6, 15, 59, tzinfo=UTC), 39),  # 23:59 the day before
        # 00:30 on the birthday in Beijing, still the day before in UTC: Beijing's date counts
        (dt.date(1985, 3, 7), dt.datetime(2025, 3, 6, 16, 30, tzinfo=UTC), 40),
        (dt.date(2024, 3, 14), dt.datetime(2025, 3, 14, 1, 0, tzinfo=UTC), 1),
        (dt.date(2024, 3, 15), dt.datetime(2025, 3, 14, 1, 0, tzinfo=UTC), "11月"),
        (dt.date(2025, 1, 15), dt.datetime(2025, 3, 14, 1, 0, tzinfo=UTC), "1月"),
        (dt.date(2025, 1, 14), dt.datetime(2025, 3, 14, 1, 0, tzinfo=UTC), "2月"),
        (dt.date(2025, 3, 1), dt.datetime(2025, 3, 14, 1, 0, tzinfo=UTC), "0月"),
        (None, dt.datetime(2025, 3, 14, 1, 0, tzinfo=UTC), "未知"),
        (dt.date(2025, 3, 15), dt.datetime(2025, 3, 14, 1, 0, tzinfo=UTC), "未知"),  # born after the test
    ],
)
def test_age_on_the_day_the_specimen_was_taken(
    birth: dt.date | None, collected: dt.datetime, age: int | str
) -> None:
    report = lab_report_of(
        make_report(collected_at=collected), NAME, sex=2, birth_date=birth, hospital=HOSPITAL
    )
    assert report.age == age
    shown = f"{age}岁" if isinstance(age, int) else age
    assert f"年龄：{shown}" in _text(lab_report(report))


def test_the_flags_are_the_his_flags_mapped_to_the_printed_ones() -> None:
    items = (
        LabItem("A", "偏高", "12", "U/L", "1", "10"),
        LabItem("B", "偏低", "0.5", "U/L", "1", "10"),
        URINE_BLOOD,
        LabItem("C", "正常定性", "阴性", None, reference_text="阴性"),
        # not comparable for the HIS (a "<" result): no flag, even where the template would guess one
        LabItem("D", "低于检出限", "<0.5", "ng/mL", "1", "10"),
    )
    report = lab_report_of(make_report(items=items), NAME, sex=1, birth_date=None, hospital=HOSPITAL)
    assert [i.flag for i in report.items] == [Flag.HIGH, Flag.LOW, Flag.ABNORMAL, Flag.NONE, Flag.NONE]
    assert [i.shown_flag for i in report.items] == [Flag.HIGH, Flag.LOW, Flag.ABNORMAL, Flag.NONE, Flag.NONE]
    assert [i.reference for i in report.items] == ["1-10", "1-10", "阴性", "阴性", "1-10"]
    assert [i.unit for i in report.items] == ["U/L", "U/L", "", "", "ng/mL"]


def test_the_abnormal_legend_is_printed_only_with_an_abnormal_result() -> None:
    plain = lab_report_of(make_report(), NAME, sex=1, birth_date=None, hospital=HOSPITAL)
    text = _text(lab_report(plain))
    assert "↑ 高于参考范围  ↓ 低于参考范围" in text
    assert "* 异常" not in text
    assert "血常规检验报告单" in text
    assert "欧***" in text
    assert NAME not in text
    with_star = lab_report_of(
        make_report(items=(*make_report().items, URINE_BLOOD)),
        NAME,
        sex=1,
        birth_date=None,
        hospital=HOSPITAL,
    )
    text = _text(lab_report(with_star))
    assert "↑ 高于参考范围  ↓ 低于参考范围  * 异常" in text
    row = next(line for line in text.splitlines() if line.startswith("隐血"))
    assert "弱阳性(" in row  # the narrow result column wraps the rest onto the next line
    assert row.split()[2] == "*"  # the flag column, beside the result
    assert "*" not in next(line for line in text.splitlines() if line.startswith("白细胞计数"))


def test_a_long_report_prints_on_several_pages_and_an_empty_one_says_so() -> None:
    items = tuple(LabItem(f"X{n}", f"项目{n:02d}", str(n), "U/L", "0", "100") for n in range(45))
    report = lab_report_of(make_report(items=items), NAME, sex=1, birth_date=None, hospital=HOSPITAL)
    pages = preview_pages(lab_report(report), PaperWidth.MM80)
    assert len(pages) == 3
    assert all("血常规检验报告单" in page for page in pages)
    assert [f"第 {n}/3 页" in page for n, page in enumerate(pages, start=1)] == [True, True, True]
    empty = lab_report_of(make_report(items=()), NAME, sex=1, birth_date=None, hospital=HOSPITAL)
    assert "（无检验项目）" in _text(lab_report(empty))
