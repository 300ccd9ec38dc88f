"""An encrypting PIN pad on a serial line (RS-232, USB-serial, or the simulator's pty) through pyserial:
9600 8N1 by default (what EPPs ship set to), 19200 to 115200 when the pad is set so.

The driver is the host's end of :class:`cardservice.pinpad.Link`; all it adds is I/O. One loop,
:meth:`SerialPinPad._pump`, writes what the link owes, reads for 50 ms, and sorts the frames that came:
the answer to the command waiting (same CODE and SEQ), or an event for :meth:`~SerialPinPad.read_pin`.
ACKs go out in the same turn, so the pad never resends for want of one.

The port opens at the first call, and the first command aborts any entry a host before us left running
(a daemon restarted mid-entry). A port that fails is closed: that call raises :class:`PinPadNotConnected`,
the next one opens the port again.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import serial

from cardservice.pinpad import (
    ABORT,
    END,
    KEY,
    LOAD_KEY,
    START_ENTRY,
    STATUS_REQUEST,
    VERSION,
    EntryRequest,
    EntryStatus,
    Frame,
    KeyEvent,
    KeyLoad,
    Link,
    PinEntry,
    PinPadBadFrame,
    PinPadError,
    PinPadInfo,
    PinPadKeyError,
    PinPadNoAnswer,
    PinPadNotConnected,
    PinPadStatus,
    check,
    decode_event,
    decode_status,
    decode_version,
)

__all__ = ["BAUD_RATES", "SerialPinPad"]

log = logging.getLogger(__name__)

BAUD_RATES = (9600, 19200, 38400, 57600, 115200)
_SLICE = 0.05  # seconds of one blocking read: how soon a frame, an ACK or an abort request is seen
_END_GRACE = 3.0  # seconds beyond an entry's timeout the pad has to say it timed out


class SerialPinPad:
    """``SerialPinPad("/dev/ttyUSB0", baudrate=9600, timeout=2.0)``: a :class:`~cardservice.pinpad.PinPad`
    (entry point ``serial`` of ``cardservice.pinpads``). *timeout*: seconds the pad may take to answer a
    command once it acknowledged it. Bad options are a :class:`ValueError` naming each problem."""

    kind = "serial"

    def __init__(
        self, device: str = "", *, baudrate: int = 9600, timeout: float = 2.0, **unknown: object
    ) -> None:
        problems = [f"unknown key {key!r} (device, baudrate, timeout)" for key in unknown]
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
        self._port: Any = None
        self._link = Link(peer="pad")
        self._lock = threading.RLock()
        self._events: deque[KeyEvent | PinEntry] = deque()
        self._waiting: tuple[int, int] | None = None  # (SEQ, CODE) of the command waiting for its answer
        self._answer: Frame | None = None
        self._abort = threading.Event()
        self._entering = False

    def __repr__(self) -> str:
        return f"SerialPinPad({self.device!r}, baudrate={self.baudrate})"

    # -- the line -----------------------------------------------------------------------------------------

    def _open(self) -> None:
        if self._port is not None:
            return
        try:
            port = serial.Serial(
                self.device, self.baudrate, bytesize=serial.EIGHTBITS, parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE, timeout=_SLICE, write_timeout=self.timeout, exclusive=True,
            )  # fmt: skip
            port.reset_input_buffer()  # what a pad said to nobody is not for us
        except (OSError, ValueError) as exc:
            raise PinPadNotConnected(
                f"cannot open {self.device}: {_reason(exc)}", details={"device": self.device}
            ) from None
        log.info("PIN pad %s opened at %d baud", self.device, self.baudrate)
        self._port = port
        self._link = Link(peer="pad", first_seq=secrets.randbelow(256))  # a restart rarely reuses a SEQ
        self._events.clear()
        try:
            self._finish_abort(self._exchange(ABORT))  # an entry a host before us left running
        except PinPadError:
            self.close()
            raise

    def _lost(self, exc: BaseException) -> PinPadNotConnected:
        self.close()
        return PinPadNotConnected(f"{self.device}: {_reason(exc)}", details={"device": self.device})

    def _pump(self) -> None:
        """One turn: write what is owed or due, read for up to 50 ms, acknowledge and sort what came."""
        port, link = self._port, self._link
        try:
            self._write(port, link.transmit(time.monotonic()))
            data = port.read(port.in_waiting or 1)
            frames = link.receive(data, time.monotonic())
            self._write(port, link.transmit(time.monotonic()))  # the ACKs, at once
        except (OSError, serial.SerialException) as exc:
            raise self._lost(exc) from None
        for frame in frames:
            if frame.code in (KEY, END):
                self._events.append(decode_event(frame))
            elif self._waiting == (frame.seq, frame.code):
                self._answer = frame
            else:
                log.debug("PIN pad %s: a late %02X answer dropped", self.device, frame.code)

    @staticmethod
    def _write(port: Any, data: bytes) -> None:
        if data:
            port.write(data)

    def _exchange(self, code: int, data: bytes = b"") -> bytes:
        """Send command *code*; its result when the pad answers OK, else the error of its status."""
        with self._lock:
            self._open()
            frame = self._link.send(code, data)
            self._waiting, self._answer = (frame.seq, code), None
            deadline: float | None = None
            try:
                while (answer := self._answer) is None:
                    if self._link.idle:  # acknowledged: the answer's time runs
                        now = time.monotonic()
                        deadline = deadline or now + self.timeout
                        if now >= deadline:
                            raise PinPadNoAnswer(
                                f"the pad acknowledged command {code:02X} but did not answer within "
                                f"{self.timeout:.1f} s",
                                details={"device": self.device, "command": f"{code:02X}"},
                            )
                    self._pump()
            finally:
                self._waiting = None
        log.debug("PIN pad %s: command %02X -> status %02X, %d bytes", self.device, code,
                  answer.data[0] if answer.data else -1, len(answer.data))  # fmt: skip
        return check(code, answer)

    def _finish_abort(self, result: bytes) -> PinEntry | None:
        """After an ABORT answered *result*: the end of the entry it stopped, when one ran."""
        if result[:1] != b"\x01":
            return None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, PinEntry):
                    return event
            self._pump()
        raise PinPadNoAnswer("the pad aborted an entry but did not end it", details={"device": self.device})

    # -- the contract -------------------------------------------------------------------------------------

    def status(self) -> PinPadStatus:
        return decode_status(self._exchange(STATUS_REQUEST))

    def version(self) -> PinPadInfo:
        return decode_version(self._exchange(VERSION))

    def load_working_key(
        self, encrypted_key: bytes, *, check_value: bytes | None = None, slot: int = 0
    ) -> bytes:
        """Load the TPK encrypted under the pad's master key into *slot*; the pad's check value."""
        load = KeyLoad(bytes(encrypted_key), slot)
        kcv = self._exchange(LOAD_KEY, load.encode())
        if len(kcv) != 3:
            raise PinPadBadFrame(f"a key check value of {len(kcv)} bytes, not 3")
        if check_value is not None and not hmac.compare_digest(kcv, bytes(check_value)):
            raise PinPadKeyError(
                f"load key: the pad's check value for slot {slot} is not the one expected (the key was "
                "encrypted under another master key, or corrupted); the slot now holds that key",
                details={"device": self.device, "slot": slot},
            )
        log.info("PIN pad %s: working key loaded into slot %d", self.device, slot)
        return kcv

    def read_pin(
        self,
        pan: str,
        *,
        min_len: int = 4,
        max_len: int = 6,
        timeout: int = 30,
        slot: int = 0,
        on_event: Callable[[KeyEvent], None] | None = None,
    ) -> PinEntry:
        request = EntryRequest(pan, min_len, max_len, timeout, slot)
        with self._lock:
            self._entering = True
            try:
                return self._entry(request, on_event)
            finally:
                self._entering = False
                self._abort.clear()  # an abort that came as the entry ended is spent

    def _entry(self, request: EntryRequest, on_event: Callable[[KeyEvent], None] | None) -> PinEntry:
        if self._abort.is_set():
            return PinEntry(EntryStatus.ABORTED)
        self._open()
        self._events.clear()
        self._exchange(START_ENTRY, request.encode())
        log.info("PIN pad %s: entry started for %s", self.device, request)
        quiet_until = time.monotonic() + request.timeout + _END_GRACE
        aborting = False
        while True:
            while self._events:
                event = self._events.popleft()
                if isinstance(event, PinEntry):
                    log.info("PIN pad %s: entry %s, %d digits", self.device, event.status.value, event.digits)
                    return event
                quiet_until = time.monotonic() + request.timeout + _END_GRACE
                _notify(on_event, event)
            if self._abort.is_set() and not aborting:
                aborting = True
                self._exchange(ABORT)  # the end ("aborted", or what came first) follows as an event
                quiet_until = min(quiet_until, time.monotonic() + self.timeout)
                continue
            if time.monotonic() >= quiet_until:
                raise PinPadNoAnswer(
                    f"the pad did not end the entry ({request.timeout} s without a key, then "
                    f"{_END_GRACE:.0f} s more)",
                    details={"device": self.device},
                )
            self._pump()

    def abort(self) -> None:
        """End the running entry (from any thread: its :meth:`read_pin` returns ``aborted``), or make sure
        the pad runs none."""
        self._abort.set()
        if self._entering:
            return  # the entry's own loop sends the ABORT within 50 ms
        with self._lock:
            self._abort.clear()
            self._finish_abort(self._exchange(ABORT))

    def close(self) -> None:
        with self._lock:
            port, self._port = self._port, None
            self._link.reset()
            self._events.clear()
        if port is not None:
            try:
                port.close()
            except (OSError, serial.SerialException) as exc:
                log.debug("closing %s: %s", self.device, _reason(exc))


def _notify(on_event: Callable[[KeyEvent], None] | None, event: KeyEvent) -> None:
    if on_event is None:
        return
    try:
        on_event(event)
    except Exception as exc:  # a listener's bug must not end the patient's entry
        log.warning("PIN pad event listener failed: %s", exc.__class__.__name__)


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
