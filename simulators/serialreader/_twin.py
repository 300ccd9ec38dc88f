"""A GemPC Twin serial smart-card reader, sans I/O: bytes from the host in, bytes to the host out.

What libccid's serial driver (``libccidtwin.so``, ``src/ccid_serial.c``; shared/spec/serial-reader-facts.md
C1, C2 and "Measured here") expects of the reader:

- every frame is ``03 06 | CCID message | LRC`` (LRC: XOR of all the frame's bytes before it); a frame with a
  bad LRC is answered ``03 15 16`` (NAK) and the driver sends it again;
- the GemPC Twin **echoes** each command frame before its answer (the driver reads and drops the echo);
- between frames the reader may send ``50 03`` / ``50 02`` (card inserted / removed), which the driver
  skips wherever it is waiting for a frame;
- CCID messages (USB CCID 1.1 §6): IccPowerOn ``62`` → DataBlock ``80`` with the ATR, IccPowerOff ``63``
  and GetSlotStatus ``65`` → SlotStatus ``81`` (ICC status 0 active, 1 present, 2 absent), XfrBlock ``6F``
  → DataBlock ``80``, SetParameters ``61`` / GetParameters ``6C`` → Parameters ``82``, Escape ``6B`` →
  Escape ``83`` (``02``: the firmware string), anything else → SlotStatus "command not supported".

The reader is TPDU-level (dwFeatures 0x00010230: no automatic PPS or IFSD), so the host speaks the card's
transmission protocol through XfrBlock: a PPS (``FF ..``) is echoed as accepted, and T=1 blocks are answered
by :class:`T1Card` over the card's APDUs; a T=0 card's TPDU is one command APDU.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from cardservice.transport import PowerLost, VirtualCard

__all__ = ["FIRMWARE", "NAK", "SYNC_ACK", "T1Card", "TwinReader", "frame", "lrc"]

SYNC, ACK, NAK_BYTE = 0x03, 0x06, 0x15
SYNC_ACK = bytes([SYNC, ACK])
NAK = bytes([SYNC, NAK_BYTE, SYNC ^ NAK_BYTE])
NOTIFY_SLOT_CHANGE = 0x50
CARD_PRESENT, CARD_ABSENT = 0x03, 0x02
FIRMWARE = b"GemTwinRS232 v1.00 cardservice"  # what Escape 02 answers (the driver only logs it)
HEADER = 10  # a CCID message's header: type, dwLength (4, little-endian), slot, seq, 3 specific bytes
MAX_MESSAGE = 271  # dwMaxCCIDMessageLength of the serial GemPC Twin (ccid_serial.c)

# bStatus: bits 0-1 the ICC, bits 6-7 the command.
ICC_ACTIVE, ICC_PRESENT, ICC_ABSENT = 0, 1, 2
CMD_FAILED = 0x40
# bError when CMD_FAILED (CCID §6.2.6)
ERR_CMD_NOT_SUPPORTED, ERR_ICC_MUTE, ERR_HW = 0x00, 0xFE, 0xFB

POWER_ON, POWER_OFF, SLOT_STATUS, XFR_BLOCK = 0x62, 0x63, 0x65, 0x6F
SET_PARAMETERS, GET_PARAMETERS, RESET_PARAMETERS, ESCAPE = 0x61, 0x6C, 0x6D, 0x6B
DATA_BLOCK, SLOT_STATUS_REPLY, PARAMETERS_REPLY, ESCAPE_REPLY = 0x80, 0x81, 0x82, 0x83
# abProtocolDataStructure for T=1 (CCID §6.1.7): Fi/Di, TCCKS, guard time, BWI/CWI, clock stop, IFSC, NAD.
T1_DEFAULT_PARAMETERS = bytes([0x11, 0x10, 0x00, 0x4D, 0x00, 0xFE, 0x00])


def lrc(data: bytes) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def frame(message: bytes) -> bytes:
    """``03 06 | message | LRC``."""
    body = SYNC_ACK + message
    return body + bytes([lrc(body)])


def _reply(kind: int, seq: int, status: int, error: int, specific: int, data: bytes = b"") -> bytes:
    return bytes([kind]) + len(data).to_bytes(4, "little") + bytes([0, seq, status, error, specific]) + data


# -- T=1, the card's side (ISO/IEC 7816-3 §11) ---------------------------------------------------------


def _block(pcb: int, info: bytes = b"", nad: int = 0) -> bytes:
    prologue = bytes([nad, pcb, len(info)])
    return prologue + info + bytes([lrc(prologue + info)])


class T1Card:
    """The card end of a T=1 link over a :class:`VirtualCard`'s APDUs: I-blocks (chained both ways at the
    card's IFSC), R-blocks, S(IFS) and S(RESYNCH); LRC as the epilogue."""

    def __init__(self, card: VirtualCard, ifsc: int = 32) -> None:
        self.card = card
        self.ifsc = ifsc  # the card's; the ATR offers no TA3, so 32 (§11.4.2)
        self.ifsd = 32  # the host's, until it says otherwise with S(IFS request)
        self._ns = 0  # send sequence number of the card's next I-block
        self._expected = 0  # N(S) the card expects of the host's next I-block
        self._command = bytearray()  # a chained command being received
        self._response = b""  # what is left of a chained response to send
        self._last = b""  # the last block sent, for an R-block asking it again

    def exchange(self, block: bytes) -> bytes:
        if len(block) < 4 or len(block) != 4 + block[2] or lrc(block[:-1]) != block[-1]:
            return self._send(_block(0x81 | (self._expected << 4)))  # R(N(R), EDC/parity error)
        pcb, info = block[1], block[3:-1]
        if pcb & 0x80 == 0:  # I-block
            return self._i_block(pcb, info)
        if pcb & 0xC0 == 0x80:  # R-block: the host asks for the next part of a chained response, or again
            if self._response and (pcb >> 4) & 1 == self._ns:
                return self._send(self._next_part())
            return self._send(self._last) if self._last else self._send(_block(0x80 | (self._expected << 4)))
        return self._s_block(pcb, info)

    def _i_block(self, pcb: int, info: bytes) -> bytes:
        if (pcb >> 6) & 1 != self._expected:  # a repeat of a block already taken: ask for the next one
            return self._send(_block(0x80 | (self._expected << 4)))
        self._expected ^= 1
        self._command += info
        if pcb & 0x20:  # more to come
            return self._send(_block(0x80 | (self._expected << 4)))
        command, self._command = bytes(self._command), bytearray()
        self._response = self.card.process(command)
        return self._send(self._next_part())

    def _next_part(self) -> bytes:
        size = self.ifsd  # the host's receive size bounds the card's blocks
        part, self._response = self._response[:size], self._response[size:]
        pcb = (self._ns << 6) | (0x20 if self._response else 0)
        self._ns ^= 1
        return _block(pcb, part)

    def _s_block(self, pcb: int, info: bytes) -> bytes:
        kind = pcb & 0x1F
        if kind == 0x01 and len(info) == 1 and 1 <= info[0] <= 254:  # IFS request
            self.ifsd = info[0]
            return self._send(_block(0xE1, info))
        if kind == 0x00:  # RESYNCH request
            self._ns = self._expected = 0
            self._command, self._response = bytearray(), b""
            return self._send(_block(0xE0))
        if kind == 0x02:  # ABORT
            self._command, self._response = bytearray(), b""
            return self._send(_block(0xE2))
        return self._send(_block(0x82 | (self._expected << 4)))  # R(other error)

    def _send(self, block: bytes) -> bytes:
        self._last = block
        return block


