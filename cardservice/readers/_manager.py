"""The reader manager: follows readers and cards of one or more backends, reads every card inserted into a
user-card reader, and runs every card operation on the reader's own worker thread.

Threads::

    monitor-<kind>  one per backend, blocked in ReaderBackend.poll (SCardGetStatusChange for PC/SC): readers
                    and cards coming and going, the service restarting. It never talks to a card.
    reader-<id>     one worker per user-card reader (a single-thread executor): connecting, reading the
                    identity at insertion, every operation, in arrival order (two clients never interleave
                    APDUs on one card; two readers work in parallel).

Readers have roles (:mod:`cardservice.readers._bindings`): a ``card`` reader's cards are read and served;
its ``sam`` reader holds the PSAM it is bound to; an ``issuer`` reader is listed but never read;
``ignored`` readers are not even listed. A reader's id is its name made URL-safe; readers of backends
after the first get their kind in front (``in-process-vcard-00-00``), so ids never collide.

A SAM is shared by the card readers bound to it (:class:`SamLink`): an operation holds the SAM for its
whole length, because the SAM's session key is state between commands. An operation is any
``Callable[[CardHandle], T]`` (:mod:`cardservice.readers._handle`): the health application through
``card.health``, another application on the chip through ``card.transmit``.

On removal the monitor wipes the cached identity at once, before the worker hears of it: no personal data
outlives the card in memory, even while the worker is stuck on a slow card. A card waiting for its SAM is
read again when the SAM comes back, a few times if the SAM does not answer at once.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from cardservice.errors import CardResetError, ServiceError, ServiceUnavailableError, TransportError
from cardservice.healthcard import HealthCardSession, mask_id_number, trusted_fingerprints
from cardservice.keys import SoftwareSam
from cardservice.readers._backend import ReaderBackend, ReaderState
from cardservice.readers._bindings import ReaderBinding, ReservedReader, matches
from cardservice.readers._errors import classify
from cardservice.readers._handle import CardHandle, CountedCard
from cardservice.readers._insertion import read_at_insertion, refusal_of
from cardservice.readers._profiles import ProfileTable
from cardservice.readers._sam import SamLink
from cardservice.readers._slots import CardSlot, OtherReader, Source
from cardservice.readers._views import CardView, ReaderInfo, SamInfo, reader_id

__all__ = ["CardOperation", "ReaderManager"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Event = dict[str, Any]
CardOperation = Callable[[CardHandle], T]
Key = tuple[str, str]  # (backend kind, reader name)

_BACKOFF_FIRST = 0.2
_BACKOFF_CAP = 2.0
_POLL_TIMEOUT = 5.0  # the monitor wakes at least this often to notice stop() even without a cancel
# A card read again as its SAM came back: a SAM just back may not answer yet (tries, pause, which failures).
_SAM_RETURN_ATTEMPTS, _SAM_RETURN_PAUSE = 3, 0.3
_TRANSIENT = frozenset({"card_error", "sam_unavailable", "sam_error"})


class ReaderManager:
    """Readers, cards and SAMs of one daemon, from one or more *backends*. Thread-safe; :meth:`submit` is
    the way to a card. *bindings*: the user-card readers and their SAMs; *reserved*: readers kept for
    card-issuer or ignored. *blacklist* answers a card number and issuance serial (XPXLH; a replacement
    card has its predecessor's number) with a refusal reason (or ``None``); *on_event* receives card and
    reader events (plain dicts, no personal data) on a monitor or a worker thread; *audit* records the
    daemon's own card accesses (the read at insertion, where a card first proves it is genuine:
    :mod:`._insertion`). *trusted_signers*: SM3 fingerprints of the SAM keys whose encounter-record
    signatures are ``valid``."""

    def __init__(
        self,
        backends: ReaderBackend | Sequence[ReaderBackend],
        *,
        bindings: Sequence[ReaderBinding],
        profiles: ProfileTable,
        reserved: Sequence[ReservedReader] = (),
        software_sams: Mapping[int, SoftwareSam] | None = None,
        sam_pins: Mapping[int, str] | None = None,
        blacklist: Callable[[str, str | None], str | None] | None = None,
        on_event: Callable[[Event], None] | None = None,
        audit: Callable[..., None] | None = None,
        trusted_signers: Iterable[str] = (),
    ) -> None:
        listed = [backends] if not isinstance(backends, Sequence) else list(backends)
        if not listed or len({b.kind for b in listed}) != len(listed):
            raise ValueError("give one backend or more, of different kinds")
        self._sources = [Source(backend, primary=index == 0) for index, backend in enumerate(listed)]
        kinds = {source.kind for source in self._sources}
        entries: list[ReaderBinding | ReservedReader] = [*bindings, *reserved]
        for entry in (entry for entry in entries if entry.kind not in kinds):
            pattern = entry.card if isinstance(entry, ReaderBinding) else entry.reader
            raise ValueError(f"reader {pattern!r} is of kind {entry.kind!r}; the backends: {sorted(kinds)}")
        self._bindings = list(bindings)
        self._reserved = list(reserved)
        self._profiles = profiles
        self._software_sams = dict(software_sams or {})
        self._sam_pins = dict(sam_pins or {})
        self._blacklist = blacklist
        self._on_event = on_event or (lambda event: None)
        self._audit = audit or (lambda **kwargs: None)
        self._trusted_signers = trusted_fingerprints(trusted_signers)  # refuses a malformed one now
        self._lock = threading.RLock()
        self._slots: dict[Key, CardSlot] = {}
        self._sams: dict[Key, SamLink] = {}  # PSAMs by reader; key-store links by binding index
        self._keystore_links: dict[int, SamLink] = {}
        self._other: dict[Key, OtherReader] = {}  # issuer and unassigned readers
        self._stop = threading.Event()

    # -- life cycle ---------------------------------------------------------------------------------

    @property
    def backend_kinds(self) -> str:
        """The kinds of the backends, as /v1/health shows them (``pcsc``, ``pcsc+in-process``)."""
        return "+".join(source.kind for source in self._sources)

    @property
    def service_up(self) -> bool:
        """Every backend's service answers (pcscd is running)."""
        return all(source.up for source in self._sources)

    @property
    def service_problem(self) -> str | None:
        return next((source.problem for source in self._sources if source.problem), None)

    def start(self) -> None:
        for source in self._sources:
            source.thread = threading.Thread(
                target=self._watch, args=(source,), name=f"monitor-{source.kind}", daemon=True
            )
            source.thread.start()

    def wait_until_scanned(self, timeout: float) -> bool:
        """True once the first look at every backend's readers is done (or failed)."""
        deadline = time.monotonic() + timeout
        return all(source.scanned.wait(max(0.0, deadline - time.monotonic())) for source in self._sources)

    def stop(self) -> None:
        self._stop.set()
        for source in self._sources:
            source.backend.cancel()
        for source in self._sources:
            if source.thread is not None:
                source.thread.join(timeout=10)
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
        for source in self._sources:
            source.backend.close()

    # -- monitors -----------------------------------------------------------------------------------

    def _watch(self, source: Source) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                snapshot = source.backend.poll(_POLL_TIMEOUT)
            except ServiceUnavailableError as exc:
                if source.up or source.problem is None:
                    log.warning("%s service unavailable: %s", source.kind, exc)
                    self._emit({"type": "service.down", "detail": str(exc)})
                source.up, source.problem = False, str(exc)
                self._apply(source, {})  # every reader is gone with the service
                source.scanned.set()
                self._stop.wait(backoff)  # nothing to wait on while the service is away: retry with backoff
                backoff = min(backoff * 2, _BACKOFF_CAP)
                continue
            except Exception:  # a bug must not kill the monitor: log, back off, carry on
                log.exception("reader monitor %s failed", source.kind)
                self._stop.wait(_BACKOFF_CAP)
                continue
            backoff = _BACKOFF_FIRST
            if not source.up:
                if source.problem is not None:
                    log.info("%s service is back", source.kind)
                    self._emit({"type": "service.up"})
                source.up, source.problem = True, None
            self._apply(source, snapshot)
            source.scanned.set()

    def _id(self, source: Source, name: str) -> str:
        return reader_id(name) if source.primary else reader_id(f"{source.kind} {name}")

    def _role(self, kind: str, name: str) -> tuple[str, int | None]:
        for index, binding in enumerate(self._bindings):
            if binding.kind == kind and matches(binding.card, name):
                return "card", index
        for index, binding in enumerate(self._bindings):
            if binding.kind == kind and binding.sam is not None and matches(binding.sam, name):
                return "sam", index
        for reserved in self._reserved:
            if reserved.kind == kind and matches(reserved.reader, name):
                return reserved.role, None
        return "unassigned", None

    def _apply(self, source: Source, snapshot: Mapping[str, ReaderState]) -> None:
        kind = source.kind
        with self._lock:
            for key in [k for k in self._slots if k[0] == kind and k[1] not in snapshot]:
                self._reader_gone(self._slots.pop(key))
            for key in [k for k in self._sams if k[0] == kind and k[1] not in snapshot]:
                self._sams.pop(key).card_changed(False, b"")
                self._emit({"type": "reader.removed", "reader": self._id(source, key[1]), "role": "sam"})
            for key in [k for k in self._other if k[0] == kind and k[1] not in snapshot]:
                gone = self._other.pop(key)
                self._emit({"type": "reader.removed", "reader": gone.id, "role": gone.role})
            # SAM readers first: a card found in the same look must find its SAM already there.
            ordered = sorted(snapshot.items(), key=lambda item: self._role(kind, item[0])[0] != "sam")
            for name, state in ordered:
                role, index = self._role(kind, name)
                key = (kind, name)
                if role == "card":
                    assert index is not None
                    slot = self._slots.get(key) or self._new_slot(source, name, index)
                    self._card_state(slot, state)
                elif role == "sam":
                    self._sam_state(source, name, state)
                elif role == "ignored":
                    continue
                elif key not in self._other:
                    self._other[key] = OtherReader(self._id(source, name), role, state)
                    self._emit({"type": "reader.added", "reader": self._other[key].id, "role": role})
                else:
                    self._other[key].state = state

    def _new_slot(self, source: Source, name: str, binding_index: int) -> CardSlot:
        slot_id = self._id(source, name)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"reader-{slot_id}")
        slot = CardSlot(source, name, slot_id, binding_index, self._bindings[binding_index], executor)
        self._slots[(source.kind, name)] = slot
        self._emit({"type": "reader.added", "reader": slot.id, "role": "card"})
        return slot

    def _reader_gone(self, slot: CardSlot) -> None:
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

    def _card_state(self, slot: CardSlot, state: ReaderState) -> None:
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

    def _sam_state(self, source: Source, name: str, state: ReaderState) -> None:
        key = (source.kind, name)
        link = self._sams.get(key)
        if link is None:
            _, index = self._role(source.kind, name)
            pin = self._sam_pins.get(index) if index is not None else None
            link = self._sams[key] = SamLink(name, backend=source.backend, pin=pin)
            self._emit({"type": "reader.added", "reader": self._id(source, name), "role": "sam"})
        present = state.present and not state.mute
        if (present, state.atr if present else b"") != (link.present, link.atr):
            link.card_changed(present, state.atr if present else b"")
            event = "sam.inserted" if present else "sam.removed"
            self._emit({"type": event, "reader": self._id(source, name)})
            if present:
                self._retry_cards_waiting_for(source.kind, name)

    def _retry_cards_waiting_for(self, kind: str, sam_reader: str) -> None:
        """Cards whose insertion read failed for want of this SAM are read again now it is here."""
        for slot in self._slots.values():
            binding = slot.binding
            bound = binding.kind == kind and binding.sam is not None and matches(binding.sam, sam_reader)
            if bound and slot.present and slot.problem is not None and slot.problem.code == "sam_unavailable":
                slot.generation += 1
                slot.wipe()
                slot.state = "reading"
                slot.ready.clear()
                atr = slot.insertion_mark[0] if slot.insertion_mark else b""
                slot.executor.submit(self._insert, slot, slot.generation, atr, _SAM_RETURN_ATTEMPTS)

    def _emit(self, event: Event) -> None:
        event.setdefault("at", time.time())
        try:
            self._on_event(event)
        except Exception:  # a subscriber's bug must not stop card handling
            log.exception("event subscriber failed")

    # -- worker side ------------------------------------------------------------------------------------

    def _close_transport(self, slot: CardSlot) -> None:
        transport, slot.transport = slot.transport, None
        if transport is not None:
            with contextlib.suppress(TransportError):
                transport.disconnect()

    def _sam_for(self, slot: CardSlot) -> SamLink:
        index, binding = slot.binding_index, slot.binding
        if binding.keystore is not None:
            link = self._keystore_links.get(index)
            if link is None:
                software = self._software_sams.get(index)
                if software is None:
                    raise ServiceError("sam_unavailable", "the key store of this reader is not open")
                link = self._keystore_links[index] = SamLink(
                    f"keystore {binding.keystore.name}", software=software, pin=self._sam_pins.get(index)
                )
            return link
        with self._lock:
            for (kind, name), link in self._sams.items():
                if kind == binding.kind and binding.sam is not None and matches(binding.sam, name):
                    return link
        raise ServiceError("sam_unavailable", f"the SAM reader {binding.sam!r} is not connected")

    def _insert(self, slot: CardSlot, generation: int, atr: bytes, attempts: int = 1) -> None:
        if slot.generation != generation:
            return  # already removed again
        self._close_transport(slot)
        started = time.monotonic()
        masked: str | None = None
        try:
            profile = self._profiles.match(atr)
            if profile is None or profile.model == "unsupported":
                raise ServiceError("card_unsupported", "this card is not a Resident Health Card")
            slot.transport = slot.source.backend.open(slot.name)
            counted = CountedCard(slot.transport)
            session = HealthCardSession(
                counted, slot.sam_proxy, trusted_signers=self._trusted_signers, **profile.session_options()
            )
            read = partial(read_at_insertion, internal_auth=profile.internal_auth)
            insertion = self._run(slot, session, None, read)
            apdus = counted.apdus
            number = insertion.card_number
            masked = mask_id_number(number) if number else None
            refusal = refusal_of(insertion, self._blacklist)
        except Exception as exc:
            problem = classify(exc)
            if attempts > 1 and problem.code in _TRANSIENT:
                time.sleep(_SAM_RETURN_PAUSE)
                self._insert(slot, generation, atr, attempts - 1)
                return
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
            if refusal is not None:  # blacklisted, or not genuine: no identity is kept
                slot.state, slot.problem = "refused", refusal
            else:
                slot.state, slot.identity = "ready", insertion.identity
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
            if refusal is not None:
                event["code"] = refusal.code
        self._audit(
            action="card.insert", result=refusal.code if refusal else "ok", card=masked, target=slot.id
        )
        self._emit(event)

    def _run(
        self, slot: CardSlot, session: HealthCardSession, card_id: str | None, operation: CardOperation[T]
    ) -> T:
        """*operation* with the SAM held and the card in a PC/SC transaction; once more after a reset by
        another application (PC/SC reports the reset before the next command, so nothing ran twice)."""
        transport = slot.transport
        assert transport is not None
        link = self._sam_for(slot)
        for attempt in (1, 2):
            try:
                with link.hold() as sam, transport.transaction():
                    slot.sam_proxy.target = sam
                    card = CardHandle(slot.id, card_id, transport, slot.sam_proxy, session)
                    try:
                        return operation(card)
                    finally:
                        slot.sam_proxy.target = None
                        if card.other_application:  # another application is selected now
                            session.forget_card_state()
            except CardResetError:
                session.forget_card_state()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- the API's side ---------------------------------------------------------------------------------

    def _slot(self, reader: str) -> CardSlot:
        with self._lock:
            slots = sorted(self._slots.values(), key=lambda slot: slot.binding_index)
            if reader == "default" and slots:
                return slots[0]
            for slot in slots:
                if reader in (slot.id, slot.name):
                    return slot
        if not self.service_up and self.service_problem:
            raise ServiceError("service_unavailable", "the PC/SC service (pcscd) is not running")
        raise ServiceError("reader_not_found", f"no card reader {reader!r}", reader=reader)

    def resolve(self, reader: str) -> str:
        """The id of card reader *reader* (an id, a PC/SC name, or ``default``: the first card reader)."""
        return self._slot(reader).id

    @staticmethod
    def _card_problem(slot: CardSlot) -> ServiceError:
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
        operation: CardOperation[T],
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
            session = slot.session
            if slot.generation != generation or session is None:
                raise ServiceError("card_removed", "the card was removed", reader=slot.id)
            try:
                return self._run(slot, session, view.card_id, operation)
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
            sources = {source.kind: source for source in self._sources}
            for (kind, name), link in self._sams.items():
                problem = (
                    {"code": link.problem.code, "message": link.problem.message} if link.problem else None
                )
                infos.append(
                    ReaderInfo(
                        self._id(sources[kind], name), name, "sam", link.present,
                        "ready" if link.present else "empty", None, link.atr.hex().upper() or None, None,
                        None, problem,
                    )
                )  # fmt: skip
            for (_, name), other in self._other.items():
                state = other.state
                infos.append(
                    ReaderInfo(
                        other.id, name, other.role, state.present, "present" if state.present else "empty",
                        None, state.atr.hex().upper() or None, None, None, None,
                    )
                )  # fmt: skip
        return infos

    def _slot_info(self, slot: CardSlot) -> ReaderInfo:
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
            sources = {source.kind: source for source in self._sources}
            out = [
                SamInfo(
                    name,
                    self._id(sources[kind], name),
                    link.kind,
                    link.present,
                    link.atr.hex().upper() or None,
                    link.problem.code if link.problem else None,
                )
                for (kind, name), link in links.items()
            ]
            for index, binding in enumerate(self._bindings):
                connected = any(k == binding.kind and matches(binding.sam or "", n) for k, n in links)
                if binding.sam is not None and not connected:
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
