"""Layout of a ticket at a given paper width, in character columns: pure functions, no bytes.

The printer's font A is 12x24 dots; every character that is not ASCII is sent as a GB18030 multi-byte code
and printed as a 24x24 full-width glyph. So the width of a character is decided by whether it is ASCII,
not by Unicode's East Asian Width: "·", "↑", "℃" and "￥" are all two columns on the paper. The driver
(:mod:`drivers.printers`) prints the lines made here; :func:`preview_pages` makes the same lines as text,
in the form the virtual printer (:mod:`simulators.escpos`) writes its ``ticket-NNNN.txt``.
"""

from __future__ import annotations

import math
import unicodedata

from cardservice.printing._ticket import (
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
)

__all__ = [
    "char_width",
    "column_widths",
    "display_width",
    "fit_image",
    "layout_row",
    "layout_rule",
    "layout_text",
    "pad",
    "preview_pages",
    "printable",
    "wrap",
]

# Characters the printers' GB18030 fonts do not have, replaced by ones they do. U+00A5 is a four-byte
# GB18030 code outside the mandatory font set; the full-width yen/yuan sign U+FFE5 is A3A4 in GB2312,
# which every Chinese printer prints (and is what Chinese receipts show).
_SUBSTITUTIONS = str.maketrans({"\u00a5": "\uffe5"})
# Zero-width characters print as nothing on screens but as a glyph (or garbage) on a printer.
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"}


def printable(text: str) -> str:
    """Text as the printer should get it: NFC, control characters as spaces (a name or item from the HIS
    must never carry an ESC/POS command), zero-width characters dropped, printer substitutions applied.
    Newlines are kept: they are line breaks for :func:`wrap`."""
    out: list[str] = []
    for ch in unicodedata.normalize("NFC", text).translate(_SUBSTITUTIONS):
        if ch == "\n":
            out.append(ch)
        elif ch in _INVISIBLE:
            continue
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in ("\u0085",):
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)


def char_width(ch: str) -> int:
    """Columns one character takes on the paper: 1 for ASCII, 2 for anything else (GB18030 multi-byte)."""
    return 1 if ord(ch) < 0x80 else 2


