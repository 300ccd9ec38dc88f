"""Driver and virtual printer over real TCP connections: every byte goes through a socket; and the file
and USB transports."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from PIL import Image as PILImage

from cardservice.printing import (
    Align,
    Cut,
    Image,
    PaperWidth,
    Text,
    Ticket,
    lab_report,
    payment_receipt,
    preview_pages,
    registration_slip,
)
from drivers.printers import (
    UNKNOWN,
    FilePrinter,
    NetworkPrinter,
    PrinterConfig,
    PrinterError,
    UsbPrinter,
    encode_ticket,
    escpos_printer,
    print_job,
)
from simulators.escpos import EscPosParser, PrinterHandle, VirtualPrinter
from tests.printing.samples import PAPERS, make_lab, make_receipt, make_slip

TEMPLATES = {
    "registration": lambda: registration_slip(make_slip()),
    "registration-qr": lambda: registration_slip(make_slip(code="qr")),
    "receipt": lambda: payment_receipt(make_receipt()),
    "lab-3-pages": lambda: lab_report(make_lab(45)),
}


def _has_ink(path: Path) -> bool:
    with PILImage.open(path) as image:
        return image.convert("L").getextrema()[0] == 0


@pytest.mark.parametrize("paper", PAPERS)
@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_print_as_previewed(tmp_path: Path, name: str, paper: PaperWidth) -> None:
    ticket = TEMPLATES[name]()
    expected = preview_pages(ticket, paper)
    with VirtualPrinter(tmp_path, paper=paper.value).serve_tcp("127.0.0.1", 0) as printer:
        assert printer.port is not None
        status = print_job(
            escpos_printer({"kind": "network", "host": "127.0.0.1", "port": printer.port, "paper": paper}),
            ticket,
        )
        assert status.known
        assert status.problem is None
        tickets = printer.wait_for_tickets(len(expected))
    assert [t.text for t in tickets] == list(expected)
    for n, t in enumerate(tickets, start=1):
        assert t.complete
        assert t.png == tmp_path / f"ticket-{n:04d}.png"
        assert t.txt.read_text(encoding="utf-8") == t.text
        with PILImage.open(t.png) as image:
            assert image.width == paper.dots
            assert image.height > 300
        assert _has_ink(t.png)


def test_lab_pages_are_numbered_on_paper(
    virtual_printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    print_job(network_printer, lab_report(make_lab(45)))
    tickets = virtual_printer.wait_for_tickets(3)
    for n, t in enumerate(tickets, start=1):
        assert f"第 {n}/3 页" in t.text
        assert "姓名：张**" in t.text
        assert "张三丰" not in t.text


NAMES = ["𠀀", "龘", "阿依古丽·买买提", "巴特尔·额尔敦", "次仁央宗", "韦小宝", "𠀀龘𪚥", "Zhāng Sān"]


def test_gb18030_round_trip_through_the_printer(
    virtual_printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    ticket = Ticket((*(Text(name) for name in NAMES), Text("¥12.50 ↑↓", Align.RIGHT), Cut()))
    print_job(network_printer, ticket)
    (printed,) = virtual_printer.wait_for_tickets(1)
    assert printed.text.splitlines() == [*NAMES, "￥12.50 ↑↓"]
    assert printed.text == preview_pages(ticket, PaperWidth.MM80)[0]


def test_image_is_printed(virtual_printer: PrinterHandle, network_printer: NetworkPrinter) -> None:
    logo = PILImage.new("L", (200, 80), 255)
    logo.paste(0, (50, 20, 150, 60))
    print_job(network_printer, Ticket((Image(logo), Text("logo"), Cut())))
    (printed,) = virtual_printer.wait_for_tickets(1)
    assert printed.text == "[IMAGE 200x80]\nlogo\n"
    with PILImage.open(printed.png) as image:
        picture = image.convert("L")
        # Centred: the black box sits at x = 188 + 50 .. 188 + 150 on the 576-dot paper.
        assert picture.getpixel((288, 12 + 40)) == 0
        assert picture.getpixel((100, 12 + 40)) == 255


def test_paper_out_before_the_job(virtual_printer: PrinterHandle, network_printer: NetworkPrinter) -> None:
    virtual_printer.set_paper(False)
    slip = registration_slip(make_slip())
    with pytest.raises(PrinterError) as caught:
        print_job(network_printer, slip)
    assert caught.value.code == "paper_out"
    assert caught.value.message_zh.startswith("打印机缺纸")
    assert virtual_printer.tickets() == []
    virtual_printer.set_paper(True)
    print_job(network_printer, slip)
    assert [t.text for t in virtual_printer.wait_for_tickets(1)] == list(preview_pages(slip, PaperWidth.MM80))


def test_paper_out_in_the_middle_of_a_job_then_reprint(
    virtual_printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    report = lab_report(make_lab(30))
    virtual_printer.set_paper(False, after_lines=10)
    with pytest.raises(PrinterError) as caught:
        print_job(network_printer, report)
    assert caught.value.code == "paper_out"
    (torn,) = virtual_printer.tickets()
    assert not torn.complete
    assert torn.text.endswith("[PAPER OUT]\n")
    assert len(torn.text.splitlines()) == 11

    virtual_printer.set_paper(True)
    status = print_job(network_printer, report)  # the caller kept the job: print it again
    assert status.problem is None
    assert not status.paper_near_end
    tickets = virtual_printer.wait_for_tickets(3)
    assert [t.text for t in tickets[1:]] == list(preview_pages(report, PaperWidth.MM80))
    assert all(t.complete for t in tickets[1:])


def test_paper_near_end_is_a_warning(virtual_printer: PrinterHandle, network_printer: NetworkPrinter) -> None:
    virtual_printer.set_paper(False, after_lines=500)
    status = print_job(network_printer, registration_slip(make_slip()))
    assert status.paper_near_end
    assert status.problem is None


def test_cover_open(virtual_printer: PrinterHandle, network_printer: NetworkPrinter) -> None:
    virtual_printer.set_cover(True)
    with pytest.raises(PrinterError) as caught:
        print_job(network_printer, registration_slip(make_slip()))
    assert caught.value.code == "cover_open"
    virtual_printer.set_cover(False)
    assert print_job(network_printer, registration_slip(make_slip())).problem is None


def test_one_connection_many_jobs(virtual_printer: PrinterHandle, network_printer: NetworkPrinter) -> None:
    assert network_printer.reads_status
    with closing(network_printer.open()) as link:
        assert link.status().problem is None
        for _ in range(3):
            link.print(registration_slip(make_slip()))
        assert link.status().problem is None
    assert len(virtual_printer.wait_for_tickets(3)) == 3


def test_probe_asks_and_prints_nothing(
    virtual_printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    assert network_printer.probe() is None
    virtual_printer.set_paper(False)
    problem = network_printer.probe()
    assert problem is not None
    assert (problem.code, problem.detail) == ("paper_out", "status poll")
    virtual_printer.set_cover(True)
    assert (network_printer.probe() or problem).code == "cover_open"
    assert virtual_printer.tickets() == []


def test_truncated_command_does_not_eat_the_next_job(
    virtual_printer: PrinterHandle, network_printer: NetworkPrinter
) -> None:
    assert virtual_printer.port is not None
    with socket.create_connection(("127.0.0.1", virtual_printer.port)) as raw:
        raw.sendall(b"\x1b@\x1dv0\x00\x10\x00\x10\x00" + b"\x00" * 5)  # a raster cut short
    print_job(network_printer, Ticket((Text("下一张"), Cut())))
    (printed,) = virtual_printer.wait_for_tickets(1)
    assert printed.text == "下一张\n"


def test_unreachable_printer(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    printer = NetworkPrinter(PrinterConfig(kind="network", host="127.0.0.1", port=port, timeout=2))
    with pytest.raises(PrinterError) as caught:
        print_job(printer, registration_slip(make_slip()))
    assert caught.value.code == "printer_unreachable"
    assert caught.value.message_zh == "无法连接打印机，请联系工作人员"
    probed = printer.probe()
    assert probed is not None
    assert probed.code == "printer_unreachable"


@pytest.fixture
def fake_printer() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP peer that accepts and answers each DLE EOT with the next scripted reply (b"" = silence)."""
    server = socket.create_server(("127.0.0.1", 0))
    replies: list[bytes] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
            with conn:
                while data := conn.recv(4096):
                    for _ in range(data.count(b"\x10\x04")):
                        if replies and (reply := replies.pop(0)):
                            conn.sendall(reply)
        except OSError:
            pass  # the test is over: listener closed or the client hung up

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], replies
    server.close()
    thread.join(timeout=5)


