"""The reader manager: follows readers and cards, keeps one session per inserted health card, and runs
every card operation on the reader's own worker thread.

Threads::

    monitor        one thread blocked in ReaderBackend.poll (SCardGetStatusChange): readers appearing
                   and going, cards inserted and removed, pcscd restarting. It never talks to a card.
    reader-<id>    one worker per user-card reader (a single-thread executor): connecting, reading the
                   identity at insertion, and every API operation, in arrival order. Two clients never
                   interleave APDUs on one card; two readers work in parallel.

A SAM in its own reader is shared by the card readers bound to it (:class:`SamLink`): an operation holds
the SAM for its whole length, because the SAM's session key is state between commands.

On removal the monitor wipes the cached identity at once, before the worker hears of it: no personal
data outlives the card in memory, even while the worker is stuck on a slow card.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cardservice.config import ReaderBinding
from cardservice.errors import CardResetError, ServiceUnavailableError, TransportError
from cardservice.healthcard import ApduSam, HealthCardSession, Identity, mask_id_number
from cardservice.keys import Sam, SoftwareSam
from cardservice.readers._backend import ReaderBackend, ReaderState
from cardservice.readers._errors import ServiceError, classify
from cardservice.readers._profiles import CardProfile, ProfileTable
from cardservice.transport import Transport

__all__ = ["CardView", "ReaderInfo", "ReaderManager", "SamInfo", "SamLink", "reader_id"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Event = dict[str, Any]

_BACKOFF_FIRST = 0.2
_BACKOFF_CAP = 2.0
_POLL_TIMEOUT = 5.0  # the monitor wakes at least this often to notice stop() even without SCardCancel


def reader_id(name: str) -> str:
    """A URL-safe, stable id for a reader name: ``"cardservice-vpcd 00 00"`` → ``cardservice-vpcd-00-00``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "reader"


def _matches(pattern: str, name: str) -> bool:
    return pattern == name or pattern.lower() in name.lower()