def display_width(text: str) -> int:
    """Columns a (single-line) string takes on the paper: Chinese characters count 2."""
    return sum(char_width(ch) for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Split ``text`` into lines of at most ``width`` columns.

    Chinese text breaks between any two characters; a run of ASCII (a word, a number, an amount) moves to
    the next line whole when there is a space before it to break at. A character wider than ``width``
    still gets a line of its own (never an endless loop). Trailing spaces are dropped.
    """
    width = max(width, 1)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        used = 0
        for ch in paragraph:
            cw = char_width(ch)
            if used + cw > width and line:
                space = line.rfind(" ")
                tail = line[space + 1 :]
                if (
                    ch != " "
                    and ch.isascii()
                    and space > 0
                    and tail.isascii()
                    and display_width(tail) + cw <= width
                ):
                    lines.append(line[:space].rstrip())
                    line, used = tail, display_width(tail)
                else:
                    lines.append(line.rstrip())
                    line, used = "", 0
                if ch == " " and not line:
                    continue
            line += ch
            used += cw
        lines.append(line.rstrip())
    return lines


def pad(text: str, width: int, align: Align) -> str:
    """``text`` padded with spaces to ``width`` columns (unchanged when it is wider)."""
    room = max(width - display_width(text), 0)
    if align is Align.RIGHT:
        return " " * room + text
    if align is Align.CENTER:
        return " " * (room // 2) + text + " " * (room - room // 2)
    return text + " " * room


def layout_text(op: Text, columns: int) -> list[str]:
    """The printed lines of a :class:`Text`, not padded: the printer aligns them (ESC a)."""
    return wrap(printable(op.text), max(columns // op.width, 2))


def layout_rule(op: Rule, columns: int) -> str:
    return op.char * (columns // char_width(op.char))


def column_widths(row: Row, columns: int) -> list[int]:
    """The width of each column of ``row`` on a line of ``columns``, one space between columns.

    Fixed widths first (shrunk in proportion when they leave no room for the others), then columns of
    weight 0 get their content's width (capped at an equal share unless everything fits), then the rest is
    shared by weight. Every column gets at least 2 columns so a Chinese character fits.
    """
    specs = row.columns
    count = len(specs)
    room = columns - (count - 1)
    if room < 2 * count:
        raise ValueError(f"{count} columns do not fit on a line of {columns}")
    widths = [spec.width or 0 for spec in specs]
    flexible = [i for i, spec in enumerate(specs) if spec.width is None]
    fixed_budget = room - 2 * len(flexible)
    fixed_total = sum(widths)
    if fixed_total > fixed_budget:
        for i, spec in enumerate(specs):
            if spec.width is not None:
                widths[i] = max(2, spec.width * fixed_budget // fixed_total)
        while sum(widths) > fixed_budget:  # the minimum of 2 can overshoot; fixed_budget >= 2 per column
            widest = max(range(count), key=lambda i: widths[i])
            widths[widest] -= 1
    rest = room - sum(widths)
    if flexible:
        naturals = {  # content widths, at least 2 (the minimum of every column)
            i: max(2, *(display_width(part) for part in printable(row.cells[i]).split("\n")))
            for i in flexible
        }
        autos = [i for i in flexible if specs[i].weight == 0]
        weighted = [i for i in flexible if specs[i].weight > 0]
        auto_budget = rest - 2 * len(weighted)  # what content-sized columns may take
        everything_fits = sum(naturals.values()) <= rest and sum(naturals[i] for i in autos) <= auto_budget
        cap = min(rest // len(flexible), auto_budget // len(autos)) if autos else 0
        for i in autos:
            widths[i] = max(2, naturals[i] if everything_fits else min(naturals[i], cap))
        left = room - sum(widths) - 2 * len(weighted)
        total_weight = sum(specs[i].weight for i in weighted)
        if weighted:
            for i in weighted:
                widths[i] = 2 + max(left, 0) * specs[i].weight // total_weight
            spare = room - sum(widths)
            for i in weighted[: max(spare, 0)]:
                widths[i] += 1
    return widths


def layout_row(row: Row, columns: int) -> list[str]:
    """The printed lines of a :class:`Row`: each cell wrapped inside its column and padded."""
    widths = column_widths(row, columns)
    cells = [wrap(printable(cell), width) for cell, width in zip(row.cells, widths, strict=True)]
    height = max(len(lines) for lines in cells)
    out: list[str] = []
    for n in range(height):
        parts = [
            pad(lines[n] if n < len(lines) else "", width, spec.align)
            for lines, width, spec in zip(cells, widths, row.columns, strict=True)
        ]
        out.append(" ".join(parts).rstrip())
    return out


def fit_image(width: int, height: int, dots: int) -> tuple[int, int]:
    """The raster size an image is printed at: scaled down to the paper if wider, width rounded up to whole
    bytes (ESC/POS rasters are byte rows)."""
    if width > dots:
        height = max(1, round(height * dots / width))
        width = dots
    return math.ceil(width / 8) * 8, height


def preview_pages(ticket: Ticket, paper: PaperWidth) -> tuple[str, ...]:
    """The ticket as plain text, one string per cut page, exactly as the virtual printer writes its
    ``ticket-NNNN.txt``: one line per printed line without trailing spaces, ``[QR: data]``,
    ``[BARCODE CODE128: data]``, ``[IMAGE WxH]``, no trailing blank lines."""
    pages: list[str] = []
    lines: list[str] = []
    started = False
    last_image: tuple[int, Align, int] | None = None  # adjacent rasters print as one picture
    for op in ticket.ops:
        if isinstance(op, Cut):
            if started:
                pages.append(_page_text(lines))
            lines, started, last_image = [], False, None
            continue
        started = True
        if isinstance(op, Image):
            width, height = fit_image(op.image.width, op.image.height, paper.dots)
            if last_image is not None and last_image[:2] == (width, op.align):
                height += last_image[2]
                lines.pop()
            lines.append(f"[IMAGE {width}x{height}]")
            last_image = (width, op.align, height)
            continue
        last_image = None
        if isinstance(op, Text):
            lines.extend(layout_text(op, paper.columns))
        elif isinstance(op, Rule):
            lines.append(layout_rule(op, paper.columns))
        elif isinstance(op, Row):
            lines.extend(layout_row(op, paper.columns))
        elif isinstance(op, QrCode):
            lines.append(f"[QR: {op.data}]")
        elif isinstance(op, Barcode):
            lines.append(f"[BARCODE {op.symbology}: {op.data}]")
        elif isinstance(op, Feed):
            lines.extend([""] * op.lines)
    if started:
        pages.append(_page_text(lines))
    return tuple(pages)


def _page_text(lines: list[str]) -> str:
    while lines and not lines[-1]:
        lines = lines[:-1]
    return "".join(line.rstrip() + "\n" for line in lines)
