"""A streaming ESC/POS parser: bytes in, printed tickets and status replies out. Pure (no I/O).

The parser is a generator that asks for bytes (``yield n`` = "up to n more bytes, please") and is fed
whatever arrived, so a command may be split across any number of TCP segments. Every length read from the
stream is bounded: out-of-range headers are dropped (parsing resumes after them), large in-range payloads
are consumed without being kept, and the page is cut by force when it grows past :data:`MAX_PAGE_BLOCKS`.
An unknown command is skipped as ``ESC x`` / ``GS x`` / ``FS x``. A bug in a handler resets the command
state instead of raising: a hostile stream can garble a ticket, never stop the printer.

Status replies follow the ESC/POS real-time status (DLE EOT n) layout: fixed bits 1 and 4 set.
"""

from __future__ import annotations

import logging
from collections.abc import Generator

from simulators.escpos._model import (
    BARCODE_NAMES,
    BarcodeBlock,
    Block,
    GapBlock,
    Glyph,
    PrintedTicket,
    QrBlock,
    RasterBlock,
    TextLine,
)

__all__ = ["MAX_PAGE_BLOCKS", "EscPosParser"]

log = logging.getLogger(__name__)

LF, HT, CR, FF, DLE, ESC, FS, GS, NUL = 0x0A, 0x09, 0x0D, 0x0C, 0x10, 0x1B, 0x1C, 0x1D, 0x00

MAX_PAGE_BLOCKS = 4000  # about 15 m of text lines: a runaway stream, cut by force
_MAX_KEEP = 8192  # bytes of a 2D-code or other payload that are kept
_MAX_RASTER = 4 * 1024 * 1024  # bytes of one GS v 0 image (the spec allows 65535 x 2303: never real)
_MAX_RASTER_HEIGHT = 2303
_MAX_MERGED_HEIGHT = 16384  # adjacent raster bands joined into one picture up to this height
_TAB_DOTS = 8 * 12  # default tab stops: every 8 font-A columns
_DEFAULT_SPACING = 30

# ESC t n -> Python codec. Chinese printers list more; these are the common Western ones.
_CODE_PAGES = {
    0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865",
    16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858",
}  # fmt: skip

# Parameter byte counts of the fixed-length commands this printer does not act on.
_ESC_SKIP = {
    0x20: 1, 0x24: 2, 0x25: 1, 0x2D: 1, 0x3D: 1, 0x3F: 1, 0x47: 1, 0x4D: 1, 0x52: 1, 0x53: 0, 0x54: 1,
    0x56: 1, 0x57: 8, 0x5C: 2, 0x63: 2, 0x65: 1, 0x69: 0, 0x6D: 0, 0x70: 3, 0x72: 1, 0x75: 1, 0x76: 0,
    0x7B: 1, 0x4C: 0, 0x0C: 0,
}  # fmt: skip
_GS_SKIP = {
    0x24: 2, 0x2F: 1, 0x3A: 0, 0x42: 1, 0x49: 1, 0x4C: 2, 0x50: 2, 0x54: 1, 0x57: 2, 0x5C: 2, 0x5E: 3,
    0x61: 1, 0x62: 1, 0x63: 0, 0x45: 1,
}  # fmt: skip
_FS_SKIP = {0x21: 1, 0x2D: 1, 0x43: 1, 0x53: 2, 0x57: 1, 0x70: 2, 0x32: 74}

Parse = Generator[int, bytes, None]


