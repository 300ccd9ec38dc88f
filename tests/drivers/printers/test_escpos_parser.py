"""The virtual printer's parser, fed bytes directly (no sockets): what it prints, what it answers, and
that no byte stream can crash it, hang it or make it grow without bound."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cardservice.printing import PaperWidth, preview_pages, registration_slip
from drivers.printers import encode_ticket
from simulators.escpos import (
    MAX_PAGE_BLOCKS,
    BarcodeBlock,
    EscPosParser,
    GapBlock,
    PrintedTicket,
    QrBlock,
    RasterBlock,
    TextLine,
    decode_code128,
    render_png,
)
from tests.conftest import unhex
from tests.printing.samples import make_slip

CUT = unhex("1D 56 41 00")


def run(data: bytes, **kwargs: object) -> tuple[list[PrintedTicket], bytes]:
    parser = EscPosParser(**kwargs)  # type: ignore[arg-type]
    replies = parser.feed(data)
    return parser.take_tickets(), replies


def one(data: bytes) -> PrintedTicket:
    tickets, _ = run(data + CUT)
    assert len(tickets) == 1
    return tickets[0]


def test_text_lines_and_cut() -> None:
    ticket = one(b"\x1b@Hello\nWorld\n\n")
    assert ticket.text() == "Hello\nWorld\n"
    assert ticket.complete
    assert not ticket.partial_cut
    assert run(b"A\n\x1dV\x01")[0][0].partial_cut


def test_chinese_needs_fs_ampersand() -> None:
    name = "李明".encode("gb18030")
    assert one(b"\x1c&" + name + b"\n").text() == "李明\n"
    # Without Chinese mode the same bytes are four code page 437 characters.
    assert one(name + b"\n").text() == name.decode("cp437") + "\n"
    assert one(b"\x1c&\x1c." + name + b"\n").text() == name.decode("cp437") + "\n"
    assert run(name + b"\n" + CUT, chinese_default=True)[0][0].text() == "李明\n"


@pytest.mark.parametrize("text", ["𠀀", "龘", "阿依古丽·买买提", "￥12.50", "↑↓℃μmol/L", "𠀀a龘b"])
def test_gb18030_round_trip(text: str) -> None:
    ticket = one(b"\x1c&" + text.encode("gb18030") + b"\n")
    assert ticket.text() == text + "\n"
    (line,) = ticket.blocks
    assert isinstance(line, TextLine)
    assert [g.wide for g in line.glyphs] == [ord(ch) > 0x7F for ch in text]


def test_invalid_gb18030_is_a_replacement_and_the_next_byte_survives() -> None:
    assert one(b"\x1c&\xb0\nA\n").text() == "\ufffd\nA\n"
    assert one(b"\x1c&\x80A\n").text() == "\ufffdA\n"


def test_code_pages() -> None:
    assert one(b"\x1bt\x00\x9c\n").text() == "£\n"  # PC437
    assert one(b"\x1bt\x10\x80\n").text() == "€\n"  # WPC1252
    assert one(b"\x1bt\x63\x9c\n").text() == "£\n"  # unknown: PC437


def test_styles_alignment_and_size() -> None:
    ticket = one(b"\x1ba\x01\x1bE\x01\x1d!\x11AB\n\x1bE\x00\x1d!\x00\x1ba\x02C\n\x1b!\x38D\n")
    first, second, third = ticket.blocks
    assert isinstance(first, TextLine)
    assert isinstance(second, TextLine)
    assert isinstance(third, TextLine)
    assert (first.align, first.glyphs[0].bold, first.glyphs[0].width, first.glyphs[0].height) == (
        1,
        True,
        2,
        2,
    )
    assert (second.align, second.glyphs[0].bold, second.glyphs[0].width) == (2, False, 1)
    assert (third.glyphs[0].bold, third.glyphs[0].width, third.glyphs[0].height) == (True, 2, 2)
    # Alignment changed in the middle of a line counts from the next line.
    line = one(b"A\x1ba\x01B\n").blocks[0]
    assert isinstance(line, TextLine)
    assert line.align == 0


def test_long_lines_wrap_at_the_paper_width() -> None:
    assert one(b"x" * 50 + b"\n").text() == "x" * 48 + "\nxx\n"
    assert run(b"x" * 40 + b"\n" + CUT, paper_dots=384)[0][0].text() == "x" * 32 + "\n" + "x" * 8 + "\n"
    assert one(b"\x1c&" + "中".encode("gb18030") * 30 + b"\n").text() == "中" * 24 + "\n" + "中" * 6 + "\n"


def test_feeds_tabs_and_init() -> None:
    assert one(b"A\x1bd\x03B\n").text() == "A\n\n\nB\n"
    assert one(b"A\tB\n").text() == "A       B\n"
    assert one(b"lost\x1b@kept\n").text() == "kept\n"  # ESC @ clears the unprinted line
    gap = one(b"A\x1bJ\x40B\n").blocks
    assert isinstance(gap[1], GapBlock)
    assert gap[1].dots == 0x40


def test_qr_code() -> None:
    data = "T2025031400001234"
    stream = unhex("1D 28 6B 04 00 31 41 32 00  1D 28 6B 03 00 31 43 05  1D 28 6B 03 00 31 45 31")
    stream += unhex("1D 28 6B") + bytes((len(data) + 3, 0)) + b"\x31\x50\x30" + data.encode()
    stream += unhex("1D 28 6B 03 00 31 51 30")
    ticket = one(b"\x1ba\x01" + stream)
    (block,) = ticket.blocks
    assert block == QrBlock(data.encode(), module=5, error_correction=49, align=1)
    assert ticket.text() == f"[QR: {data}]\n"
    assert ticket.qr_codes == (data,)


def test_qr_print_without_data_prints_nothing() -> None:
    assert run(unhex("1D 28 6B 03 00 31 51 30") + CUT)[0] == []


def test_barcodes() -> None:
    ticket = one(unhex("1D 68 50 1D 77 02 1D 48 02 1D 6B 49 0F 7B 42") + b"R202503140023")
    (block,) = ticket.blocks
    assert isinstance(block, BarcodeBlock)
    assert (block.symbology, block.height, block.module, block.hri) == ("CODE128", 0x50, 2, 2)
    assert ticket.text() == "[BARCODE CODE128: R202503140023]\n"
    assert one(b"\x1dk\x04CODE39\x00").text() == "[BARCODE CODE39: CODE39]\n"  # function A, NUL-terminated


def test_code128_code_sets() -> None:
    assert decode_code128(b"{BAB{C\x0c\x22{Bx{{") == "AB1234x{"


def test_raster_image_and_adjacent_bands_join() -> None:
    band = unhex("1D 76 30 00 02 00 03 00") + b"\xff\x00" * 3
    ticket = one(band + band)
    (block,) = ticket.blocks
    assert block == RasterBlock(2, 6, b"\xff\x00" * 6, 0)
    assert ticket.text() == "[IMAGE 16x6]\n"
    image = render_png(ticket, 576)
    assert image.width == 576
    assert image.getpixel((0, 12)) == 0
    assert image.getpixel((12, 12)) == 255


def test_status_replies() -> None:
    parser = EscPosParser()
    assert parser.feed(unhex("10 04 01 10 04 02 10 04 03 10 04 04")) == unhex("12 12 12 12")
    parser.set_paper(False)
    assert parser.feed(unhex("10 04 01 10 04 02 10 04 04")) == unhex("1A 32 72")
    parser.set_paper(True)
    parser.set_cover(True)
    assert parser.feed(unhex("10 04 01 10 04 02")) == unhex("1A 16")
    assert parser.feed(unhex("10 04 07 01 10 04 09 10 05 01")) == b""  # asked, but nothing to say


def test_paper_out_discards_and_answers() -> None:
    parser = EscPosParser()
    parser.feed(b"printed\n")
    parser.set_paper(False)
    (torn,) = parser.take_tickets()
    assert torn.text() == "printed\n[PAPER OUT]\n"
    assert not torn.complete
    assert parser.feed(b"lost\n" + CUT + unhex("10 04 04")) == b"\x72"
    assert parser.take_tickets() == []
    parser.set_paper(True)
    parser.feed(b"\x1b@again\n" + CUT)
    assert [t.text() for t in parser.take_tickets()] == ["again\n"]


def test_roll_ends_after_some_lines() -> None:
    parser = EscPosParser()
    parser.set_paper(False, after_lines=2)
    assert parser.feed(unhex("10 04 04")) == b"\x1e"  # near end
    parser.feed(b"one\ntwo\nthree\n" + CUT)
    (torn,) = parser.take_tickets()
    assert torn.text() == "one\ntwo\n[PAPER OUT]\n"
    assert parser.feed(unhex("10 04 01 10 04 04")) == unhex("1A 7E")


def test_a_command_split_anywhere_parses_the_same() -> None:
    data = encode_ticket(registration_slip(make_slip(code="qr")), PaperWidth.MM80)
    whole, _ = run(data)
    parser = EscPosParser()
    for i in range(len(data)):
        parser.feed(data[i : i + 1])
    assert parser.take_tickets() == whole
    assert [t.text() for t in whole] == list(
        preview_pages(registration_slip(make_slip(code="qr")), PaperWidth.MM80)
    )


@pytest.mark.parametrize(
    "header",
    [
        unhex("1D 76 30 00 FF FF FF FF"),  # 65535 x 65535 raster: out of range, header dropped
        unhex("1D 38 4C FF FF FF FF"),  # 4 GB graphics
        unhex("1B 26 09 20 7E"),  # user characters, y out of range
        unhex("1C 71 01 FF FF FF FF"),  # NV image out of range
        unhex("1D 6B 02") + b"1" * 300,  # NUL-terminated barcode without its NUL
    ],
)
def test_malformed_lengths_are_bounded(header: bytes) -> None:
    tickets, _ = run(header + b"after\n" + CUT)
    assert tickets
    assert "after" in tickets[-1].text().replace("\n", "")


def test_truncated_command_is_dropped_when_the_sender_goes_away() -> None:
    parser = EscPosParser()
    parser.feed(unhex("1D 76 30 00 10 00 10 00") + b"\x00" * 10)  # 256 bytes announced, 10 sent
    parser.abort_command()
    parser.feed(b"next job\n" + CUT)
    assert [t.text() for t in parser.take_tickets()] == ["next job\n"]


def test_runaway_page_is_cut_by_force() -> None:
    tickets, _ = run(b"\n" * (MAX_PAGE_BLOCKS + 10))
    assert len(tickets) == 1
    assert len(tickets[0].blocks) == MAX_PAGE_BLOCKS


_COMMANDISH = st.lists(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [
                b"\x1b",
                b"\x1d",
                b"\x1c",
                b"\x10\x04",
                b"\x1dv0\x00",
                b"\x1d(k",
                b"\x1dk",
                b"\x1c&",
                b"\x1dV",
                b"\x1b*",
                b"\x1b&",
                b"\x1d8L",
                b"\x1c(",
                b"\x1bD",
                b"\n",
                b"\x95\x32",
                b"\xff",
            ]
        ),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(_COMMANDISH)
def test_hostile_streams_never_crash(chunks: list[bytes]) -> None:
    parser = EscPosParser(paper_dots=384)
    for chunk in chunks:
        replies = parser.feed(chunk)
        assert all(reply & 0x93 == 0x12 for reply in replies) or b"\x1dr" in b"".join(chunks)
    parser.feed(CUT)
    parser.abort_command()
    parser.feed(b"\x1b@ok\n" + CUT)
    tickets = parser.take_tickets()
    assert tickets[-1].text().endswith("ok\n")
    assert parser.errors == 0
    for ticket in tickets[-2:]:
        assert render_png(ticket, 384).width == 384


@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    parser = EscPosParser()
    parser.feed(data)
    parser.feed(CUT)
    assert parser.errors == 0
    for ticket in parser.take_tickets():
        ticket.text()
        render_png(ticket, 576)
