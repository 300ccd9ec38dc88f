"""The pad's side of a PIN entry, and a PIN pad in memory — shipped for tests (ours and the daemon's users')
and for the simulator (``simulators.pinpad``), which runs the same :class:`SimulatedEntry`::

    pad = FakePinPad(working_key=tpk)
    pad.will_press("1234", "backspace", "4", "enter")     # what the patient will do at the next entry
    entry = pad.read_pin("6228000100001", on_event=events.append)
    pad.will_cancel(); pad.will_time_out(); pad.fail(PinPadNotConnected("unplugged"))

The clear digits live only in a :class:`SimulatedEntry` (the pad's inside): what comes out is what a real
pad gives — key events with counts, and the format-0 block encrypted under the working key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from cardservice.keys import BlockCipher, decrypt_ecb, encrypt_ecb
from cardservice.pboc import pin_block_format_0
from cardservice.pinpad._errors import PinPadError, PinPadKeyError
from cardservice.pinpad._pinpad import (
    EntryStatus,
    KeyChange,
    KeyEvent,
    PinEntry,
    PinPadInfo,
    PinPadStatus,
)
from cardservice.pinpad._protocol import EntryRequest, KeyLoad, key_check_value

__all__ = ["KEY_NAMES", "FakePinPad", "SimulatedEntry"]

KEY_NAMES = ("backspace", "clear", "enter", "cancel")  # and the digits 0-9


class SimulatedEntry:
    """One entry inside a pad: :meth:`press` a key, get what the pad tells the host (a key event, the end,
    or None for a key that does nothing: a digit beyond the maximum, Enter before the minimum, backspace
    on nothing). Time is a parameter: the entry expires ``timeout`` seconds after the last key."""

    def __init__(self, request: EntryRequest, working_key: bytes, now: float) -> None:
        self.request = request
        self._key = working_key
        self._digits: list[str] = []
        self.last_key_at = now

    def __repr__(self) -> str:
        return f"SimulatedEntry({self.request!r}, {len(self._digits)} digits)"

    @property
    def digits(self) -> int:
        return len(self._digits)

    def press(self, key: str, now: float) -> KeyEvent | PinEntry | None:
        """One key: a digit ``0``-``9`` or one of :data:`KEY_NAMES` (else a ValueError)."""
        if not (key in KEY_NAMES or (len(key) == 1 and key in "0123456789")):
            raise ValueError(f"key {key!r}: a digit or one of {', '.join(KEY_NAMES)}")
        self.last_key_at = now
        if key == "cancel":
            return self.end(EntryStatus.CANCELLED)
        if key == "enter":
            return self.end(EntryStatus.ENTERED) if self.digits >= self.request.min_len else None
        if key == "clear":
            self._digits.clear()
            return KeyEvent(KeyChange.CLEARED, 0)
        if key == "backspace":
            if not self._digits:
                return None
            self._digits.pop()
            return KeyEvent(KeyChange.REMOVED, self.digits)
        if self.digits >= self.request.max_len:
            return None
        self._digits.append(key)
        return KeyEvent(KeyChange.ADDED, self.digits)

    def expired(self, now: float) -> bool:
        return now - self.last_key_at >= self.request.timeout

    def end(self, status: EntryStatus) -> PinEntry:
        """The end of the entry; the digits are forgotten. ``entered``: the block, encrypted."""
        count, block = self.digits, None
        if status is EntryStatus.ENTERED:
            clear = pin_block_format_0("".join(self._digits), self.request.pan)
            block = encrypt_ecb(BlockCipher.TDES, self._key, clear)
        self._digits.clear()
        return PinEntry(status, block, count)


class FakePinPad:
    """A :class:`~cardservice.pinpad.PinPad` in memory. *working_key*: the TPK in slot 0; *master_key*:
    what :meth:`load_working_key` decrypts with (None: the pad has none). An entry runs the keys of
    :meth:`will_press` at once; when they run out without an end, the entry times out."""

    def __init__(self, *, working_key: bytes | None = None, master_key: bytes | None = None) -> None:
        self._keys: dict[int, bytes] = {} if working_key is None else {0: working_key}
        self._master = master_key
        self._script: deque[str] = deque()
        self._failure: PinPadError | None = None
        self.entries: list[EntryRequest] = []  # what read_pin was asked (PANs masked in repr)
        self.aborted = 0
        self.closed = 0

    def will_press(self, *keys: str) -> None:
        """Keys for the next entry: digit strings (``"1234"``) and key names (``"enter"``)."""
        for key in keys:
            self._script.extend([key] if key in KEY_NAMES else list(key))

    def will_enter(self, pin: str) -> None:
        self.will_press(pin, "enter")

    def will_cancel(self) -> None:
        self.will_press("cancel")

    def will_time_out(self) -> None:
        self._script.clear()

    def fail(self, error: PinPadError | None) -> None:
        """Every call raises *error* (a copy each time) until ``fail(None)``."""
        self._failure = error

    def _check(self) -> None:
        failure = self._failure
        if failure is not None:
            raise type(failure)(failure.message, message_zh=failure.message_zh, details=failure.details)

    # -- the contract -------------------------------------------------------------------------------------

    def status(self) -> PinPadStatus:
        self._check()
        return PinPadStatus(False, 0, frozenset(self._keys), self._master is not None)

    def version(self) -> PinPadInfo:
        self._check()
        return PinPadInfo("FAKE-EPP", "1.0", "FAKE0001")

    def load_working_key(
        self, encrypted_key: bytes, *, check_value: bytes | None = None, slot: int = 0
    ) -> bytes:
        self._check()
        load = KeyLoad(encrypted_key, slot)
        if self._master is None:
            raise PinPadKeyError("load key: no master key")
        key = decrypt_ecb(BlockCipher.TDES, self._master, load.cryptogram)
        kcv = key_check_value(key)
        self._keys[slot] = key
        if check_value is not None and check_value != kcv:
            raise PinPadKeyError("load key: the pad's key check value is not the one expected")
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
        self._check()
        key = self._keys.get(slot)
        if key is None:
            raise PinPadKeyError(f"start entry: no working key in slot {slot}")
        self.entries.append(request)
        entry = SimulatedEntry(request, key, 0.0)
        while self._script:
            result = entry.press(self._script.popleft(), 0.0)
            if isinstance(result, PinEntry):
                self._script.clear()
                return result
            if result is not None and on_event is not None:
                on_event(result)
        return entry.end(EntryStatus.TIMEOUT)

    def abort(self) -> None:
        self._check()
        self.aborted += 1

    def close(self) -> None:
        self.closed += 1
