"""Templates: what each ticket says, read from the text preview (the same lines the printer gets)."""

from __future__ import annotations

from datetime import datetime

import pytest

from cardservice.printing import (
    Align,
    Barcode,
    Cut,
    Flag,
    LabItem,
    PaperWidth,
    QrCode,
    ReceiptItem,
    Text,
    abnormal_flag,
    display_width,
    format_fen,
    lab_report,
    mask_name,
    payment_receipt,
    preview_pages,
    registration_slip,
)
from tests.printing.samples import PAPERS, make_lab, make_receipt, make_slip


@pytest.mark.parametrize(
    ("fen", "text"),
    [(0, "¥0.00"), (5, "¥0.05"), (1250, "¥12.50"), (123456789, "¥1234567.89"), (-300, "-¥3.00")],
)
def test_format_fen(fen: int, text: str) -> None:
    assert format_fen(fen) == text


def test_format_fen_refuses_float() -> None:
    with pytest.raises(TypeError):
        format_fen(12.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("李明", "李*"),
        ("张三丰", "张**"),
        ("阿依古丽·买买提", "阿*******"),
        ("欧阳娜娜", "欧***"),
        ("李", "*"),
        ("", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("result", "reference", "flag"),
    [
        ("7.8", "3.9-6.1", Flag.HIGH),
        ("3.2", "3.9～6.1", Flag.LOW),
        ("5.0", "3.9-6.1", Flag.NONE),
        ("6.1", "3.9-6.1", Flag.NONE),
        ("-1", "-0.5-0.5", Flag.LOW),
        ("12", "<10", Flag.HIGH),
        ("10", "<10", Flag.HIGH),
        ("10", "≤10", Flag.NONE),
        ("2", ">5", Flag.LOW),
        ("<0.5", "3.9-6.1", Flag.LOW),
        ("阴性", "阴性", Flag.NONE),
        ("nan", "1-2", Flag.NONE),
        ("5", "见附注", Flag.NONE),
    ],
)
def test_abnormal_flag(result: str, reference: str, flag: Flag) -> None:
    assert abnormal_flag(result, reference) is flag


@pytest.mark.parametrize("paper", PAPERS)
def test_registration_slip(paper: PaperWidth) -> None:
    ticket = registration_slip(make_slip())
    (page,) = preview_pages(ticket, paper)
    for expected in ("北京市朝阳区第一人民医院", "挂号单", "A023", "心血管内科", "王建国 主任医师",
                     "2025-03-14 星期五", "上午 09:00-09:30", "李*", "￥12.50",
                     "[BARCODE CODE128: R202503140023]", "打印时间：2025-03-14 08:30:05"):  # fmt: skip
        assert expected in page, expected
    assert "李明" not in page
    assert Text("A023", Align.CENTER, bold=True, width=3, height=3) in ticket.ops
    assert isinstance(ticket.ops[-1], Cut)
    assert all(display_width(line) <= paper.columns for line in page.splitlines())


def test_registration_slip_with_qr() -> None:
    ticket = registration_slip(make_slip(code="qr"))
    assert QrCode("R202503140023") in ticket.ops
    assert not any(isinstance(op, Barcode) for op in ticket.ops)


def test_registration_slip_refuses_negative_fee() -> None:
    with pytest.raises(ValueError, match="fee_fen"):
        make_slip(fee_fen=-1)


@pytest.mark.parametrize("paper", PAPERS)
def test_payment_receipt(paper: PaperWidth) -> None:
    receipt = make_receipt()
    (page,) = preview_pages(payment_receipt(receipt), paper)
    assert receipt.total_fen == 2 * 1850 + 2500 + 4000
    for expected in ("门诊缴费收据", "阿*******", "血常规", "￥18.50", "￥37.00", "￥25.00", "￥40.00",
                     "￥102.00", "微信支付", "T2025031400001234", "[QR: T2025031400001234]",
                     "2025-03-14 09:01"):  # fmt: skip
        assert expected in page, expected
    assert "买买提" not in page
    total_line = next(line for line in page.splitlines() if line.startswith("合计"))
    assert total_line.endswith("￥102.00")
    assert display_width(total_line) == paper.columns


def test_payment_receipt_item_columns_line_up_at_80mm() -> None:
    (page,) = preview_pages(payment_receipt(make_receipt()), PaperWidth.MM80)
    lines = page.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("项目"))
    assert lines[header + 1] == "阿莫西林胶囊" + " " * 15 + "2   ￥18.50   ￥37.00"
    assert all(display_width(line) == 48 for line in lines[header : header + 4])


def test_receipt_validation() -> None:
    with pytest.raises(ValueError, match="at least one item"):
        make_receipt(items=())
    with pytest.raises(ValueError, match="quantity"):
        ReceiptItem("x", 0, 100)


def test_lab_report_single_page_flags() -> None:
    (page,) = preview_pages(lab_report(make_lab(5)), PaperWidth.MM80)
    for expected in ("检验报告单", "姓名：张**", "性别：男", "年龄：45岁", "血清", "L20250314-0007",
                     "2025-03-14 10:15", "参考值", "第 1/1 页"):  # fmt: skip
        assert expected in page, expected
    rows = {line.split()[0]: line for line in page.splitlines() if line.startswith("项目0")}
    assert "3.2 ↓" in rows["项目00"]
    assert "↑" not in rows["项目01"]
    assert "↓" not in rows["项目01"]
    assert "7.8 ↑" in rows["项目02"]
    assert "阴性" in rows["项目03"]
    assert "↑" not in rows["项目03"]
    assert "<0.5 ↓" in rows["项目04"]
    assert "张三丰" not in page


def test_lab_report_explicit_flag_wins() -> None:
    report = make_lab(0, items=(LabItem("尿蛋白", "+", "", "阴性", Flag.HIGH),))
    (page,) = preview_pages(lab_report(report), PaperWidth.MM80)
    assert "+ ↑" in page


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (1, 1), (20, 1), (21, 2), (45, 3)])
def test_lab_report_pagination(count: int, pages: int) -> None:
    ticket = lab_report(make_lab(count))
    texts = preview_pages(ticket, PaperWidth.MM80)
    assert len(texts) == len(ticket.pages) == pages
    assert sum(isinstance(op, Cut) for op in ticket.ops) == pages
    seen: list[str] = []
    for number, text in enumerate(texts, start=1):
        assert f"第 {number}/{pages} 页" in text
        assert "检验报告单" in text
        assert "姓名：张**" in text
        items = [
            line.split()[0] for line in text.splitlines() if line.startswith("项目") and line[2:3].isdigit()
        ]
        assert len(items) <= 20
        seen += items
    assert seen == [f"项目{n:02d}" for n in range(count)]
    if count == 0:
        assert "（无检验项目）" in texts[0]


def test_lab_report_rows_per_page() -> None:
    assert len(lab_report(make_lab(10), rows_per_page=3).pages) == 4
    with pytest.raises(ValueError, match="rows_per_page"):
        lab_report(make_lab(1), rows_per_page=0)


def test_lab_report_age_as_text_and_rare_characters() -> None:
    report = make_lab(
        1, patient_name="𠀀龘", age="3月", specimen="全血（龘）", report_time=datetime(2025, 1, 2, 3, 4)
    )
    (page,) = preview_pages(lab_report(report), PaperWidth.MM58)
    assert "姓名：𠀀*" in page
    assert "年龄：3月" in page
    assert "全血（龘）" in page
