"""Printed tickets as pictures: a PNG the width of the paper in dots, drawn with Pillow.

Text is drawn in the printer's cell grid (12x24 dots for ASCII, 24x24 for Chinese, magnified by GS !), so
columns line up as on paper; glyphs come from a CJK TrueType font (WenQuanYi Micro Hei). Characters the
font lacks (CJK Extension B such as 𠀀) are drawn as its missing-glyph box; the ``.txt`` has them right.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import barcode
import qrcode
import qrcode.constants
from PIL import Image, ImageDraw, ImageFont

from simulators.escpos._model import (
    BarcodeBlock,
    Block,
    GapBlock,
    PrintedTicket,
    QrBlock,
    RasterBlock,
    TextLine,
)

__all__ = ["FONT_PATHS", "render_png"]

log = logging.getLogger(__name__)

FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
_CELL_HEIGHT = 24
_MARGIN = 12  # paper above the first and below the last line
_QR_GAP = 8
_QR_EC = {
    48: qrcode.constants.ERROR_CORRECT_L,
    49: qrcode.constants.ERROR_CORRECT_M,
    50: qrcode.constants.ERROR_CORRECT_Q,
    51: qrcode.constants.ERROR_CORRECT_H,
}
_MAX_HEIGHT = 65000
# Symbologies drawn with python-barcode; others get a placeholder box (the .txt still has the data).
_BARCODE_CLASSES = {
    "CODE128": "code128", "CODE128 AUTO": "code128", "GS1-128": "gs1_128", "EAN13": "ean13", "EAN8": "ean8",
    "UPC-A": "upca", "CODE39": "code39", "ITF": "itf", "CODABAR": "codabar",
}  # fmt: skip  # Pillow and PNG viewers cope; a page cut by force stays under this


FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=8)
def _font(size: int, mono: bool) -> FontType:
    for path in FONT_PATHS:
        try:
            # Index 1 of the WenQuanYi collection is its monospaced face: ASCII like a printer's font A.
            return ImageFont.truetype(path, size, index=1 if mono and "wqy" in path else 0)
        except OSError:
            continue
    log.warning("no CJK font found; Chinese will not be drawn")
    return ImageFont.load_default()


@lru_cache(maxsize=4096)
def _glyph(char: str, wide: bool, bold: bool) -> Image.Image:
    """One character in its cell, as a mask ('L', 255 = ink)."""
    width = 24 if wide else 12
    cell = Image.new("L", (width, _CELL_HEIGHT), 0)
    if not char.strip():
        return cell
    font = _font(22, mono=not wide)
    draw = ImageDraw.Draw(cell)
    # On a common baseline, centred horizontally: "." and "-" must stay where the font puts them.
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        baseline = (_CELL_HEIGHT + ascent - descent) // 2
        draw.text((width / 2, baseline), char, fill=255, font=font, anchor="ms",
                  stroke_width=1 if bold else 0, stroke_fill=255)  # fmt: skip
    else:
        draw.text((0, 0), char, fill=255, font=font)
    return cell


def _x(align: int, width: int, paper: int) -> int:
    if align == 1:
        return max((paper - width) // 2, 0)
    if align == 2:
        return max(paper - width, 0)
    return 0


def _qr_image(block: QrBlock) -> Image.Image | None:
    try:
        code = qrcode.QRCode(
            box_size=block.module, border=0, error_correction=_QR_EC.get(block.error_correction, 0)
        )
        code.add_data(block.data)
        code.make(fit=True)
        matrix = code.get_matrix()
    except Exception:  # data no QR version holds: the printer prints nothing
        log.info("QR data does not fit a QR code")
        return None
    size = len(matrix)
    image = Image.new("1", (size, size), 1)
    image.putdata([0 if dark else 1 for row in matrix for dark in row])
    return image.resize((size * block.module, size * block.module), Image.Resampling.NEAREST)


def _barcode_modules(block: BarcodeBlock) -> str | None:
    """The bars as '1'/'0' modules, from python-barcode (CODE128 in its own code-set choice)."""
    name = _BARCODE_CLASSES.get(block.symbology)
    if name is None:
        return None
    try:
        options = {"add_checksum": False} if name == "code39" else {}
        built = barcode.get_barcode_class(name)(block.human, **options).build()
    except Exception:  # data the symbology cannot encode: a placeholder is drawn
        return None
    return "".join(built)


def _text_height(line: TextLine) -> tuple[int, int]:
    """(cell height, line pitch) of a text line."""
    cell = max((g.height for g in line.glyphs), default=1) * _CELL_HEIGHT
    return cell, max(line.spacing, cell + 6) if line.glyphs else max(line.spacing, 1)


def _block_height(block: Block, paper: int) -> int:
    if isinstance(block, TextLine):
        return _text_height(block)[1]
    if isinstance(block, QrBlock):
        image = _qr_image(block)
        return (image.height if image else _CELL_HEIGHT) + _QR_GAP
    if isinstance(block, BarcodeBlock):
        return block.height + (30 if block.hri in (1, 2) else 60 if block.hri == 3 else 0) + _QR_GAP
    if isinstance(block, RasterBlock):
        return block.height
    return block.dots


def render_png(ticket: PrintedTicket, paper_dots: int) -> Image.Image:
    """The ticket as a 1-bit picture ``paper_dots`` wide."""
    heights = [_block_height(block, paper_dots) for block in ticket.blocks]
    height = min(sum(heights) + 2 * _MARGIN, _MAX_HEIGHT)
    page = Image.new("L", (paper_dots, height), 255)
    y = _MARGIN
    for block, block_height in zip(ticket.blocks, heights, strict=True):
        if y + block_height > height:
            break
        _draw(page, block, y, paper_dots)
        y += block_height
    return page.convert("1", dither=Image.Dither.NONE)


def _draw(page: Image.Image, block: Block, y: int, paper: int) -> None:
    if isinstance(block, TextLine):
        cell, _pitch = _text_height(block)
        x = _x(block.align, sum(g.dots for g in block.glyphs), paper)
        for g in block.glyphs:
            mask = _glyph(g.char, g.wide, g.bold)
            if g.width != 1 or g.height != 1:
                mask = mask.resize((mask.width * g.width, _CELL_HEIGHT * g.height), Image.Resampling.NEAREST)
            page.paste(0, (x, y + cell - mask.height), mask)
            x += mask.width
    elif isinstance(block, QrBlock):
        image = _qr_image(block)
        if image is not None:
            page.paste(image.convert("L"), (_x(block.align, image.width, paper), y))
    elif isinstance(block, BarcodeBlock):
        _draw_barcode(page, block, y, paper)
    elif isinstance(block, RasterBlock):
        image = Image.frombytes("1", (block.width_bytes * 8, block.height), block.bits, "raw", "1;I")
        page.paste(image.convert("L"), (_x(block.align, image.width, paper), y))
    elif isinstance(block, GapBlock):
        pass


def _draw_barcode(page: Image.Image, block: BarcodeBlock, y: int, paper: int) -> None:
    draw = ImageDraw.Draw(page)
    modules = _barcode_modules(block)
    module = block.module
    if modules is not None:
        while module > 1 and len(modules) * module > paper:
            module -= 1  # a printer does not print a barcode wider than the paper; narrower is kinder
        width = len(modules) * module
    else:
        width = min(paper, 200)
    x0 = _x(block.align, width, paper)
    text_y = y
    bars_y = y + (30 if block.hri in (1, 3) else 0)
    if modules is None:
        draw.rectangle((x0, bars_y, x0 + width - 1, bars_y + block.height - 1), outline=0)
    else:
        for i, bit in enumerate(modules):
            if bit == "1":
                draw.rectangle(
                    (x0 + i * module, bars_y, x0 + (i + 1) * module - 1, bars_y + block.height - 1), 0
                )
    if block.hri:
        font = _font(20, mono=True)
        text = block.human
        text_width = int(draw.textlength(text, font=font))
        tx = x0 + max((width - text_width) // 2, 0)
        if block.hri in (1, 3):
            draw.text((tx, text_y), text, fill=0, font=font)
        if block.hri in (2, 3):
            draw.text((tx, bars_y + block.height + 4), text, fill=0, font=font)
