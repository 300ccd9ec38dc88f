"""A SAM_V ID-card reader on a serial line (RS-232, USB-serial, or the simulator's pty) through pyserial:
115200 8N1 by default (57600 / 38400 / 19200 / 9600 settable on the reader; facts sheet B1).

One command, one reply: the input is drained, the frame written, and bytes are read until the reply
parser has a whole frame or the time is up (``timeout`` plus the reply's transfer time at the line's
speed: 2321 bytes take 2.4 s at 9600 baud). The port opens at the first command, so the daemon starts
with the reader unplugged and finds it when it is plugged in.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import serial

from cardservice.idcard import (
    FIND,
    READ,
    READ_WITH_FINGERPRINT,
    SAM_ID,
    SAM_STATUS,
    SELECT,
    Command,
    CommandSpec,
    IdCardEvent,
    IdCardNoCard,
    IdCardPerson,
    IdCardReaderOffline,
    IdCardTimeout,
    Presence,
    Reply,
    ReplyParser,
    check,
    decode_card_data,
    decode_text,
)

__all__ = ["BAUD_RATES", "SerialIdCardReader"]

log = logging.getLogger(__name__)

BAUD_RATES = (9600, 19200, 38400, 57600, 115200)
_SLICE = 0.05  # seconds of one blocking read: how soon a reply's bytes are looked at
# Bytes of the longest reply of a command (for the transfer time); others are short.
_REPLY_BYTES = {READ: 1295, READ_WITH_FINGERPRINT: 2321}


class SerialIdCardReader:
    """``SerialIdCardReader("/dev/ttyUSB0", baudrate=115200, timeout=3.0, fingerprint=False)``: an
    :class:`~cardservice.idcard.IdCardReader` (entry point ``serial`` of ``cardservice.idcard_readers``).
    Bad options are a :class:`ValueError` naming each problem."""

    kind = "serial"

    def __init__(
        self,
        device: str = "",
        *,
        baudrate: int = 115200,
        timeout: float = 3.0,
        fingerprint: bool = False,
        **unknown: object,
    ) -> None:
        problems = [f"unknown key {key!r} (device, baudrate, timeout, fingerprint)" for key in unknown]
        if not isinstance(device, str) or not device:
            problems.append("device: the serial port's path is needed, e.g. /dev/ttyUSB0")
        if baudrate not in BAUD_RATES:
            problems.append(f"baudrate: one of {', '.join(map(str, BAUD_RATES))}, not {baudrate!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            problems.append(f"timeout: seconds, more than 0 and at most 60, not {timeout!r}")
        if problems:
            raise ValueError("; ".join(problems))
        self.device = device
        self.baudrate = baudrate
        self.timeout = float(timeout)
        self.fingerprint = bool(fingerprint)
        self._port: Any = None
        self._lock = threading.RLock()
        self._presence = Presence(with_fingerprint=self.fingerprint)

    def __repr__(self) -> str:
        return f"SerialIdCardReader({self.device!r}, baudrate={self.baudrate})"

    # -- the line -----------------------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._port is None:
            try:
                self._port = serial.Serial(
                    self.device, self.baudrate, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
                    stopbits=serial.STOPBITS_ONE, timeout=_SLICE, write_timeout=self.timeout, exclusive=True,
                )  # fmt: skip
            except (OSError, ValueError) as exc:
                raise IdCardReaderOffline(
                    f"cannot open {self.device}: {_reason(exc)}", details={"device": self.device}
                ) from None
            log.info("ID-card reader %s opened at %d baud", self.device, self.baudrate)
        return self._port

    def _lost(self, exc: BaseException) -> IdCardReaderOffline:
        self.close()
        return IdCardReaderOffline(f"{self.device}: {_reason(exc)}", details={"device": self.device})

    def exchange(self, spec: CommandSpec, data: bytes = b"") -> Reply:
        """Send *spec*'s command and return its reply when it is the command's success; any other SW3 is
        the error of the status table (:func:`cardservice.idcard.check`)."""
        with self._lock:
            port = self._open()
            try:
                reply = self._transact(port, spec, data)
            except (OSError, serial.SerialException) as exc:
                raise self._lost(exc) from None
        log.debug("ID-card %s %02X%02X -> SW3 %02X, %d bytes", self.device, spec.cmd, spec.para, reply.sw3,
                  len(reply.data))  # fmt: skip
        return check(spec, reply)

    def _transact(self, port: Any, spec: CommandSpec, data: bytes) -> Reply:
        port.reset_input_buffer()  # a late reply to an earlier command is not this one's
        port.write(Command(spec.cmd, spec.para, data).encode())
        transfer = _REPLY_BYTES.get(spec, 64) * 10 / self.baudrate
        deadline = time.monotonic() + self.timeout + transfer
        parser = ReplyParser()
        while (reply := parser.next_frame()) is None:
            if time.monotonic() >= deadline:
                raise IdCardTimeout(
                    f"{spec.name}: no whole reply within {self.timeout + transfer:.1f} s "
                    f"({parser.pending} bytes came)",
                    details={"device": self.device, "command": f"{spec.cmd:02X}{spec.para:02X}"},
                )
            parser.feed(port.read(port.in_waiting or 1))
        return reply

    # -- the contract -------------------------------------------------------------------------------------

    def find(self) -> bool:
        try:
            self.exchange(FIND)
        except IdCardNoCard:
            return False
        return True

    def select(self) -> None:
        self.exchange(SELECT)

    def read(self, with_fingerprint: bool = False) -> IdCardPerson:
        reply = self.exchange(READ_WITH_FINGERPRINT if with_fingerprint else READ)
        data = decode_card_data(reply.data, with_fingerprint=with_fingerprint)
        return decode_text(data.text, photo_wlt=data.photo, fingerprint=data.fingerprint)

    def sam_status(self) -> None:
        self.exchange(SAM_STATUS)

    def sam_id(self) -> str:
        """The reader's SAM number, as hex (its format is the vendor's)."""
        return self.exchange(SAM_ID).data.hex().upper()

    def poll(self) -> IdCardEvent | None:
        with self._lock:
            return self._presence.poll(self)

    def close(self) -> None:
        with self._lock:
            port, self._port = self._port, None
            self._presence.reset()
        if port is not None:
            try:
                port.close()
            except (OSError, serial.SerialException) as exc:
                log.debug("closing %s: %s", self.device, _reason(exc))


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