class EscPosParser:
    """One printer's state: feed it bytes with :meth:`feed` (returns the bytes it answers), collect what
    was cut with :meth:`take_tickets`."""

    def __init__(self, paper_dots: int = 576, *, chinese_default: bool = False) -> None:
        self.paper_dots = paper_dots
        self.chinese_default = chinese_default
        self.paper_present = True
        self.paper_near_end = False
        self.cover_open = False
        self.lines_left: int | None = None  # paper left on the roll, in printed lines; None: plenty
        self.errors = 0  # handler bugs survived (tests assert none)
        self._tickets: list[PrintedTicket] = []
        self._page: list[Block] = []
        self._responses = bytearray()
        self._pushback: int | None = None
        self._reset_modes()
        self._machine = self._run()
        self._want = next(self._machine)

    # -- controls -----------------------------------------------------------------------------------------

    def set_paper(self, present: bool, *, after_lines: int | None = None) -> None:
        """Load paper (``True``), take it out now (``False``), or let the roll end after ``after_lines``
        more printed lines (``False, after_lines=n``)."""
        if present:
            self.paper_present, self.paper_near_end, self.lines_left = True, False, None
        elif after_lines is not None and after_lines > 0 and self.paper_present:
            # The near-end sensor sees the roll's core before the paper ends.
            self.paper_near_end, self.lines_left = True, after_lines
        else:
            self._run_out()

    def set_cover(self, open_: bool) -> None:
        self.cover_open = open_
        if open_:
            self._line.clear()
            self._line_dots = 0

    @property
    def can_print(self) -> bool:
        return self.paper_present and not self.cover_open

    def status_byte(self, n: int) -> int | None:
        """The reply to DLE EOT n (None: no reply)."""
        offline = not self.can_print
        if n == 1:
            return 0x12 | (0x08 if offline else 0)
        if n == 2:
            return 0x12 | (0x04 if self.cover_open else 0) | (0x20 if not self.paper_present else 0)
        if n == 3:
            return 0x12
        if n == 4:
            return 0x12 | (0x0C if self.paper_near_end else 0) | (0x60 if not self.paper_present else 0)
        return None

    # -- the stream ---------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """Parse ``data``; return the bytes the printer sends back (status replies)."""
        pos = 0
        while pos < len(data):
            chunk = data[pos : pos + self._want]
            pos += len(chunk)
            try:
                self._want = self._machine.send(chunk)
            except Exception:  # a bug here must garble one command, never stop the printer
                log.exception("parser error; command state reset")
                self.errors += 1
                self.abort_command()
        out = bytes(self._responses)
        self._responses.clear()
        return out

    def abort_command(self) -> None:
        """Forget a half-received command (the connection that sent it is gone)."""
        self._pushback = None
        self._machine = self._run()
        self._want = next(self._machine)

    def take_tickets(self) -> list[PrintedTicket]:
        tickets, self._tickets = self._tickets, []
        return tickets

    # -- printing -----------------------------------------------------------------------------------------

    def _reset_modes(self) -> None:
        self.chinese = self.chinese_default
        self.code_page = "cp437"
        self.bold = False
        self.char_width = self.char_height = 1
        self.align = 0
        self.spacing = _DEFAULT_SPACING
        self.barcode_height, self.barcode_module, self.barcode_hri = 162, 3, 0
        self.qr_module, self.qr_ec, self.qr_data = 3, 48, b""
        self._line: list[Glyph] = []
        self._line_dots = 0
        self._line_align = 0

    def _put(self, char: str, wide: bool) -> None:
        if not self.can_print:
            return
        glyph = Glyph(char, wide, self.bold, self.char_width, self.char_height)
        if self._line and self._line_dots + glyph.dots > self.paper_dots:
            self._flush_line()
        if not self._line:
            self._line_align = self.align  # alignment counts at the start of a line only
        self._line.append(glyph)
        self._line_dots += glyph.dots

    def _flush_line(self) -> None:
        line = TextLine(tuple(self._line), self._line_align if self._line else self.align, self.spacing)
        self._line.clear()
        self._line_dots = 0
        self._emit(line)

    def _start_block(self) -> None:
        """Codes, images and gaps print from the start of a line: finish the text before them."""
        if self._line:
            self._flush_line()

    def _emit(self, block: Block) -> None:
        if not self.can_print:
            return
        last = self._page[-1] if self._page else None
        if (
            isinstance(block, RasterBlock)
            and isinstance(last, RasterBlock)
            and (last.width_bytes, last.align) == (block.width_bytes, block.align)
            and last.height + block.height <= _MAX_MERGED_HEIGHT
        ):
            self._page[-1] = RasterBlock(
                last.width_bytes, last.height + block.height, last.bits + block.bits, last.align
            )
            return
        self._page.append(block)
        if len(self._page) >= MAX_PAGE_BLOCKS:
            self._finish_page(complete=True)
        if self.lines_left is not None and not isinstance(block, GapBlock):
            self.lines_left -= 1
            if self.lines_left <= 0:
                self._run_out()

    def _finish_page(self, *, complete: bool, partial: bool = False) -> None:
        if self._page:
            self._tickets.append(PrintedTicket(tuple(self._page), complete, partial))
        self._page = []

    def _run_out(self) -> None:
        """The roll ends: what is printed so far is a ticket without a cut (someone tears it off)."""
        self._line.clear()
        self._line_dots = 0
        self._finish_page(complete=False)
        self.paper_present = False
        self.lines_left = None

    def _cut(self, partial: bool) -> None:
        if not self.can_print:
            return
        self._start_block()
        self._finish_page(complete=True, partial=partial)

    def _line_feed(self) -> None:
        if self.can_print:
            self._flush_line()

    # -- reading ------------------------------------------------------------------------------------------

    def _byte(self) -> Generator[int, bytes, int]:
        if self._pushback is not None:
            byte, self._pushback = self._pushback, None
            return byte
        chunk = yield 1
        return chunk[0]

    def _bytes(self, n: int, keep: int | None = None) -> Generator[int, bytes, bytes]:
        """Consume ``n`` bytes; return the first ``keep`` of them (all by default)."""
        limit = n if keep is None else keep
        out = bytearray()
        remaining = n
        if remaining and self._pushback is not None:
            if limit:
                out.append(self._pushback)
            self._pushback = None
            remaining -= 1
        while remaining > 0:
            chunk = yield min(remaining, 65536)
            remaining -= len(chunk)
            if len(out) < limit:
                out += chunk[: limit - len(out)]
        return bytes(out)

    def _run(self) -> Parse:
        while True:
            byte = yield from self._byte()
            if byte == ESC:
                yield from self._esc()
            elif byte == GS:
                yield from self._gs()
            elif byte == FS:
                yield from self._fs()
            elif byte == DLE:
                yield from self._dle()
            elif byte == LF:
                self._line_feed()
            elif byte == HT:
                self._tab()
            elif byte < 0x20 or byte == 0x7F:
                continue  # CR (auto line feed off), and controls without a meaning in standard mode
            elif byte < 0x80:
                self._put(chr(byte), wide=False)
            elif self.chinese:
                yield from self._chinese(byte)
            else:
                self._put(bytes((byte,)).decode(self.code_page, errors="replace"), wide=False)

    def _tab(self) -> None:
        if not self.can_print:
            return
        self._put(" ", wide=False)
        while self._line and self._line_dots % _TAB_DOTS and self._line_dots + 12 <= self.paper_dots:
            self._put(" ", wide=False)

    def _chinese(self, lead: int) -> Parse:
        """GB18030 in Kanji mode: 81..FE then 40..FE (not 7F), or 81..FE 30..39 81..FE 30..39."""
        if not 0x81 <= lead <= 0xFE:
            self._put("\ufffd", wide=False)
            return
        second = yield from self._byte()
        if 0x30 <= second <= 0x39:
            rest = yield from self._bytes(2)
            code = bytes((lead, second)) + rest
            if not (0x81 <= rest[0] <= 0xFE and 0x30 <= rest[1] <= 0x39):
                self._put("\ufffd", wide=True)
                return
        elif 0x40 <= second <= 0xFE and second != 0x7F:
            code = bytes((lead, second))
        else:
            self._put("\ufffd", wide=True)
            self._pushback = second  # not a trail byte: maybe a command
            return
        char = code.decode("gb18030", errors="replace")
        self._put(char if len(char) == 1 else "\ufffd", wide=True)

    # -- ESC ----------------------------------------------------------------------------------------------

    def _esc(self) -> Parse:
        cmd = yield from self._byte()
        if cmd == 0x40:  # ESC @ init: modes to power-on values, the unprinted line is dropped
            self._reset_modes()
        elif cmd == 0x45:  # ESC E n bold
            self.bold = bool((yield from self._byte()) & 1)
        elif cmd == 0x61:  # ESC a n alignment (0/48 left, 1/49 centre, 2/50 right)
            value = (yield from self._byte()) & 0x0F
            self.align = value if value <= 2 else self.align
            if not self._line:
                self._line_align = self.align
        elif cmd == 0x21:  # ESC ! n print mode
            mode = yield from self._byte()
            self.bold = bool(mode & 0x08)
            self.char_height = 2 if mode & 0x10 else 1
            self.char_width = 2 if mode & 0x20 else 1
        elif cmd == 0x64:  # ESC d n print and feed n lines
            for _ in range((yield from self._byte())):
                self._line_feed()
        elif cmd == 0x4A:  # ESC J n print and feed n dots
            dots = yield from self._byte()
            if self.can_print:
                self._start_block()
                self._emit(GapBlock(dots))
        elif cmd == 0x32:  # ESC 2 default line spacing
            self.spacing = _DEFAULT_SPACING
        elif cmd == 0x33:  # ESC 3 n line spacing
            self.spacing = yield from self._byte()
        elif cmd == 0x74:  # ESC t n code page
            self.code_page = _CODE_PAGES.get((yield from self._byte()), "cp437")
        elif cmd == 0x2A:  # ESC * m nL nH d: column bit image, consumed but not drawn
            head = yield from self._bytes(3)
            count = head[1] | head[2] << 8
            yield from self._bytes(count * (1 if head[0] in (0, 1) else 3), keep=0)
        elif cmd == 0x44:  # ESC D tab positions, NUL-terminated, at most 32
            for _ in range(33):
                if (yield from self._byte()) == NUL:
                    break
        elif cmd == 0x26:  # ESC & y c1 c2 [x d1..d(y*x)]...: user-defined characters, consumed
            yield from self._user_chars()
        else:
            yield from self._bytes(_ESC_SKIP.get(cmd, 0), keep=0)

    def _user_chars(self) -> Parse:
        y, c1, c2 = yield from self._bytes(3)
        if not (1 <= y <= 3 and 32 <= c1 <= c2 <= 126):
            return  # malformed header: dropped
        for _ in range(c2 - c1 + 1):
            x = yield from self._byte()
            if x > 12:
                return
            yield from self._bytes(y * x, keep=0)

    # -- GS -----------------------------------------------------------------------------------------------

    def _gs(self) -> Parse:
        cmd = yield from self._byte()
        if cmd == 0x21:  # GS ! n character size
            size = yield from self._byte()
            self.char_width = ((size >> 4) & 0x07) + 1
            self.char_height = (size & 0x07) + 1
        elif cmd == 0x56:  # GS V m [n] cut
            mode = yield from self._byte()
            if mode in (65, 66, 97, 98, 103, 104):
                yield from self._byte()  # feed amount before the cut: not drawn
            self._cut(partial=mode in (1, 49, 66, 98, 104))
        elif cmd == 0x68:  # GS h n barcode height
            self.barcode_height = (yield from self._byte()) or 1
        elif cmd == 0x77:  # GS w n barcode module width
            self.barcode_module = min(max((yield from self._byte()), 1), 6)
        elif cmd == 0x48:  # GS H n HRI position
            self.barcode_hri = (yield from self._byte()) & 0x03
        elif cmd == 0x66:  # GS f n HRI font
            yield from self._byte()
        elif cmd == 0x6B:  # GS k barcode
            yield from self._barcode()
        elif cmd == 0x76:  # GS v 0 m xL xH yL yH d: raster image
            yield from self._raster()
        elif cmd == 0x28:  # GS ( fn pL pH ...
            yield from self._gs_paren()
        elif cmd == 0x38:  # GS 8 L p1 p2 p3 p4 ...: large graphics data, consumed but not drawn
            head = yield from self._bytes(5)
            size = int.from_bytes(head[1:5], "little")
            if head[0] == 0x4C and size <= _MAX_RASTER:
                yield from self._bytes(size, keep=0)
        elif cmd == 0x2A:  # GS * x y d: define downloaded bit image (x * y * 8 bytes)
            x, y = yield from self._bytes(2)
            yield from self._bytes(x * y * 8, keep=0)
        elif cmd == 0x72:  # GS r n transmit status: n = 1 paper sensor (bits 0-1 near end, 2-3 end)
            if (yield from self._byte()) in (1, 49):
                reply = (0x03 if self.paper_near_end else 0) | (0x0C if not self.paper_present else 0)
                self._responses.append(reply)
        elif cmd == 0x67:  # GS g 0 m nL nH / GS g 2 m nL nH (maintenance counters)
            yield from self._bytes(4, keep=0)
        elif cmd == 0x7A:  # GS z 0 t1 t2
            yield from self._bytes(3, keep=0)
        else:
            yield from self._bytes(_GS_SKIP.get(cmd, 0), keep=0)

    def _barcode(self) -> Parse:
        kind = yield from self._byte()
        if kind <= 6:
            data = bytearray()
            for _ in range(256):  # NUL-terminated; no real barcode is longer than 255 characters
                byte = yield from self._byte()
                if byte == NUL:
                    break
                data.append(byte)
            else:
                return  # no terminator: not a barcode
        elif 65 <= kind <= 79:
            data = bytearray((yield from self._bytes((yield from self._byte()))))
        else:
            return
        if data and self.can_print:
            self._start_block()
            self._emit(
                BarcodeBlock(
                    BARCODE_NAMES[kind], bytes(data), self.barcode_height, self.barcode_module,
                    self.barcode_hri, self.align,
                )
            )  # fmt: skip

    def _raster(self) -> Parse:
        head = yield from self._bytes(6)
        if head[0] != 0x30:
            return
        width = head[2] | head[3] << 8
        height = head[4] | head[5] << 8
        size = width * height
        if not (width >= 1 and 1 <= height <= _MAX_RASTER_HEIGHT and size <= _MAX_RASTER):
            return  # out-of-range header: dropped, parsing resumes after it
        bits = yield from self._bytes(size)
        if self.can_print:
            self._start_block()
            self._emit(RasterBlock(width, height, bits, self.align))

    def _gs_paren(self) -> Parse:
        fn, low, high = yield from self._bytes(3)
        size = low | high << 8
        payload = yield from self._bytes(size, keep=_MAX_KEEP)
        if fn != 0x6B or len(payload) < 2 or payload[0] != 49:  # only QR (cn = 49) of GS ( k is drawn
            return
        function, args = payload[1], payload[2:]
        if function == 67 and args and 1 <= args[0] <= 16:
            self.qr_module = args[0]
        elif function == 69 and args and 48 <= args[0] <= 51:
            self.qr_ec = args[0]
        elif function == 80 and args:
            self.qr_data = args[1:]
        elif function == 81 and self.qr_data and self.can_print:
            self._start_block()
            self._emit(QrBlock(self.qr_data, self.qr_module, self.qr_ec, self.align))

    # -- FS and DLE ---------------------------------------------------------------------------------------

    def _fs(self) -> Parse:
        cmd = yield from self._byte()
        if cmd == 0x26:  # FS & Kanji (Chinese) mode on
            self.chinese = True
        elif cmd == 0x2E:  # FS . Kanji mode off
            self.chinese = False
        elif cmd == 0x28:  # FS ( fn pL pH ...
            _fn, low, high = yield from self._bytes(3)
            yield from self._bytes(low | high << 8, keep=0)
        elif cmd == 0x71:  # FS q n [xL xH yL yH d1..d(x*y*8)]...: NV bit images, consumed
            for _ in range((yield from self._byte())):
                head = yield from self._bytes(4)
                x, y = head[0] | head[1] << 8, head[2] | head[3] << 8
                if not (1 <= x <= 1023 and 1 <= y <= 288):
                    return
                yield from self._bytes(x * y * 8, keep=0)
        else:
            yield from self._bytes(_FS_SKIP.get(cmd, 0), keep=0)

    def _dle(self) -> Parse:
        cmd = yield from self._byte()
        if cmd == 0x04:  # DLE EOT n real-time status
            n = yield from self._byte()
            if n in (7, 8):
                yield from self._byte()
            reply = self.status_byte(n)
            if reply is not None:
                self._responses.append(reply)
        elif cmd == 0x05:  # DLE ENQ n
            yield from self._byte()
        elif cmd == 0x14:  # DLE DC4 fn ...
            fn = yield from self._byte()
            yield from self._bytes({1: 2, 2: 2, 7: 1, 8: 7}.get(fn, 0), keep=0)
        else:
            self._pushback = cmd  # a lone DLE: the next byte is ordinary data
