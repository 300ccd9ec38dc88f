"""Test helpers shipped with the library: an ID-card reader in memory that keeps the must-remove rule.

::

    reader = FakeIdCardReader()
    monitor = IdCardMonitor({"desk": reader})
    reader.place(person)
    monitor.poll_once("desk")          # placed: the person is held
    reader.fail(IdCardSamUnavailable("SAM self-test failed"))   # every command raises it until fail(None)

The wire-level reader is ``simulators.idcard`` (a pty) with the serial driver ``drivers.idcard``.
"""

from __future__ import annotations

import dataclasses
import threading

from cardservice.idcard._errors import IdCardError, IdCardReadFailed
from cardservice.idcard._person import IdCardPerson
from cardservice.idcard._reader import IdCardEvent, Presence

__all__ = ["FakeIdCardReader"]


class FakeIdCardReader:
    """An :class:`~cardservice.idcard.IdCardReader` over a person in memory (thread-safe)."""

    def __init__(self, person: IdCardPerson | None = None, *, with_fingerprint: bool = False) -> None:
        self._lock = threading.Lock()
        self._person = person
        self._found = self._selected = self._spent = False
        self._failure: IdCardError | None = None
        self._presence = Presence(with_fingerprint=with_fingerprint)
        self.closed = 0
        self.commands: list[str] = []

    # -- the test's hands ---------------------------------------------------------------------------------

    def place(self, person: IdCardPerson) -> None:
        """Put a card on the reader (after taking off any other)."""
        with self._lock:
            self._person = person
            self._found = self._selected = self._spent = False

    def remove(self) -> None:
        with self._lock:
            self._person = None
            self._found = self._selected = self._spent = False

    def fail(self, error: IdCardError | None) -> None:
        """Every command raises *error* (a copy each time) until ``fail(None)``."""
        with self._lock:
            self._failure = error

    # -- the contract -------------------------------------------------------------------------------------

    def _command(self, name: str) -> None:
        self.commands.append(name)
        failure = self._failure
        if failure is not None:
            raise type(failure)(failure.message, message_zh=failure.message_zh, details=failure.details)

    def find(self) -> bool:
        with self._lock:
            self._command("find")
            self._found = self._person is not None and not self._spent
            return self._found

    def select(self) -> None:
        with self._lock:
            self._command("select")
            if self._person is None or not (self._found or self._spent):
                raise IdCardReadFailed("select card: SW3 81 select failed")
            self._selected = True

    def read(self, with_fingerprint: bool = False) -> IdCardPerson:
        with self._lock:
            self._command("read")
            if self._person is None or not self._selected:
                raise IdCardReadFailed("read: SW3 41 read failed")
            self._spent = True
            person = self._person
        return person if with_fingerprint else dataclasses.replace(person, fingerprint=None)

    def sam_status(self) -> None:
        with self._lock:
            self._command("sam_status")

    def poll(self) -> IdCardEvent | None:
        return self._presence.poll(self)

    def close(self) -> None:
        self.closed += 1
        self._presence.reset()