# -- the reader ---------------------------------------------------------------------------------------------


@dataclass
class _Slot:
    card: VirtualCard | None = None
    powered: bool = False
    atr: bytes = b""
    t1: T1Card | None = None
    protocol: int = 0  # 0: T=0, 1: T=1 (SetParameters)


class TwinReader:
    """The reader: :meth:`feed` the host's bytes, get the bytes to send back; :meth:`insert` and
    :meth:`remove` put a card in and take it out (and queue the asynchronous notice). Thread-safe: the
    serial loop feeds, a control thread inserts and removes."""

    def __init__(self, *, echo: bool = True) -> None:
        self.echo = echo
        self._slot = _Slot()
        self._buffer = bytearray()
        self._notices = bytearray()
        self._lock = threading.Lock()
        self.on_power: Callable[[bool], None] | None = None  # told when the host powers the card on/off

    # -- the card -------------------------------------------------------------------------------------

    def insert(self, card: VirtualCard) -> None:
        with self._lock:
            self._slot = _Slot(card=card)
            self._notices += bytes([NOTIFY_SLOT_CHANGE, CARD_PRESENT])

    def remove(self) -> None:
        with self._lock:
            if self._slot.card is not None and self._slot.powered:
                self._slot.card.power_off()
            self._slot = _Slot()
            self._notices += bytes([NOTIFY_SLOT_CHANGE, CARD_ABSENT])

    @property
    def card(self) -> VirtualCard | None:
        return self._slot.card

    def notices(self) -> bytes:
        """Asynchronous slot-change bytes waiting to go out (sent between frames only)."""
        with self._lock:
            out, self._notices = bytes(self._notices), bytearray()
        return out

    # -- the host ------------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        """The host's bytes in; every complete frame's echo and answer out."""
        out = bytearray()
        with self._lock:
            self._buffer += data
            while True:
                start = self._buffer.find(SYNC_ACK)
                if start < 0:
                    del self._buffer[: max(0, len(self._buffer) - 1)]  # keep a trailing 03
                    break
                del self._buffer[:start]
                if len(self._buffer) < 2 + HEADER + 1:
                    break
                length = int.from_bytes(self._buffer[3:7], "little")
                if HEADER + length > MAX_MESSAGE:
                    del self._buffer[:2]  # not a frame start after all: look for the next one
                    out += NAK
                    continue
                total = 2 + HEADER + length + 1
                if len(self._buffer) < total:
                    break
                raw = bytes(self._buffer[:total])
                del self._buffer[:total]
                if lrc(raw[:-1]) != raw[-1]:
                    out += NAK
                    continue
                if self.echo:
                    out += raw
                out += frame(self._answer(raw[2:-1]))
        return bytes(out)

    def _answer(self, message: bytes) -> bytes:
        kind, seq, data = message[0], message[6], message[HEADER:]
        slot = self._slot
        icc = ICC_ABSENT if slot.card is None else (ICC_ACTIVE if slot.powered else ICC_PRESENT)
        if kind == SLOT_STATUS:
            return _reply(SLOT_STATUS_REPLY, seq, icc, 0, 0)
        if kind == ESCAPE:
            return _reply(ESCAPE_REPLY, seq, icc, 0, 0, FIRMWARE if data[:1] == b"\x02" else b"")
        if kind == POWER_OFF:
            if slot.card is not None and slot.powered:
                slot.card.power_off()
                self._powered(False)
            slot.powered, slot.t1 = False, None
            return _reply(SLOT_STATUS_REPLY, seq, ICC_PRESENT if slot.card else ICC_ABSENT, 0, 0)
        if slot.card is None:
            return _reply(DATA_BLOCK if kind in (POWER_ON, XFR_BLOCK) else SLOT_STATUS_REPLY, seq,
                          CMD_FAILED | ICC_ABSENT, ERR_ICC_MUTE, 0)  # fmt: skip
        if kind == POWER_ON:
            slot.atr = slot.card.power_on()
            slot.powered, slot.protocol, slot.t1 = True, 0, None
            self._powered(True)
            return _reply(DATA_BLOCK, seq, ICC_ACTIVE, 0, 0, slot.atr)
        if kind in (SET_PARAMETERS, GET_PARAMETERS, RESET_PARAMETERS):
            if kind == SET_PARAMETERS:
                slot.protocol = message[7]
                slot.t1 = T1Card(slot.card) if slot.protocol == 1 else None
            parameters = data if kind == SET_PARAMETERS and data else T1_DEFAULT_PARAMETERS
            return _reply(PARAMETERS_REPLY, seq, icc, 0, slot.protocol, parameters)
        if kind == XFR_BLOCK:
            if not slot.powered:
                return _reply(DATA_BLOCK, seq, CMD_FAILED | ICC_PRESENT, ERR_HW, 0)
            try:
                return _reply(DATA_BLOCK, seq, ICC_ACTIVE, 0, 0, self._transmit(slot, data))
            except PowerLost:
                slot.powered, slot.t1 = False, None
                return _reply(DATA_BLOCK, seq, CMD_FAILED | ICC_PRESENT, ERR_ICC_MUTE, 0)
        return _reply(SLOT_STATUS_REPLY, seq, CMD_FAILED | icc, ERR_CMD_NOT_SUPPORTED, 0)

    def _transmit(self, slot: _Slot, tpdu: bytes) -> bytes:
        assert slot.card is not None
        if tpdu[:1] == b"\xff" and slot.t1 is None:
            return tpdu  # a PPS request: accepted as asked (echoed)
        if slot.t1 is not None:
            return slot.t1.exchange(tpdu)
        return slot.card.process(tpdu)

    def _powered(self, on: bool) -> None:
        if self.on_power is not None:
            self.on_power(on)
