"""The ticket model: an ordered list of simple, paper-independent operations.

A :class:`Ticket` says *what* to print (a line of text, a table row, a QR code, a cut), never *how*: the
ESC/POS bytes are made by :mod:`drivers.printers`, and the layout at a given paper width (wrapping, column
widths) by :mod:`cardservice.printing._layout`, which the driver and the text preview share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Literal

from PIL import Image as PILImage

__all__ = [
    "Align",
    "Barcode",
    "Column",
    "Cut",
    "Feed",
    "Image",
    "Op",
    "PaperWidth",
    "QrCode",
    "Row",
    "Rule",
    "Text",
    "Ticket",
]

# GS ! allows 1..8 times magnification in each direction.
_MAX_SCALE = 8
# Epson GS k CODE128 takes at most 255 bytes including the 2-byte code-set prefix; keep well under it.
_MAX_BARCODE = 64
# A QR code beyond a few hundred characters is unreadable at receipt sizes; the ESC/POS limit is 7089.
_MAX_QR = 1000


class Align(StrEnum):
    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


class PaperWidth(IntEnum):
    """Thermal roll widths in millimetres. 203 dpi print heads: 58 mm prints 384 dots = 32 columns of the
    12x24 font A, 80 mm prints 576 dots = 48 columns. A Chinese character takes 2 columns (24 dots)."""

    MM58 = 58
    MM80 = 80

    @property
    def dots(self) -> int:
        return 384 if self is PaperWidth.MM58 else 576

    @property
    def columns(self) -> int:
        return 32 if self is PaperWidth.MM58 else 48


def _check_scale(name: str, value: int) -> None:
    if isinstance(value, bool) or not 1 <= value <= _MAX_SCALE:
        raise ValueError(f"{name} must be 1..{_MAX_SCALE}, not {value!r}")


@dataclass(frozen=True)
class Text:
    """One paragraph of text: wrapped to the paper, each printed line aligned. ``"\\n"`` starts a new line;
    ``Text("")`` is a blank line. ``width``/``height`` magnify the characters (GS !)."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    width: int = 1
    height: int = 1

    def __post_init__(self) -> None:
        _check_scale("width", self.width)
        _check_scale("height", self.height)


@dataclass(frozen=True)
class Rule:
    """A separator line across the paper, made of ``char`` repeated."""

    char: str = "-"

    def __post_init__(self) -> None:
        if len(self.char) != 1 or not self.char.isprintable() or self.char.isspace():
            raise ValueError("a rule is one printable, non-space character")


@dataclass(frozen=True)
class Column:
    """How one column of a :class:`Row` is sized and aligned.

    ``width`` fixes the width in columns (at least 2); otherwise the column takes a share of what is left
    in proportion to ``weight``. ``weight=0`` means "as wide as its content" (a label), capped so others
    still fit.
    """

    weight: int = 1
    align: Align = Align.LEFT
    width: int | None = None

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError("weight must be >= 0")
        if self.width is not None and self.width < 2:
            raise ValueError("width must be >= 2 (a Chinese character is 2 columns)")


@dataclass(frozen=True)
class Row:
    """A table row: one cell per column, cells wrapped inside their column, a space between columns."""

    cells: tuple[str, ...]
    columns: tuple[Column, ...]
    bold: bool = False

    def __post_init__(self) -> None:
        if not self.cells or len(self.cells) != len(self.columns):
            raise ValueError("a row needs one column spec per cell, and at least one cell")

    @classmethod
    def pair(cls, label: str, value: str, *, bold: bool = False) -> Row:
        """``label ........ value``: the label as wide as it is, the value right-aligned."""
        return cls((label, value), (Column(weight=0), Column(align=Align.RIGHT)), bold=bold)


@dataclass(frozen=True)
class QrCode:
    """A QR code (model 2) printed by the printer itself; ``module`` is the dot size of one module."""

    data: str
    module: int = 6
    error_correction: Literal["L", "M", "Q", "H"] = "M"
    align: Align = Align.CENTER

    def __post_init__(self) -> None:
        if not self.data or len(self.data) > _MAX_QR:
            raise ValueError(f"QR data must be 1..{_MAX_QR} characters")
        if not 1 <= self.module <= 16:
            raise ValueError("QR module size must be 1..16 dots")


@dataclass(frozen=True)
class Barcode:
    """A CODE128 barcode printed by the printer itself, with its text (HRI) below unless ``show_text`` is
    false. ``module`` is the narrowest bar in dots (2..6), ``height`` the bar height in dots."""

    data: str
    height: int = 80
    module: int = 2
    show_text: bool = True
    align: Align = Align.CENTER
    symbology: Literal["CODE128"] = "CODE128"

    def __post_init__(self) -> None:
        if not self.data or len(self.data) > _MAX_BARCODE:
            raise ValueError(f"barcode data must be 1..{_MAX_BARCODE} characters")
        # Code set B covers printable ASCII; "{" is the code-set escape in ESC/POS data, so it is refused.
        if any(not (0x20 <= ord(c) <= 0x7E) or c == "{" for c in self.data):
            raise ValueError("CODE128 data must be printable ASCII without '{'")
        if not 1 <= self.height <= 255:
            raise ValueError("barcode height must be 1..255 dots")
        if not 2 <= self.module <= 6:
            raise ValueError("barcode module must be 2..6 dots")


@dataclass(frozen=True)
class Image:
    """A picture (logo, signature), printed as a 1-bit raster; scaled down to the paper if wider."""

    image: PILImage.Image = field(compare=False)
    align: Align = Align.CENTER


@dataclass(frozen=True)
class Feed:
    """Blank lines."""

    lines: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.lines <= 255:
            raise ValueError("feed must be 1..255 lines")


@dataclass(frozen=True)
class Cut:
    """Feed to the cutter and cut; ``partial`` leaves a hinge so the ticket does not fall."""

    partial: bool = False


Op = Text | Rule | Row | QrCode | Barcode | Image | Feed | Cut


@dataclass(frozen=True)
class Ticket:
    """What to print, in order. Tickets concatenate with ``+``; a multi-page job has :class:`Cut` between
    its pages, and :attr:`pages` splits it again."""

    ops: tuple[Op, ...] = ()

    def __add__(self, other: Ticket) -> Ticket:
        return Ticket(self.ops + other.ops)

    @property
    def pages(self) -> tuple[Ticket, ...]:
        """The job split after each cut (a trailing part without a cut is a page too)."""
        pages: list[Ticket] = []
        current: list[Op] = []
        for op in self.ops:
            current.append(op)
            if isinstance(op, Cut):
                pages.append(Ticket(tuple(current)))
                current = []
        if current:
            pages.append(Ticket(tuple(current)))
        return tuple(pages)