def test_printer_that_does_not_answer(fake_printer: tuple[int, list[bytes]]) -> None:
    port, _replies = fake_printer
    printer = NetworkPrinter(PrinterConfig(kind="network", host="127.0.0.1", port=port, timeout=0.5))
    with pytest.raises(PrinterError) as caught:
        print_job(printer, registration_slip(make_slip()))
    assert caught.value.code == "printer_unreachable"


def test_printer_that_answers_garbage(fake_printer: tuple[int, list[bytes]]) -> None:
    port, replies = fake_printer
    replies += [b"\x41", b"\x41"]
    printer = NetworkPrinter(PrinterConfig(kind="network", host="127.0.0.1", port=port, timeout=2))
    with pytest.raises(PrinterError) as caught:
        print_job(printer, registration_slip(make_slip()))
    assert caught.value.code == "printer_error"


def test_file_printer_status_unknown(tmp_path: Path) -> None:
    path = tmp_path / "lp0"
    ticket = payment_receipt(make_receipt())
    printer = FilePrinter(PrinterConfig(kind="file", path=str(path), paper=PaperWidth.MM58))
    assert not printer.reads_status
    assert printer.probe() is None  # looked at, not opened: nothing written
    assert not path.exists()
    status = print_job(printer, ticket)
    assert status == UNKNOWN
    assert status.problem is None
    data = path.read_bytes()
    assert data == encode_ticket(ticket, PaperWidth.MM58)  # no status queries written into the file
    parser = EscPosParser(384)
    parser.feed(data)
    assert [t.text() for t in parser.take_tickets()] == list(preview_pages(ticket, PaperWidth.MM58))


def test_file_printer_in_a_missing_folder(tmp_path: Path) -> None:
    printer = FilePrinter(PrinterConfig(kind="file", path=str(tmp_path / "no" / "lp0")))
    with pytest.raises(PrinterError) as caught:
        printer.open()
    assert caught.value.code == "printer_unreachable"
    probed = printer.probe()
    assert probed is not None
    assert probed.code == "printer_unreachable"


def test_usb_printer_absent() -> None:
    printer = UsbPrinter(PrinterConfig(kind="usb", vendor_id=0xFFFE, product_id=0xFFFE))
    with pytest.raises(PrinterError) as caught:
        printer.open()
    assert caught.value.code == "printer_unreachable"
