"""DummyPrinter: the exact ESC/POS bytes it was sent, and the states a test sets."""

from __future__ import annotations

from contextlib import closing

import pytest

from cardservice.printing import (
    UNKNOWN,
    Cut,
    PaperWidth,
    PrinterLink,
    PrinterStatus,
    ReceiptPrinter,
    Text,
    Ticket,
    registration_slip,
)
from drivers.printers import DUMMY_STATES, DummyPrinter, DummyState, PrinterError, encode_ticket, print_job
from tests.conftest import unhex
from tests.printing.samples import make_slip

TICKET = Ticket((Text("李明"), Cut()))
TICKET_BYTES = (
    unhex("1B 40 1C 26")  # ESC @ (init), FS & (Chinese mode)
    + unhex("1B 61 00 1B 45 00 1D 21 00")  # ESC a 0 (left), ESC E 0 (not bold), GS ! 0 (normal size)
    + unhex("C0 EE C3 F7 0A")  # 李明 (GB2312), LF
    + unhex("1B 45 00 1D 21 00 1B 61 00")  # bold off, normal size, left again
    + unhex("1D 56 41 03")  # GS V 65 3: feed to the cutter and cut
)


def test_it_is_a_receipt_printer() -> None:
    printer = DummyPrinter()
    assert isinstance(printer, ReceiptPrinter)
    with closing(printer.open()) as link:
        assert isinstance(link, PrinterLink)
    assert printer.paper is PaperWidth.MM80
    assert repr(printer) == "DummyPrinter(paper=80, state='ready')"


def test_output_is_the_exact_bytes_of_each_ticket() -> None:
    printer = DummyPrinter()
    assert print_job(printer, TICKET) == PrinterStatus()
    assert printer.output == TICKET_BYTES
    assert printer.output == encode_ticket(TICKET, PaperWidth.MM80)
    slip = registration_slip(make_slip())
    print_job(printer, slip)
    assert printer.tickets == [TICKET_BYTES, encode_ticket(slip, PaperWidth.MM80)]
    assert printer.output == TICKET_BYTES + encode_ticket(slip, PaperWidth.MM80)
    printer.clear()
    assert printer.output == b""


def test_the_paper_width_lays_the_ticket_out() -> None:
    slip = registration_slip(make_slip())
    printer = DummyPrinter(paper=PaperWidth.MM58)
    print_job(printer, slip)
    assert printer.output == encode_ticket(slip, PaperWidth.MM58)
    assert printer.output != encode_ticket(slip, PaperWidth.MM80)


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("ready", None),
        ("paper_out", "paper_out"),
        ("cover_open", "cover_open"),
        ("offline", "printer_offline"),
        ("error", "printer_error"),
        ("unreachable", "printer_unreachable"),
    ],
)
def test_each_state_is_what_probe_and_print_job_find(state: DummyState, code: str | None) -> None:
    printer = DummyPrinter(state=state)
    assert printer.state == state
    problem = printer.probe()
    assert (problem.code if problem else None) == code
    if code is None:
        print_job(printer, TICKET)
        assert printer.output == TICKET_BYTES
        return
    with pytest.raises(PrinterError) as refused:
        print_job(printer, TICKET)
    assert refused.value.code == code
    assert printer.output == b""  # nothing is sent to a printer that says it cannot print


def test_states_change_and_after_print_is_the_state_once_the_ticket_is_sent() -> None:
    printer = DummyPrinter()
    printer.set_state("ready", after_print="paper_out")
    with pytest.raises(PrinterError) as caught:
        print_job(printer, TICKET)
    assert (caught.value.code, caught.value.detail) == ("paper_out", "during printing")
    assert printer.output == TICKET_BYTES  # sent: a torn ticket on a real printer
    assert printer.state == "paper_out"
    printer.set_state("ready")
    assert printer.probe() is None
    assert sorted(DUMMY_STATES) == sorted(
        ["ready", "paper_out", "cover_open", "offline", "error", "unreachable"]
    )
    with pytest.raises(ValueError, match="state must be one of"):
        printer.set_state("jammed")  # type: ignore[arg-type]


def test_a_link_breaks_or_stops_taking_data() -> None:
    printer = DummyPrinter()
    with closing(printer.open()) as link:
        printer.set_state("offline")
        with pytest.raises(PrinterError) as stalled:
            link.print(TICKET)
        assert stalled.value.code == "printer_offline"
        printer.set_state("unreachable")
        with pytest.raises(PrinterError) as broken:
            link.print(TICKET)
        assert broken.value.code == "printer_unreachable"
        with pytest.raises(PrinterError):
            link.status()
    assert printer.output == b""
    with pytest.raises(PrinterError) as closed:
        link.status()
    assert closed.value.code == "printer_unreachable"


def test_a_one_way_dummy_reports_unknown_and_near_end_is_a_warning() -> None:
    one_way = DummyPrinter(reads_status=False, state="paper_out")
    assert one_way.probe() is None  # it cannot tell
    assert print_job(one_way, TICKET) == UNKNOWN
    assert one_way.output == TICKET_BYTES
    near_end = DummyPrinter(paper_near_end=True)
    status = print_job(near_end, TICKET)
    assert status.paper_near_end
    assert status.problem is None
