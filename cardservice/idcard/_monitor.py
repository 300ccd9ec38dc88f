"""The daemon's ID-card readers: :class:`IdCardMonitor` polls each configured reader on a thread of its own
(every ``interval`` seconds, 0.3 by default: polling is the only way a SAM_V reader tells of a card —
facts sheet B6), publishes what happens, and holds the person read **only while the card lies on the
reader**: taken off, or the reader failing, and it is gone.

Events (no personal data but the masked number)::

    {"type": "idcard.placed", "reader": "desk", "card_type": "resident", "card": "1101************2X"}
    {"type": "idcard.removed", "reader": "desk"}
    {"type": "idcard.error", "reader": "desk", "code": "idcard_reader_offline"}   when the error changes
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cardservice.idcard._errors import IdCardError, IdCardNoCard, IdCardUnknownReader
from cardservice.idcard._person import IdCardPerson
from cardservice.idcard._reader import IdCardReader, Placed, Removed

__all__ = ["DEFAULT_READER", "IdCardMonitor", "IdCardReaderStatus"]

log = logging.getLogger(__name__)

DEFAULT_READER = "default"  # the first configured reader


@dataclass(frozen=True)
class IdCardReaderStatus:
    """A reader's state as the API may show it: ``empty``, ``present`` or ``error`` (with its code)."""

    name: str
    state: str
    card_type: str | None = None
    card: str | None = None  # the masked number
    error: str | None = None


class _Slot:
    def __init__(self, name: str, reader: IdCardReader) -> None:
        self.name = name
        self.reader = reader
        self.person: IdCardPerson | None = None
        self.placed_id: str | None = None  # new at every placing: a request naming another is refused
        self.error: IdCardError | None = None


class IdCardMonitor:
    """Polls *readers* (name → reader, the first is the default) and keeps what lies on each.

    ``start()`` / ``stop()`` run one thread per reader; :meth:`poll_once` is one step of it (tests call it
    directly). :meth:`person` is what the API answers from: memory only, it never touches a reader."""

    def __init__(
        self,
        readers: Mapping[str, IdCardReader],
        *,
        on_event: Callable[[dict[str, Any]], None] = lambda event: None,
        interval: float = 0.3,
        retry: float = 2.0,
    ) -> None:
        self._slots = {name: _Slot(name, reader) for name, reader in readers.items()}
        self._on_event = on_event
        self.interval = interval
        self.retry = retry  # seconds between attempts while a reader fails (unplugged, SAM down)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._slots)

    # -- what the API asks --------------------------------------------------------------------------------

    def _slot(self, reader: str | None) -> _Slot:
        if not self._slots:
            raise IdCardUnknownReader("no ID-card reader is configured")
        if reader is None or reader == DEFAULT_READER:
            return next(iter(self._slots.values()))
        slot = self._slots.get(reader)
        if slot is None:
            raise IdCardUnknownReader(f"no ID-card reader {reader!r}", details={"reader": reader})
        return slot

    def person(self, reader: str | None = None) -> tuple[str, IdCardPerson]:
        """The reader's name and the person of the card on it; :class:`IdCardNoCard` when none, the
        reader's error when it fails (offline, SAM, a card that cannot be read), :class:`IdCardUnknownReader`
        for a name not configured."""
        slot = self._slot(reader)
        with self._lock:
            person, error = slot.person, slot.error
        if person is not None:
            return slot.name, person
        if error is not None:  # a copy: the stored one belongs to the polling thread
            raise type(error)(error.message, message_zh=error.message_zh, details={**error.details})
        raise IdCardNoCard(f"no ID card on reader {slot.name!r}", details={"reader": slot.name})

    def placed(self, reader: str | None = None) -> tuple[str, str, IdCardPerson]:
        """As :meth:`person`, with the id of this placing of the card (``card_id`` of the event)."""
        slot = self._slot(reader)
        with self._lock:
            person, placed_id = slot.person, slot.placed_id
        if person is None or placed_id is None:
            self.person(reader)  # raises what the reader's state says
            raise IdCardNoCard(f"no ID card on reader {slot.name!r}", details={"reader": slot.name})
        return slot.name, placed_id, person

    def status(self) -> list[IdCardReaderStatus]:
        with self._lock:
            return [self._status(slot) for slot in self._slots.values()]

    @staticmethod
    def _status(slot: _Slot) -> IdCardReaderStatus:
        if slot.person is not None:
            person = slot.person
            return IdCardReaderStatus(slot.name, "present", person.card_type.value, person.masked_number)
        if slot.error is not None:
            return IdCardReaderStatus(slot.name, "error", error=slot.error.code)
        return IdCardReaderStatus(slot.name, "empty")

    # -- polling ------------------------------------------------------------------------------------------

    def poll_once(self, name: str) -> bool:
        """One poll of reader *name*; False when it failed (the error is kept and published)."""
        slot = self._slots[name]
        try:
            event = slot.reader.poll()
        except IdCardError as exc:
            self._failed(slot, exc)
            return False
        except Exception as exc:  # a driver's bug: the thread must go on, the person must go
            log.exception("ID-card reader %s: unexpected %s", name, exc.__class__.__name__)
            self._failed(slot, IdCardError(f"unexpected {exc.__class__.__name__} in the driver"))
            return False
        with self._lock:
            recovered, slot.error = slot.error is not None, None
        if recovered:
            log.info("ID-card reader %s works again", name)
        if isinstance(event, Placed):
            self._placed(slot, event.person)
        elif isinstance(event, Removed):
            self._removed(slot)
        return True

    def _placed(self, slot: _Slot, person: IdCardPerson) -> None:
        with self._lock:
            slot.person, slot.placed_id = person, "i_" + secrets.token_hex(8)
            placed_id = slot.placed_id
        log.info("ID card placed on %s: %s %s", slot.name, person.card_type.value, person.masked_number)
        self._emit({"type": "idcard.placed", "reader": slot.name, "card_type": person.card_type.value,
                    "card": person.masked_number, "card_id": placed_id})  # fmt: skip

    def _removed(self, slot: _Slot) -> None:
        with self._lock:
            had, slot.person, slot.placed_id = slot.person is not None, None, None
        if had:
            log.info("ID card removed from %s", slot.name)
            self._emit({"type": "idcard.removed", "reader": slot.name})

    def _failed(self, slot: _Slot, error: IdCardError) -> None:
        self._removed(slot)  # nobody can say the card is still there
        with self._lock:
            changed = slot.error is None or slot.error.code != error.code
            slot.error = error
        if changed:
            log.warning("ID-card reader %s: %s (%s)", slot.name, error.code, error)
            self._emit({"type": "idcard.error", "reader": slot.name, "code": error.code})
        else:
            log.debug("ID-card reader %s: %s again", slot.name, error.code)

    def _emit(self, event: dict[str, Any]) -> None:
        try:
            self._on_event(event)
        except Exception:
            log.exception("publishing %s failed", event["type"])

    def _run(self, name: str) -> None:
        while not self._stopping.is_set():
            ok = self.poll_once(name)
            self._stopping.wait(self.interval if ok else self.retry)

    def start(self) -> None:
        for name in self._slots:
            thread = threading.Thread(target=self._run, args=(name,), name=f"idcard-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop polling, close every reader, forget every person."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        for slot in self._slots.values():
            try:
                slot.reader.close()
            except Exception as exc:
                log.warning("closing ID-card reader %s: %s", slot.name, exc.__class__.__name__)
            with self._lock:
                slot.person = None

    def __enter__(self) -> IdCardMonitor:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
