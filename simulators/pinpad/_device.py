"""The virtual encrypting PIN pad: bytes in, bytes out (the pad's end of :class:`cardservice.pinpad.Link`),
a command table (CODE → handler), the patient's hands (:meth:`VirtualPinPad.press` and friends), and faults.
The entry itself — digits, limits, the encrypted block — is
:class:`cardservice.pinpad.testing.SimulatedEntry`.

DEMO keys, published so anyone can recompute them (they protect nothing):

- the pad's master key: :data:`DEMO_MASTER_KEY` = the first 16 bytes of SM3("cardservice DEMO PIN pad master
  key"), two-key 3DES; working keys arrive encrypted under it (:func:`demo_key_cryptogram`);
- slot 0 holds the demo bank's TPK (``simulators.pboc.demo_bank_key("TPK")``) from the start, as a pad set
  up at the bank would — so the demo acquirer can translate its blocks with no key loading.

Faults (until cleared, or for the *times* frames they apply to):

    garble   the pad's frames go out with a broken CRC (each send counts)   → the host NAKs; pinpad_protocol
    nak      the pad NAKs every frame of the host                           → pinpad_protocol
    mute     the pad takes no frame and says nothing                        → pinpad_timeout
    device   every command answers status 06 (device fault)                 → pinpad_device_error
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from cardservice.keys import BlockCipher, decrypt_ecb, encrypt_ecb, sm3_digest
from cardservice.pinpad import (
    ABORT,
    LOAD_KEY,
    OK,
    START_ENTRY,
    STATUS_REQUEST,
    VERSION,
    BadFrame,
    EntryRequest,
    EntryStatus,
    Frame,
    FrameParser,
    KeyEvent,
    KeyLoad,
    Link,
    Nak,
    PinEntry,
    PinPadError,
    PinPadInfo,
    PinPadStatus,
    encode_end,
    encode_key_event,
    encode_status,
    encode_version,
    key_check_value,
    response,
)
from cardservice.pinpad.testing import KEY_NAMES, SimulatedEntry
from simulators.pboc import demo_bank_key

__all__ = ["DEMO_MASTER_KEY", "FAULTS", "INFO", "VirtualPinPad", "demo_key_cryptogram"]

log = logging.getLogger(__name__)

DEMO_MASTER_KEY = sm3_digest(b"cardservice DEMO PIN pad master key")[:16]
INFO = PinPadInfo("CS-EPP-SIM", "1.0", "SIM00000001")  # made up
FAULTS = ("garble", "nak", "mute", "device")
UNKNOWN_COMMAND, BAD_PARAMETER, BUSY, NO_KEY, KEY_ERROR, DEVICE_FAULT = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06

Handler = Callable[["VirtualPinPad", bytes, float], tuple[int, bytes]]


def demo_key_cryptogram(key: bytes | None = None) -> bytes:
    """DEMO ONLY: *key* (the demo TPK by default) encrypted under :data:`DEMO_MASTER_KEY`, as a host gets it
    from its key management to load into the pad."""
    return encrypt_ecb(BlockCipher.TDES, DEMO_MASTER_KEY, demo_bank_key("TPK") if key is None else key)


class _PadLink(Link):
    def __init__(self, garble: Callable[[], bool]) -> None:
        super().__init__(peer="host")
        self._garble = garble

    def _wire(self, frame: Frame) -> bytes:
        wire = frame.encode()
        return wire[:-1] + bytes([wire[-1] ^ 0xFF]) if self._garble() else wire


class VirtualPinPad:
    """The pad's state and its answers; thread-safe (the pty thread, the control socket and a test share
    it). *clock*: monotonic seconds (a test's own); *on_event*: a line for each change, for the console —
    counts only, never a digit."""

    def __init__(
        self,
        *,
        master_key: bytes | None = DEMO_MASTER_KEY,
        working_key: bytes | None = None,
        demo_key: bool = True,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self._lock = threading.RLock()
        self._started = threading.Condition(self._lock)
        self._clock = clock
        self.on_event = on_event or (lambda line: None)
        self._master = master_key
        key = working_key if working_key is not None else demo_bank_key("TPK") if demo_key else None
        self._keys: dict[int, bytes] = {} if key is None else {0: key}
        self._link = _PadLink(lambda: self._applies("garble"))
        self._raw = bytearray()  # NAKs of the nak fault, written ahead of the link's bytes
        self._entry: SimulatedEntry | None = None
        self._later: list[KeyEvent | PinEntry] = []  # events of a command, sent after its answer
        self._script: deque[str] = deque()
        self.auto_pin: str | None = None  # typed and entered at every entry (unattended demos)
        self.fault: str | None = None
        self.fault_times: int | None = None
        self.commands = 0
        self.entries = 0

    # -- the patient's hands ------------------------------------------------------------------------------

    def press(self, key: str) -> bool:
        """One key (a digit or one of backspace, clear, enter, cancel); False when no entry runs (the
        pad ignores it). A ValueError for a key the pad does not have."""
        with self._lock:
            if self._entry is None:
                if not (key in KEY_NAMES or (len(key) == 1 and key.isdigit())):
                    raise ValueError(f"key {key!r}: a digit or one of {', '.join(KEY_NAMES)}")
                return False
            self._emit(self._entry.press(key, self._clock()))
            return True

    def type(self, digits: str) -> bool:
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError("type: digits only")
        with self._lock:
            return all(self.press(digit) for digit in digits)

    def backspace(self) -> bool:
        return self.press("backspace")

    def clear(self) -> bool:
        return self.press("clear")

    def enter(self) -> bool:
        return self.press("enter")

    def cancel(self) -> bool:
        return self.press("cancel")

    def expire(self) -> bool:
        """Let the running entry time out now; False when none runs."""
        with self._lock:
            if self._entry is None:
                return False
            self._emit(self._entry.end(EntryStatus.TIMEOUT))
            return True

    def will_press(self, *keys: str) -> None:
        """Keys pressed as soon as the next entry starts: digit strings and key names."""
        with self._lock:
            for key in keys:
                self._script.extend([key] if key in KEY_NAMES else list(key))

    def wait_for_entry(self, timeout: float = 5.0) -> bool:
        """Block until an entry runs (a test's patient waits for the prompt); False after *timeout*."""
        with self._started:
            return self._started.wait_for(lambda: self._entry is not None, timeout)

    def set_fault(self, fault: str | None, times: int | None = None) -> None:
        """Inject *fault* (one of :data:`FAULTS`; None or "none": clear) for *times* frames, or until
        cleared."""
        if fault == "none":
            fault = None
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r} (known: {', '.join(FAULTS)}, none)")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise ValueError("times: a positive number of frames")
        with self._lock:
            self.fault, self.fault_times = fault, times if fault is not None else None
        self.on_event(f"fault {fault or 'cleared'}" + (f" for {times} frames" if times else ""))

    def status(self) -> dict[str, Any]:
        """What the control socket shows: counts and flags, never a digit or a key."""
        with self._lock:
            entry = self._entry
            return {
                "entering": entry is not None,
                "digits": 0 if entry is None else entry.digits,
                "keys": sorted(self._keys),
                "master_key": self._master is not None,
                "auto_pin": self.auto_pin is not None,
                "fault": self.fault,
                "fault_times": self.fault_times,
                "commands": self.commands,
                "entries": self.entries,
                "unacknowledged": self._link.unacknowledged,  # frames the host has not ACKed yet
            }

    # -- the wire -----------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes from the host; the answers wait for :meth:`output`."""
        with self._lock:
            now = self._clock()
            if self.fault in ("mute", "nak"):
                self._refuse(data)
                return
            try:
                frames = self._link.receive(data, now)
            except PinPadError as exc:
                log.warning("PIN pad simulator: %s", exc)
                return
            for frame in frames:
                self._command(frame, now)

    def output(self) -> bytes:
        """What the pad writes now: answers, events, ACKs, resends; and an entry that timed out ends."""
        with self._lock:
            now = self._clock()
            if self._entry is not None and self._entry.expired(now):
                self._emit(self._entry.end(EntryStatus.TIMEOUT))
            if self.fault == "mute":
                return b""
            try:
                out = self._link.transmit(now)
            except PinPadError as exc:  # the host never took a frame: the pad drops it, as a pad does
                log.warning("PIN pad simulator: %s", exc)
                out = b""
            out, self._raw = bytes(self._raw) + out, bytearray()
            return out

    def _refuse(self, data: bytes) -> None:
        """The mute and nak faults: each frame that comes is ignored, or NAKed."""
        for token in FrameParser().parse(data):
            if isinstance(token, Frame | BadFrame) and self.fault in ("mute", "nak"):
                if self.fault == "nak":
                    self._raw += Nak().encode()
                self._applies(self.fault)

    def _applies(self, fault: str) -> bool:
        """Whether *fault* holds now (and count it)."""
        if self.fault != fault:
            return False
        if self.fault_times is not None:
            self.fault_times -= 1
            if self.fault_times <= 0:
                self.fault = self.fault_times = None
        return True

    def _emit(self, result: KeyEvent | PinEntry | None) -> None:
        """Send what the entry said (a key that did nothing says nothing)."""
        if isinstance(result, KeyEvent):
            self._link.send(*encode_key_event(result))
            self.on_event(f"key: {result.change.value} ({result.digits} digits)")
        elif isinstance(result, PinEntry):
            self._entry = None
            self._script.clear()
            self._link.send(*encode_end(result))
            self.on_event(f"entry {result.status.value} ({result.digits} digits)")

    def _command(self, frame: Frame, now: float) -> None:
        self.commands += 1
        handler = HANDLERS.get(frame.code)
        if handler is None:
            log.debug("unknown command %02X", frame.code)
            status, data = UNKNOWN_COMMAND, b""
        elif self._applies("device"):
            status, data = DEVICE_FAULT, b""
        else:
            status, data = handler(self, frame.data, now)
        self._link.send(frame.code, response(status, data), seq=frame.seq)
        later, self._later = self._later, []
        for event in later:
            self._emit(event)
        if frame.code == START_ENTRY and status == OK:
            self._run_script(now)

    def _run_script(self, now: float) -> None:
        if not self._script and self.auto_pin is not None:
            self._script.extend([*self.auto_pin, "enter"])
        while self._script and self._entry is not None:
            self._emit(self._entry.press(self._script.popleft(), now))

    # -- the handlers -------------------------------------------------------------------------------------

    def _status(self, data: bytes, now: float) -> tuple[int, bytes]:
        entry = self._entry
        state = PinPadStatus(entry is not None, 0 if entry is None else entry.digits, frozenset(self._keys),
                             self._master is not None)  # fmt: skip
        return OK, encode_status(state)

    def _load_key(self, data: bytes, now: float) -> tuple[int, bytes]:
        if self._entry is not None:
            return BUSY, b""
        try:
            load = KeyLoad.decode(data)
        except ValueError:
            return BAD_PARAMETER, b""
        if self._master is None:
            return KEY_ERROR, b""
        key = decrypt_ecb(BlockCipher.TDES, self._master, load.cryptogram)
        self._keys[load.slot] = key
        self.on_event(f"working key loaded into slot {load.slot}")
        return OK, key_check_value(key)

    def _start(self, data: bytes, now: float) -> tuple[int, bytes]:
        if self._entry is not None:
            return BUSY, b""
        try:
            request = EntryRequest.decode(data)
        except ValueError:
            return BAD_PARAMETER, b""
        key = self._keys.get(request.slot)
        if key is None:
            return NO_KEY, b""
        self._entry = SimulatedEntry(request, key, now)
        self.entries += 1
        self._started.notify_all()
        self.on_event(f"entry started: {request!r}")
        return OK, b""

    def _abort(self, data: bytes, now: float) -> tuple[int, bytes]:
        if self._entry is None:
            return OK, b"\x00"
        self._later.append(self._entry.end(EntryStatus.ABORTED))
        return OK, b"\x01"


HANDLERS: dict[int, Handler] = {
    STATUS_REQUEST: VirtualPinPad._status,
    VERSION: lambda pad, data, now: (OK, encode_version(INFO)),
    LOAD_KEY: VirtualPinPad._load_key,
    START_ENTRY: VirtualPinPad._start,
    ABORT: VirtualPinPad._abort,
}