class _CountedCard:
    """The card as the session sees it (``atr`` + ``transmit``), counting command APDUs."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self.apdus = 0

    @property
    def atr(self) -> bytes:
        return self._transport.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.apdus += 1
        return self._transport.transmit(apdu)


# -- SAMs ---------------------------------------------------------------------------------------------


class _SamProxy:
    """The :class:`Sam` a card session holds: forwards to whichever SAM object is current (a PSAM's
    object is rebuilt after it was reset or re-inserted)."""

    def __init__(self) -> None:
        self.target: Sam | None = None

    def __getattr__(self, name: str) -> Any:
        target = self.__dict__.get("target")
        if target is None:
            raise ServiceError("sam_unavailable", "no SAM is held for this operation")
        return getattr(target, name)

    def __repr__(self) -> str:
        return "_SamProxy(<hidden>)"


class SamLink:
    """A SAM shared by card readers: a PSAM in a PC/SC reader, or a software SAM over a key store.

    :meth:`hold` gives the SAM to one operation at a time, inside a PC/SC transaction on the SAM, and
    verifies the SAM PIN first when one is configured (again after any reset of the SAM).
    """

    def __init__(
        self,
        name: str,
        *,
        backend: ReaderBackend | None = None,
        software: SoftwareSam | None = None,
        pin: str | None = None,
    ) -> None:
        if (backend is None) == (software is None):
            raise ValueError("a SAM link is either a PSAM reader (backend) or a software SAM")
        self.name = name
        self._backend = backend
        self._software = software
        self._pin = pin
        self._lock = threading.RLock()
        self._transport: Transport | None = None
        self._sam: Sam | None = software
        self._pin_verified = False
        self.present = software is not None
        self.atr = b""
        self.problem: ServiceError | None = None

    @property
    def kind(self) -> str:
        return "keystore" if self._software is not None else "psam"

    def card_changed(self, present: bool, atr: bytes) -> None:
        """Called by the monitor: the SAM reader's card came or went."""
        with self._lock:
            self.present, self.atr = present, atr
            self.problem = None
            self._drop()

    def _drop(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(TransportError):
                self._transport.disconnect()
        self._transport = None
        if self._software is None:
            self._sam = None
        self._pin_verified = False

    @contextlib.contextmanager
    def hold(self) -> Iterator[Sam]:
        with self._lock:
            if not self.present:
                raise ServiceError(
                    "sam_unavailable", f"no SAM in reader {self.name!r}", sam=reader_id(self.name)
                )
            transaction: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            try:
                if self._software is None:
                    assert self._backend is not None
                    if self._transport is None:
                        self._transport = self._backend.open(self.name)
                        self._sam = ApduSam(self._transport)
                        self._pin_verified = False
                    transaction = self._transport.transaction()
                with transaction:
                    assert self._sam is not None
                    if self._pin is not None and not self._pin_verified:
                        self._verify_pin(self._sam)
                    yield self._sam
            except TransportError:
                self._drop()  # a reset or pulled SAM: reconnect and re-verify next time
                raise

    def _verify_pin(self, sam: Sam) -> None:
        from cardservice.errors import AuthenticationBlockedError, VerificationFailedError

        assert self._pin is not None
        try:
            sam.verify_pin(self._pin)
        except VerificationFailedError as exc:
            self.problem = ServiceError(
                "sam_pin_refused", "the SAM refused the configured PIN", tries_left=exc.tries_left
            )
            self._pin = None  # never burn a second try with the same wrong PIN
            raise self.problem from None
        except AuthenticationBlockedError:
            self.problem = ServiceError("sam_blocked", "the SAM PIN is blocked")
            self._pin = None
            raise self.problem from None
        self._pin_verified = True


# -- views (what the API sees; no personal data in the first two) ----------------------------------------


@dataclass(frozen=True)
class SamInfo:
    reader: str
    id: str
    kind: str
    present: bool
    atr: str | None
    problem: str | None


@dataclass(frozen=True)
class ReaderInfo:
    id: str
    name: str
    role: str  # "card", "sam", "unassigned"
    card_present: bool
    state: str  # empty, reading, ready, refused, unsupported, error, mute
    card_id: str | None
    atr: str | None
    profile: str | None
    sam: str | None
    problem: dict[str, Any] | None


@dataclass(frozen=True)
class CardView:
    """The card now in a reader, with its identity read at insertion. Personal data: never logged."""

    reader_id: str
    card_id: str
    atr: bytes
    profile: str
    identity: Identity = field(repr=False)
    masked_card_number: str


# -- card readers -----------------------------------------------------------------------------------------


class _CardSlot:
    def __init__(
        self, name: str, binding_index: int, binding: ReaderBinding, executor: ThreadPoolExecutor
    ) -> None:
        self.name = name
        self.id = reader_id(name)
        self.binding_index = binding_index
        self.binding = binding
        self.executor = executor
        self.generation = 0  # bumped by the monitor on every insertion and removal
        self.present = False
        self.removed = False  # the reader is empty because a card was taken out (not empty since start)
        self.insertion_mark: tuple[bytes, int] | None = None
        self.state = "empty"
        self.problem: ServiceError | None = None
        self.card_id: str | None = None
        self.atr = b""
        self.profile: CardProfile | None = None
        self.identity: Identity | None = None
        self.masked: str | None = None
        self.transport: Transport | None = None
        self.session: HealthCardSession | None = None
        self.sam_proxy = _SamProxy()
        self.ready = threading.Event()

    def wipe(self) -> None:
        """Forget the card: identity, session, ids. The transport is closed by the worker."""
        self.identity = None
        self.masked = None
        self.session = None
        self.card_id = None
        self.profile = None
        self.problem = None


class ReaderManager:
    """Readers, cards and SAMs of one daemon. Thread-safe; :meth:`call` is the way to a card.

    *blacklist* answers a card number and issuance serial (XPXLH; a replacement card has its
    predecessor's number) with a refusal reason (or ``None``); *on_event* receives card and
    reader events (plain dicts, no personal data) on the monitor or a worker thread; *audit* records the
    daemon's own card accesses (the read at insertion).
    """

    def __init__(
        self,
        backend: ReaderBackend,
        *,
        bindings: Sequence[ReaderBinding],
        profiles: ProfileTable,
        software_sams: Mapping[int, SoftwareSam] | None = None,
        sam_pins: Mapping[int, str] | None = None,
        blacklist: Callable[[str, str | None], str | None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        audit: Callable[..., None] | None = None,
    ) -> None:
        self.backend = backend
        self._bindings = list(bindings)
        self._profiles = profiles
        self._software_sams = dict(software_sams or {})
        self._sam_pins = dict(sam_pins or {})
        self._blacklist = blacklist
        self._on_event = on_event or (lambda event: None)
        self._audit = audit or (lambda **kwargs: None)
        self._lock = threading.RLock()
        self._slots: dict[str, _CardSlot] = {}  # by reader name
        self._sams: dict[str, SamLink] = {}  # by SAM reader name (PSAMs); keystore links by binding index
        self._keystore_links: dict[int, SamLink] = {}
        self._other: dict[str, ReaderState] = {}  # readers that are neither card nor SAM readers
        self._stop = threading.Event()
        self._monitor: threading.Thread | None = None
        self.service_up = False
        self.service_problem: str | None = None
        self._first_poll = threading.Event()

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._monitor = threading.Thread(target=self._watch, name="reader-monitor", daemon=True)
        self._monitor.start()

    def wait_until_scanned(self, timeout: float) -> bool:
        """True once the first look at the readers is done (or failed)."""
        return self._first_poll.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        self.backend.cancel()
        if self._monitor is not None:
            self._monitor.join(timeout=10)
        with self._lock:
            slots = list(self._slots.values())
        for slot in slots:
            slot.wipe()
            # No cancel_futures: it would cancel this very close before the worker picks it up,
            # leaving the PC/SC handle (and the card) held by a stopped daemon.
            slot.executor.submit(self._close_transport, slot)
            slot.executor.shutdown(wait=True)
        for link in [*self._sams.values(), *self._keystore_links.values()]:
            link.card_changed(False, b"")
        self.backend.close()

    # -- monitor ------------------------------------------------------------------------------------

    def _watch(self) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                snapshot = self.backend.poll(_POLL_TIMEOUT)
            except ServiceUnavailableError as exc:
                if self.service_up or self.service_problem is None:
                    log.warning("PC/SC service unavailable: %s", exc)
                    self._emit({"type": "service.down", "detail": str(exc)})
                self.service_up, self.service_problem = False, str(exc)
                self._apply({})  # every reader is gone with the service
                self._first_poll.set()
                self._stop.wait(backoff)  # nothing to wait on while pcscd is away: retry with backoff
                backoff = min(backoff * 2, _BACKOFF_CAP)
                continue
            except Exception:  # a bug must not kill the monitor: log, back off, carry on
                log.exception("reader monitor failed")
                self._stop.wait(_BACKOFF_CAP)
                continue
            backoff = _BACKOFF_FIRST
            if not self.service_up:
                if self.service_problem is not None:
                    log.info("PC/SC service is back")
                    self._emit({"type": "service.up"})
                self.service_up, self.service_problem = True, None
            self._apply(snapshot)
            self._first_poll.set()

    def _role(self, name: str) -> tuple[str, int | None]:
        for index, binding in enumerate(self._bindings):
            if _matches(binding.card, name):
                return "card", index
        for index, binding in enumerate(self._bindings):
            if binding.sam is not None and _matches(binding.sam, name):
                return "sam", index
        return "unassigned", None

    def _apply(self, snapshot: Mapping[str, ReaderState]) -> None:
        with self._lock:
            for name in [n for n in self._slots if n not in snapshot]:
                self._reader_gone(self._slots.pop(name))
            for name in [n for n in self._sams if n not in snapshot]:
                self._sams.pop(name).card_changed(False, b"")
                self._emit({"type": "reader.removed", "reader": reader_id(name), "role": "sam"})
            for name in [n for n in self._other if n not in snapshot]:
                del self._other[name]
                self._emit({"type": "reader.removed", "reader": reader_id(name), "role": "unassigned"})
            # SAM readers first: a card found in the same look must find its SAM already there.
            ordered = sorted(snapshot.items(), key=lambda item: self._role(item[0])[0] != "sam")
            for name, state in ordered:
                role, index = self._role(name)
                if role == "card":
                    assert index is not None
                    slot = self._slots.get(name)
                    if slot is None:
                        slot = self._new_slot(name, index)
                    self._card_state(slot, state)
                elif role == "sam":
                    self._sam_state(name, state)
                elif name not in self._other:
                    self._other[name] = state
                    self._emit({"type": "reader.added", "reader": reader_id(name), "role": "unassigned"})
                else:
                    self._other[name] = state

    def _new_slot(self, name: str, binding_index: int) -> _CardSlot:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"reader-{reader_id(name)}")
        slot = _CardSlot(name, binding_index, self._bindings[binding_index], executor)
        self._slots[name] = slot
        self._emit({"type": "reader.added", "reader": slot.id, "role": "card"})
        return slot

    def _reader_gone(self, slot: _CardSlot) -> None:
        was_present = slot.present
        slot.generation += 1
        slot.present = False
        slot.wipe()
        slot.state = "empty"
        slot.ready.set()
        slot.executor.submit(self._close_transport, slot)
        slot.executor.shutdown(wait=False)
        if was_present:
            self._emit({"type": "card.removed", "reader": slot.id})
        self._emit({"type": "reader.removed", "reader": slot.id, "role": "card"})

    def _card_state(self, slot: _CardSlot, state: ReaderState) -> None:
        mark = (state.atr, state.insertions) if state.present and not state.mute else None
        if mark == slot.insertion_mark:
            if state.mute and slot.state != "mute":
                slot.state = "mute"
                slot.problem = ServiceError("card_unresponsive", "the card in the reader does not answer")
                self._emit({"type": "card.error", "reader": slot.id, "code": "card_unresponsive"})
            return
        was_present = slot.present
        slot.insertion_mark = mark
        slot.generation += 1
        slot.wipe()  # at once: the old card's data must not outlive it, whatever the worker is doing
        if was_present:
            self._emit({"type": "card.removed", "reader": slot.id})
        slot.present = mark is not None
        slot.removed = was_present and not slot.present
        if slot.present:
            slot.state = "reading"
            slot.ready.clear()
            slot.executor.submit(self._insert, slot, slot.generation, state.atr)
        else:
            slot.state = "mute" if state.mute else "empty"
            slot.ready.set()
            slot.executor.submit(self._close_transport, slot)

    def _sam_state(self, name: str, state: ReaderState) -> None:
        link = self._sams.get(name)
        if link is None:
            _, index = self._role(name)
            pin = self._sam_pins.get(index) if index is not None else None
            link = self._sams[name] = SamLink(name, backend=self.backend, pin=pin)
            self._emit({"type": "reader.added", "reader": reader_id(name), "role": "sam"})
        present = state.present and not state.mute
        if (present, state.atr if present else b"") != (link.present, link.atr):
            link.card_changed(present, state.atr if present else b"")
            self._emit({"type": "sam.inserted" if present else "sam.removed", "reader": reader_id(name)})
            if present:
                self._retry_cards_waiting_for(name)

    def _retry_cards_waiting_for(self, sam_reader: str) -> None:
        """Cards whose insertion read failed for want of this SAM are read again now it is here."""
        for slot in self._slots.values():
            bound = slot.binding.sam is not None and _matches(slot.binding.sam, sam_reader)
            if bound and slot.present and slot.problem is not None and slot.problem.code == "sam_unavailable":
                slot.generation += 1
                slot.wipe()
                slot.state = "reading"
                slot.ready.clear()
                slot.executor.submit(
                    self._insert,
                    slot,
                    slot.generation,
                    slot.insertion_mark[0] if slot.insertion_mark else b"",
                )

    def _emit(self, event: Event) -> None:
        event.setdefault("at", time.time())
        try:
            self._on_event(event)
        except Exception:  # a subscriber's bug must not stop card handling
            log.exception("event subscriber failed")

    # -- worker side ------------------------------------------------------------------------------------

    def _close_transport(self, slot: _CardSlot) -> None:
        transport, slot.transport = slot.transport, None
        if transport is not None:
            with contextlib.suppress(TransportError):
                transport.disconnect()

    def _sam_for(self, slot: _CardSlot) -> SamLink:
        index = slot.binding_index
        if slot.binding.keystore is not None:
            link = self._keystore_links.get(index)
            if link is None:
                software = self._software_sams.get(index)
                if software is None:
                    raise ServiceError("sam_unavailable", "the key store of this reader is not open")
                link = self._keystore_links[index] = SamLink(
                    f"keystore {slot.binding.keystore.name}", software=software, pin=self._sam_pins.get(index)
                )
            return link
        with self._lock:
            for name, link in self._sams.items():
                if slot.binding.sam is not None and _matches(slot.binding.sam, name):
                    return link
        raise ServiceError("sam_unavailable", f"the SAM reader {slot.binding.sam!r} is not connected")

    def _insert(self, slot: _CardSlot, generation: int, atr: bytes) -> None:
        if slot.generation != generation:
            return  # already removed again
        self._close_transport(slot)
        started = time.monotonic()
        masked: str | None = None
        try:
            profile = self._profiles.match(atr)
            if profile is None or profile.model == "unsupported":
                raise ServiceError("card_unsupported", "this card is not a Resident Health Card")
            slot.transport = self.backend.open(slot.name)
            counted = _CountedCard(slot.transport)
            session = HealthCardSession(counted, slot.sam_proxy, **profile.session_options())
            identity = self._run(slot, session, lambda s: s.read_identity(), writing=False)
            apdus = counted.apdus
            number = identity.issuer.card_number or ""
            masked = mask_id_number(number) if number else None
            serial = identity.issuer.issuance_serial
            refusal = self._blacklist(number, serial) if (self._blacklist and number) else None
        except Exception as exc:
            problem = classify(exc)
            if problem.code == "internal_error":
                log.exception("reading the card in %s failed", slot.id)
            with self._lock:
                if slot.generation != generation:
                    return
                slot.state = "unsupported" if problem.code == "card_unsupported" else "error"
                slot.problem = problem
                slot.ready.set()
            self._audit(action="card.insert", result=problem.code, card=None, target=slot.id)
            self._emit({"type": "card.error", "reader": slot.id, "code": problem.code})
            return
        with self._lock:
            if slot.generation != generation:
                return  # pulled while we were reading: drop what we read
            slot.card_id = "c_" + secrets.token_hex(8)
            slot.atr, slot.profile, slot.masked = atr, profile, masked
            slot.session = session
            if refusal is not None:
                slot.state = "refused"
                slot.problem = ServiceError("card_blacklisted", "this card is blacklisted", reason=refusal)
            else:
                slot.state = "ready"
                slot.identity = identity
            slot.ready.set()
            event = {
                "type": "card.inserted",
                "reader": slot.id,
                "card_id": slot.card_id,
                "state": slot.state,
                "card": masked,
                "read_ms": round((time.monotonic() - started) * 1000, 1),
                "apdus": apdus,
            }
        self._audit(
            action="card.insert", result="card_blacklisted" if refusal else "ok", card=masked, target=slot.id
        )
        self._emit(event)

    def _run(
        self,
        slot: _CardSlot,
        session: HealthCardSession,
        operation: Callable[[HealthCardSession], T],
        *,
        writing: bool,
    ) -> T:
        """*operation* with the SAM held and the card in a PC/SC transaction; once more after a reset by
        another application (PC/SC reports the reset before the next command, so nothing ran twice)."""
        assert slot.transport is not None
        link = self._sam_for(slot)
        for attempt in (1, 2):
            try:
                with link.hold() as sam, slot.transport.transaction():
                    slot.sam_proxy.target = sam
                    try:
                        return operation(session)
                    finally:
                        slot.sam_proxy.target = None
            except CardResetError:
                session.forget_card_state()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- the API's side ---------------------------------------------------------------------------------

    def _slot(self, reader: str) -> _CardSlot:
        with self._lock:
            if reader == "default" and self._slots:
                return next(iter(self._slots.values()))
            for slot in self._slots.values():
                if reader in (slot.id, slot.name):
                    return slot
        if not self.service_up and self.service_problem:
            raise ServiceError("service_unavailable", "the PC/SC service (pcscd) is not running")
        raise ServiceError("reader_not_found", f"no card reader {reader!r}", reader=reader)

    @staticmethod
    def _card_problem(slot: _CardSlot) -> ServiceError:
        if slot.state == "empty" or not slot.present:
            if slot.removed:
                return ServiceError("card_removed", "the card was removed", reader=slot.id)
            return ServiceError("no_card", "no card in the reader", reader=slot.id)
        if slot.state == "reading":
            return ServiceError("card_not_ready", "the card is still being read", reader=slot.id)
        if slot.problem is not None:
            return slot.problem
        return ServiceError("card_error", f"the card is {slot.state}", reader=slot.id)

    def card(self, reader: str, *, wait: float = 0.0, card_id: str | None = None) -> CardView:
        """The card in *reader* and its identity (from the session, no card I/O). *wait*: seconds to
        wait for a card that is still being read. *card_id*: refuse if another card is in now."""
        slot = self._slot(reader)
        if wait > 0:
            slot.ready.wait(wait)
        with self._lock:
            if card_id is not None and slot.card_id != card_id and slot.present:
                raise ServiceError("card_changed", "a different card is in the reader now", reader=slot.id)
            if slot.identity is None or slot.card_id is None or slot.profile is None:
                if card_id is not None:
                    raise ServiceError("card_removed", "the card was removed", reader=slot.id)
                raise self._card_problem(slot)
            return CardView(
                slot.id, slot.card_id, slot.atr, slot.profile.name, slot.identity, slot.masked or ""
            )

    def submit(
        self,
        reader: str,
        operation: Callable[[HealthCardSession], T],
        *,
        card_id: str | None = None,
        writing: bool = False,
    ) -> Future[T]:
        """Queue *operation* on the reader's worker; the future fails with :class:`ServiceError`.

        The operation runs only if the same card (*card_id*, else the card present now) is still in the
        reader when its turn comes: a card swapped in meanwhile is never written by mistake.
        """
        view = self.card(reader, card_id=card_id)
        slot = self._slot(view.reader_id)
        generation = slot.generation

        def job() -> T:
            if slot.generation != generation or slot.session is None:
                raise ServiceError("card_removed", "the card was removed", reader=slot.id)
            try:
                return self._run(slot, slot.session, operation, writing=writing)
            except Exception as exc:
                problem = classify(exc, writing=writing)
                if problem.code == "internal_error":
                    log.exception("card operation on %s failed", slot.id)
                raise problem from None

        try:
            return slot.executor.submit(job)
        except RuntimeError:  # executor shut down: the reader went away
            raise ServiceError("reader_not_found", "the reader went away", reader=slot.id) from None

    # -- status ---------------------------------------------------------------------------------------

    def readers(self) -> list[ReaderInfo]:
        with self._lock:
            infos = [self._slot_info(slot) for slot in self._slots.values()]
            for name, link in self._sams.items():
                infos.append(
                    ReaderInfo(
                        reader_id(name),
                        name,
                        "sam",
                        link.present,
                        "ready" if link.present else "empty",
                        None,
                        link.atr.hex().upper() or None,
                        None,
                        None,
                        {"code": link.problem.code, "message": link.problem.message}
                        if link.problem
                        else None,
                    )
                )
            for name, state in self._other.items():
                infos.append(
                    ReaderInfo(
                        reader_id(name),
                        name,
                        "unassigned",
                        state.present,
                        "present" if state.present else "empty",
                        None,
                        state.atr.hex().upper() or None,
                        None,
                        None,
                        None,
                    )
                )
        return infos

    def _slot_info(self, slot: _CardSlot) -> ReaderInfo:
        problem = None
        if slot.problem is not None:
            problem = {"code": slot.problem.code, "message": slot.problem.message, **slot.problem.details}
        sam = slot.binding.sam if slot.binding.sam is not None else f"keystore:{slot.binding.keystore}"
        return ReaderInfo(
            slot.id,
            slot.name,
            "card",
            slot.present,
            slot.state,
            slot.card_id,
            slot.atr.hex().upper() if slot.present and slot.atr else None,
            slot.profile.name if slot.profile else None,
            sam,
            problem,
        )

    def sams(self) -> list[SamInfo]:
        with self._lock:
            links = dict(self._sams)
            out = [
                SamInfo(
                    name,
                    reader_id(name),
                    link.kind,
                    link.present,
                    link.atr.hex().upper() or None,
                    link.problem.code if link.problem else None,
                )
                for name, link in links.items()
            ]
            for index, binding in enumerate(self._bindings):
                if binding.sam is not None and not any(_matches(binding.sam, n) for n in links):
                    out.append(
                        SamInfo(
                            binding.sam, reader_id(binding.sam), "psam", False, None, "sam_reader_missing"
                        )
                    )
                if binding.keystore is not None:
                    opened = index in self._software_sams
                    out.append(
                        SamInfo(
                            f"keystore:{binding.keystore}",
                            f"keystore-{index}",
                            "keystore",
                            opened,
                            None,
                            None if opened else "keystore_not_open",
                        )
                    )
        return out
