"""A virtual ESC/POS receipt printer: parses the byte stream a real 58/80 mm Chinese thermal printer gets
and writes each cut ticket as ``ticket-NNNN.png`` (drawn at the paper's width in dots) and
``ticket-NNNN.txt`` (one line per printed line). It answers real-time status and can run out of paper.

    python -m simulators.escpos --tcp 127.0.0.1:9100 --out DIR [--pty] [--paper 58] [--paper-out]

    VirtualPrinter(out_dir).serve_tcp("127.0.0.1", 0) -> PrinterHandle (.port, .tickets(), .set_paper(),
                                                           .set_cover(), .wait_for_tickets(), .stop())
    VirtualPrinter(out_dir).serve_pty()                -> PrinterHandle (.path: open it as a serial port)
    EscPosParser(paper_dots).feed(bytes) -> replies    the pure parser; .take_tickets() -> [PrintedTicket]
"""

from simulators.escpos._model import (
    BarcodeBlock,
    Block,
    GapBlock,
    Glyph,
    PrintedTicket,
    QrBlock,
    RasterBlock,
    TextLine,
    decode_code128,
)
from simulators.escpos._parser import MAX_PAGE_BLOCKS, EscPosParser
from simulators.escpos._render import render_png
from simulators.escpos._server import PAPER_DOTS, PrinterHandle, TicketFile, VirtualPrinter

__all__ = [
    "MAX_PAGE_BLOCKS",
    "PAPER_DOTS",
    "BarcodeBlock",
    "Block",
    "EscPosParser",
    "GapBlock",
    "Glyph",
    "PrintedTicket",
    "PrinterHandle",
    "QrBlock",
    "RasterBlock",
    "TextLine",
    "TicketFile",
    "VirtualPrinter",
    "decode_code128",
    "render_png",
]
