"""The driver's pure half: exact ESC/POS bytes, GB18030 text, status decoding, configuration, errors
(the contract's PrinterError, made by the driver)."""

from __future__ import annotations

import re
import typing

import pytest
from PIL import Image as PILImage
from pydantic import ValidationError

from cardservice.errors import CodedError
from cardservice.printing import (
    Align,
    Barcode,
    Cut,
    Feed,
    Image,
    PaperWidth,
    PrintError,
    QrCode,
    Row,
    Rule,
    Text,
    Ticket,
)
from drivers.printers import (
    TRANSPORTS,
    PrinterConfig,
    PrinterError,
    PrinterErrorCode,
    PrinterKind,
    PrinterStatus,
    decode_status,
    encode_text,
    encode_ticket,
    escpos_printer,
    printer_config,
    status_query,
)
from tests.conftest import unhex

INIT = unhex("1B 40 1C 26")  # ESC @, FS & (Chinese mode)


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("A1", "41 31"),
        ("李明", "C0 EE C3 F7"),  # GB2312
        ("龘", "FD 93"),  # GBK
        ("𠀀", "95 32 82 36"),  # GB18030 four-byte (CJK Extension B)
        ("阿依古丽·买买提", "B0 A2 D2 C0 B9 C5 C0 F6 A1 A4 C2 F2 C2 F2 CC E1"),
        ("¥12.50", "A3 A4 31 32 2E 35 30"),  # the yuan sign every GB font has
        ("↑↓", "A1 FC A1 FD"),
    ],
)
def test_encode_text_gb18030(text: str, data: str) -> None:
    assert encode_text(text) == unhex(data)
    assert encode_text(text).decode("gb18030") == text.replace("¥", "￥")


def test_encode_text_never_passes_commands() -> None:
    encoded = encode_text("张\x1b@\x1dV\x00\x10\x04\x01\n三")
    assert not any(byte < 0x20 for byte in encoded)


def test_encode_text_line() -> None:
    ticket = Ticket((Text("李明", Align.CENTER, bold=True, width=2, height=2),))
    assert encode_ticket(ticket, PaperWidth.MM80) == INIT + unhex(
        "1B 61 01  1B 45 01  1D 21 11  C0 EE C3 F7 0A  1B 45 00  1D 21 00  1B 61 00"
    )


def test_encode_rule_row_feed_cut() -> None:
    ticket = Ticket((Rule("="), Row.pair("费", "¥1.00", bold=True), Feed(3), Cut(), Cut(partial=True)))
    assert encode_ticket(ticket, PaperWidth.MM58) == INIT + b"=" * 32 + b"\n" + unhex(
        "1B 45 01"
    ) + encode_text("费" + " " * 24 + "￥1.00") + unhex("0A 1B 45 00  1B 64 03  1D 56 41 03  1D 56 42 03")


def test_encode_qr() -> None:
    data = encode_ticket(Ticket((QrCode("T1", module=4, error_correction="Q"),)), PaperWidth.MM80)
    assert data == INIT + unhex(
        "1B 61 01"
        "1D 28 6B 04 00 31 41 32 00"  # model 2
        "1D 28 6B 03 00 31 43 04"  # module 4 dots
        "1D 28 6B 03 00 31 45 32"  # error correction Q
        "1D 28 6B 05 00 31 50 30 54 31"  # store "T1"
        "1D 28 6B 03 00 31 51 30"  # print
        "1B 61 00"
    )


def test_encode_barcode() -> None:
    data = encode_ticket(Ticket((Barcode("R1", height=50, module=3),)), PaperWidth.MM80)
    assert data == INIT + unhex(
        "1B 61 01 1D 48 02 1D 66 00 1D 68 32 1D 77 03 1D 6B 49 04 7B 42 52 31 1B 61 00"
    )


def test_encode_image_scaled_and_banded() -> None:
    image = PILImage.new("L", (1200, 600), 0)  # black, wider than the paper
    data = encode_ticket(Ticket((Image(image, Align.LEFT),)), PaperWidth.MM80)
    body = data[len(INIT) + 3 : -3]
    # 576 dots = 72 bytes a row; 288 rows after scaling, sent as 256 + 32 rows.
    assert body[:8] == unhex("1D 76 30 00 48 00 00 01")
    assert body[8 : 8 + 72 * 256] == b"\xff" * 72 * 256
    second = body[8 + 72 * 256 :]
    assert second[:8] == unhex("1D 76 30 00 48 00 20 00")
    assert len(second) == 8 + 72 * 32


def test_barcode_refuses_what_code_set_b_cannot_print() -> None:
    for data in ("", "挂号", "a{b", "x" * 65):
        with pytest.raises(ValueError, match="data must"):
            Barcode(data)


# -- status ---------------------------------------------------------------------------------------------


def test_status_query_bytes() -> None:
    assert [status_query(n) for n in (1, 2, 3, 4)] == [unhex(f"10 04 0{n}") for n in (1, 2, 3, 4)]


