"""What came out of the virtual printer: printed blocks and tickets (pure values)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BARCODE_NAMES",
    "BarcodeBlock",
    "Block",
    "GapBlock",
    "Glyph",
    "PrintedTicket",
    "QrBlock",
    "RasterBlock",
    "TextLine",
    "decode_code128",
]

# GS k m: function A (m = 0..6, NUL-terminated data) and function B (m = 65..79, counted data).
BARCODE_NAMES: dict[int, str] = {
    0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
    65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF", 71: "CODABAR",
    72: "CODE93", 73: "CODE128", 74: "GS1-128", 75: "GS1 DATABAR OMNIDIRECTIONAL",
    76: "GS1 DATABAR TRUNCATED", 77: "GS1 DATABAR LIMITED", 78: "GS1 DATABAR EXPANDED", 79: "CODE128 AUTO",
}  # fmt: skip


@dataclass(frozen=True)
class Glyph:
    """One printed character. ``wide``: sent as a multi-byte (GB18030) code, printed 24 dots wide;
    otherwise 12. ``width``/``height`` are the magnifications (GS !, ESC !)."""

    char: str
    wide: bool
    bold: bool = False
    width: int = 1
    height: int = 1

    @property
    def dots(self) -> int:
        return (24 if self.wide else 12) * self.width


@dataclass(frozen=True)
class TextLine:
    glyphs: tuple[Glyph, ...]
    align: int = 0  # 0 left, 1 centre, 2 right
    spacing: int = 30  # line spacing in dots (ESC 2 / ESC 3 n)

    @property
    def text(self) -> str:
        return "".join(g.char for g in self.glyphs).rstrip()


@dataclass(frozen=True)
class QrBlock:
    data: bytes
    module: int = 3
    error_correction: int = 48  # 48 L, 49 M, 50 Q, 51 H
    align: int = 0

    @property
    def text(self) -> str:
        return f"[QR: {_decode(self.data)}]"


@dataclass(frozen=True)
class BarcodeBlock:
    symbology: str
    data: bytes
    height: int = 162
    module: int = 3
    hri: int = 0  # 0 none, 1 above, 2 below, 3 both
    align: int = 0

    @property
    def human(self) -> str:
        """The data as the barcode's text line shows it (CODE128 code-set escapes removed)."""
        if self.symbology.startswith("CODE128") or self.symbology == "GS1-128":
            return decode_code128(self.data)
        return self.data.decode("ascii", errors="replace")

    @property
    def text(self) -> str:
        return f"[BARCODE {self.symbology}: {self.human}]"


@dataclass(frozen=True)
class RasterBlock:
    """A GS v 0 raster: ``width_bytes`` × 8 dots wide, 1 bit per dot, 1 = black."""

    width_bytes: int
    height: int
    bits: bytes
    align: int = 0

    @property
    def text(self) -> str:
        return f"[IMAGE {self.width_bytes * 8}x{self.height}]"


@dataclass(frozen=True)
class GapBlock:
    """Paper fed by a number of dots (ESC J): space, no text line."""

    dots: int


Block = TextLine | QrBlock | BarcodeBlock | RasterBlock | GapBlock


@dataclass(frozen=True)
class PrintedTicket:
    """The paper between two cuts. ``complete=False``: the paper ran out (or was pulled) before the cut."""

    blocks: tuple[Block, ...]
    complete: bool = True
    partial_cut: bool = False

    def text(self) -> str:
        """The ``ticket-NNNN.txt`` form: one line per printed line, ``[QR: data]``, ``[BARCODE type: data]``,
        ``[IMAGE WxH]``, no trailing blank lines; ``[PAPER OUT]`` last when incomplete."""
        lines = [block.text for block in self.blocks if not isinstance(block, GapBlock)]
        while lines and not lines[-1]:
            lines.pop()
        if not self.complete:
            lines.append("[PAPER OUT]")
        return "".join(line + "\n" for line in lines)

    @property
    def qr_codes(self) -> tuple[str, ...]:
        return tuple(_decode(b.data) for b in self.blocks if isinstance(b, QrBlock))

    @property
    def barcodes(self) -> tuple[tuple[str, str], ...]:
        return tuple((b.symbology, b.human) for b in self.blocks if isinstance(b, BarcodeBlock))


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def decode_code128(data: bytes) -> str:
    """Human-readable text of ESC/POS CODE128 data: ``{A`` ``{B`` ``{C`` select the code set (in C each
    byte is two digits), ``{1``..``{4`` and ``{S`` are function/shift characters (not shown), ``{{`` is
    ``{``."""
    out: list[str] = []
    code_set = "B"
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x7B and i + 1 < len(data):
            escape = data[i + 1]
            i += 2
            if escape in b"ABC":
                code_set = chr(escape)
            elif escape == 0x7B:
                out.append("{")
            continue
        if code_set == "C":
            out.append(f"{byte:02d}" if byte < 100 else "?")
        else:
            out.append(chr(byte) if 0x20 <= byte < 0x7F else "?")
        i += 1
    return "".join(out)
