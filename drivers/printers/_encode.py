"""A :class:`~cardservice.printing.Ticket` as ESC/POS bytes: pure, no I/O.

Chinese. ESC/POS printers sold in China print Chinese in "Kanji mode" (FS &, cancelled by FS .), where a
byte below 0x80 is ASCII and a byte 0x81..0xFE starts a GB18030 code: two bytes (GB2312/GBK, second byte
0x40..0xFE) or four (second byte 0x30..0x39: CJK Extension A/B, rare characters such as 𠀀). python-escpos'
text() goes through its code-page machinery (MagicEncode), which picks single-byte code pages and cannot
send GB18030, so all text is encoded here, by :func:`encode_text`, and the printer stays in Kanji mode for
the whole ticket. Nothing else in the project turns text into printer bytes.

Commands used (Epson ESC/POS, as implemented by Chinese 58/80 mm printers):
ESC @ init, FS & Chinese mode, ESC a align, ESC E bold, GS ! size, LF, ESC d feed, GS ( k QR (model 2),
GS h / GS w / GS H / GS f / GS k 73 CODE128 (code set B), GS v 0 raster, GS V 65/66 feed and cut.
"""

from __future__ import annotations

from escpos.image import EscposImage
from PIL import Image as PILImage

from cardservice.printing import (
    Align,
    Barcode,
    Cut,
    Feed,
    Image,
    PaperWidth,
    QrCode,
    Row,
    Rule,
    Text,
    Ticket,
    fit_image,
    layout_row,
    layout_rule,
    layout_text,
    printable,
)

__all__ = ["encode_image", "encode_qr", "encode_text", "encode_ticket"]

ESC, GS, FS = b"\x1b", b"\x1d", b"\x1c"
LF = b"\n"
INIT = ESC + b"@"
CHINESE_ON = FS + b"&"
CHINESE_OFF = FS + b"."
_ALIGN = {Align.LEFT: b"\x00", Align.CENTER: b"\x01", Align.RIGHT: b"\x02"}
_QR_ECC = {"L": 48, "M": 49, "Q": 50, "H": 51}
# Rows per GS v 0 command: printers buffer a whole raster command before printing it, and small ones
# keep under every model's buffer; the virtual printer joins adjacent fragments back into one picture.
_RASTER_ROWS = 256
# After the cut command's feed to the cutter, a few more dots so the last line is not on the cut.
_CUT_FEED = 3


def encode_text(text: str) -> bytes:
    """One line of text as Kanji-mode bytes: GB18030, with control characters (which would be ESC/POS
    commands) and line breaks turned into spaces first. The caller sends LF."""
    return printable(text).replace("\n", " ").encode("gb18030")


def _with_align(align: Align, body: bytes) -> bytes:
    # Alignment only takes effect at the start of a line; every block below starts on a fresh line.
    return ESC + b"a" + _ALIGN[align] + body + ESC + b"a\x00"


def _gs_k(fn: int, payload: bytes) -> bytes:
    """GS ( k for the QR code symbol (cn = 49)."""
    size = len(payload) + 2
    return GS + b"(k" + bytes((size & 0xFF, size >> 8, 49, fn)) + payload


def encode_qr(op: QrCode) -> bytes:
    data = op.data.encode("utf-8")
    return _with_align(
        op.align,
        _gs_k(65, b"\x32\x00")  # model 2
        + _gs_k(67, bytes((op.module,)))
        + _gs_k(69, bytes((_QR_ECC[op.error_correction],)))
        + _gs_k(80, b"\x30" + data)  # store
        + _gs_k(81, b"\x30"),  # print
    )


def _encode_barcode(op: Barcode) -> bytes:
    # Function B (m = 73) with an explicit length; "{B" selects code set B (printable ASCII) as Epson's
    # CODE128 wants the first character of the data to choose the code set.
    data = b"{B" + op.data.encode("ascii")
    return _with_align(
        op.align,
        GS + b"H" + (b"\x02" if op.show_text else b"\x00")
        + GS + b"f\x00"
        + GS + b"h" + bytes((op.height,))
        + GS + b"w" + bytes((op.module,))
        + GS + b"k\x49" + bytes((len(data),)) + data,
    )  # fmt: skip


def encode_image(image: PILImage.Image, align: Align, dots: int) -> bytes:
    """A picture as GS v 0 rasters: scaled down to ``dots`` wide if wider, 1-bit (python-escpos' dithering),
    split into bands of :data:`_RASTER_ROWS` rows."""
    if image.width > dots:
        image = image.resize((dots, fit_image(image.width, image.height, dots)[1]))
    raster = EscposImage(image)  # rows padded to whole bytes, as fit_image() reports
    row_bytes = raster.width_bytes
    bits = raster.to_raster_format()
    out = bytearray()
    for top in range(0, raster.height, _RASTER_ROWS):
        rows = min(_RASTER_ROWS, raster.height - top)
        header = GS + b"v0\x00" + bytes((row_bytes & 0xFF, row_bytes >> 8, rows & 0xFF, rows >> 8))
        out += header + bits[top * row_bytes : (top + rows) * row_bytes]
    return _with_align(align, bytes(out))


def _encode_text_op(op: Text, columns: int) -> bytes:
    size = ((op.width - 1) << 4) | (op.height - 1)
    body = ESC + b"E" + (b"\x01" if op.bold else b"\x00") + GS + b"!" + bytes((size,))
    body += b"".join(encode_text(line) + LF for line in layout_text(op, columns))
    body += ESC + b"E\x00" + GS + b"!\x00"
    return _with_align(op.align, body)


def _encode_lines(lines: list[str], bold: bool) -> bytes:
    body = b"".join(encode_text(line) + LF for line in lines)
    return ESC + b"E\x01" + body + ESC + b"E\x00" if bold else body


def encode_ticket(ticket: Ticket, paper: PaperWidth) -> bytes:
    """The whole job: init, Chinese mode, then each operation laid out for ``paper``."""
    out = bytearray(INIT + CHINESE_ON)
    columns = paper.columns
    for op in ticket.ops:
        if isinstance(op, Text):
            out += _encode_text_op(op, columns)
        elif isinstance(op, Rule):
            out += _encode_lines([layout_rule(op, columns)], bold=False)
        elif isinstance(op, Row):
            out += _encode_lines(layout_row(op, columns), bold=op.bold)
        elif isinstance(op, QrCode):
            out += encode_qr(op)
        elif isinstance(op, Barcode):
            out += _encode_barcode(op)
        elif isinstance(op, Image):
            out += encode_image(op.image, op.align, paper.dots)
        elif isinstance(op, Feed):
            out += ESC + b"d" + bytes((op.lines,))
        elif isinstance(op, Cut):
            out += GS + b"V" + (b"\x42" if op.partial else b"\x41") + bytes((_CUT_FEED,))
        else:  # pragma: no cover - Op is a closed union; a new op must be encoded here
            raise TypeError(f"cannot encode {type(op).__name__}")
    return bytes(out)