@pytest.mark.parametrize(
    ("replies", "problem", "near_end"),
    [
        ((0x12, 0x12, None, None), None, False),
        ((0x12, 0x1E, None, None), None, True),  # near end: a warning only
        ((0x1A, 0x72, 0x32, None), "paper_out", False),
        ((0x1A, 0x12, 0x16, None), "cover_open", False),
        ((0x1A, 0x7E, 0x36, None), "cover_open", True),  # cover first: closing it is the first step
        ((0x1A, 0x12, 0x52, 0x32), "printer_error", False),
        ((0x1A, 0x12, 0x12, None), "printer_offline", False),
    ],
)
def test_decode_status(
    replies: tuple[int, int, int | None, int | None], problem: str | None, near_end: bool
) -> None:
    status = decode_status(*replies)
    assert status.problem == problem
    assert status.paper_near_end is near_end


def test_decode_status_refuses_noise() -> None:
    with pytest.raises(PrinterError) as caught:
        decode_status(0x41)
    assert caught.value.code == "printer_error"


def test_unknown_status_is_not_a_problem() -> None:
    assert PrinterStatus(known=False, online=False, paper_out=True).problem is None


# -- errors and configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("code", typing.get_args(PrinterErrorCode))
def test_every_error_code_has_both_messages(code: PrinterErrorCode) -> None:
    error = PrinterError(code, "detail")
    assert error.code == code
    assert error.message.endswith(".")
    assert error.message in str(error)
    assert error.message_zh
    assert all(ord(ch) > 0x7F for ch in error.message_zh.replace("，", ""))
    assert isinstance(error, PrintError)
    assert isinstance(error, CodedError)
    assert error.detail == "detail"
    assert str(error) == f"{error.message} (detail)"
    assert repr(error) == f"PrinterError({code!r}, 'detail')"


def test_config_per_kind() -> None:
    net = PrinterConfig(kind="network", host="10.0.0.5")
    assert (net.port, net.paper, net.dots, net.columns, net.bidirectional) == (
        9100,
        PaperWidth.MM80,
        576,
        48,
        True,
    )
    serial = PrinterConfig(kind="serial", device="/dev/ttyUSB0", baudrate=115200, paper=PaperWidth.MM58)
    assert (serial.paper, serial.dots, serial.columns) == (PaperWidth.MM58, 384, 32)
    assert not PrinterConfig(kind="file", path="/dev/usb/lp0").bidirectional
    assert PrinterConfig(kind="usb", vendor_id=0x0416, product_id=0x5011).in_ep == 0x82
    assert (
        PrinterConfig.model_validate({"kind": "network", "host": "h", "paper": 58}).paper is PaperWidth.MM58
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "network"}, "needs host"),
        ({"kind": "usb", "vendor_id": 1}, "needs product_id"),
        ({"kind": "file", "path": "/x", "host": "h"}, "host do not apply"),
        ({"kind": "network", "host": "h", "paper": 76}, "paper"),
        ({"kind": "network", "host": "h", "port": 0}, "port"),
        ({"kind": "network", "host": "h", "colour": 1}, "colour"),
        ({"kind": "parallel"}, "kind"),
    ],
)
def test_config_refuses(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PrinterConfig.model_validate(fields)


def test_config_is_frozen() -> None:
    config = PrinterConfig(kind="network", host="h")
    with pytest.raises(ValidationError):
        config.port = 1


@pytest.mark.parametrize(
    ("options", "problems"),
    [
        ({"kind": "network"}, "a network printer needs host"),
        (
            {"kind": "network", "host": "h", "port": 99999},
            "port: Input should be less than or equal to 65535",
        ),
        (
            {"kind": "file", "path": "x", "paper": 76, "colour": 1},
            "paper: Input should be 58 or 80; colour: Extra inputs are not permitted",
        ),
    ],
)
def test_bad_options_are_one_readable_value_error(options: dict[str, object], problems: str) -> None:
    for make in (printer_config, escpos_printer):
        with pytest.raises(ValueError, match=f"^{re.escape(problems)}$") as refused:
            make(options)
        assert not isinstance(refused.value, ValidationError)


KIND_OPTIONS: dict[str, dict[str, object]] = {
    "network": {"host": "h"},
    "serial": {"device": "/dev/ttyS0"},
    "usb": {"vendor_id": 1, "product_id": 2},
    "file": {"path": "/dev/usb/lp0"},
}


def test_each_kind_has_its_transport() -> None:
    assert sorted(TRANSPORTS) == sorted(typing.get_args(PrinterKind))
    for kind, cls in TRANSPORTS.items():
        printer = escpos_printer({"kind": kind, **KIND_OPTIONS[kind], "paper": 58})
        assert type(printer) is cls
        assert printer.paper is PaperWidth.MM58
        assert printer.reads_status is (kind != "file")
    with pytest.raises(ValueError, match="takes a network printer"):
        TRANSPORTS["network"](PrinterConfig(kind="file", path="x"))
    printer = escpos_printer({"kind": "network", "host": "h"})
    assert repr(printer) == "NetworkPrinter(kind='network', host='h')"
