"""Issuing a card at a kiosk from afar: the issuance service's side of the relay (:mod:`._wire`), without
the web framework — the batch logic (:func:`~._batch.run_batch`) for one person over a
:class:`RemoteCardSource`, whose cards are at the kiosk and whose every APDU and motion is one frame to it.

So everything a batch guarantees holds at a kiosk too: the person checked against the registry (one live
card) and the blacklist (an entry for the person, not one of a past card's) before any card moves, the
chip reserved and its contents journaled before the first write, the read-back with terminal keys, a
spoiled card captured and, if anything was written to it, blacklisted. The kiosk never holds a key: the
card keys travel under secure messaging keyed by the card's own challenge.

A link that drops (or an answer that does not come within the service's time) is, for the card, a card
pulled from the reader (:class:`RelayError`, a :class:`~cardservice.errors.TransportError`): the journal
and spoil rules apply. What the kiosk then holds at its read position is settled the next time it
connects (:func:`relay_issuance` always settles first: :func:`~._batch.resume` for this kiosk's cards left
in personalisation, then the card there goes to its holder if it is a live card of the registry, else into
the reject bin — a blank one too, so that every card the registry spoiled is in a reject bin).
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from cardservice.access import Blacklist
from cardservice.apdu import CommandApdu
from cardservice.errors import CardAbsentError, CardError, CodecError, TransportError
from cardservice.healthcard import HolderError, load_holder, mask_id_number, validate_id_number
from cardservice.issuance._bank import BankIssuer
from cardservice.issuance._batch import batch_id, chip_serial, is_blank, release, resume, run_batch
from cardservice.issuance._dispenser import DispenserError
from cardservice.issuance._newborn import child_person
from cardservice.issuance._people import IssuerProfile, Person, holder_document
from cardservice.issuance._personalise import TransportKeys, changes_card
from cardservice.issuance._registry import Registry
from cardservice.issuance._wire import (
    KIOSK_ERRORS,
    Answer,
    Apdu,
    Capture,
    Dispense,
    Done,
    Failed,
    IssuedCardInfo,
    Opening,
    PersonIn,
    Present,
    Stage,
)
from cardservice.keys import KeyStore, Sam
from cardservice.store import StoreError

__all__ = [
    "FAILURES",
    "Channel",
    "IssuerSetup",
    "RelayError",
    "RemoteCard",
    "RemoteCardSource",
    "person_of",
    "relay_issuance",
]

log = logging.getLogger(__name__)

#: code → the message a patient reads (the kiosk shows it as it comes).
FAILURES: dict[str, str] = {
    "consent_required": "请先阅读并同意写入卡片的信息",
    "invalid_person": "证件信息不能用于办理居民健康卡，请到人工窗口办理",
    "already_has_card": "您已有居民健康卡，无需重复办理",
    "blacklisted": "您的证件暂不能自助办卡，请到人工窗口办理",
    "card_spoiled": "制卡失败，卡片已回收，请重新办理或到人工窗口办理",
    "card_error": "发卡出错，请到人工窗口办理",
    "registry_unavailable": "发卡登记系统暂时不可用，请稍后再试",
    "busy": "本机正在发卡，请稍候",
    "internal_error": "发卡服务内部错误，请到人工窗口办理",
}
_CHILD_HAS_CARD = "这个孩子已有居民健康卡，无需重复办理"
_READS = frozenset({0xB0, 0xB2})
_DISPENSER_ERRORS = frozenset(
    code for code in KIOSK_ERRORS if code.startswith("dispenser_")
)  # READ BINARY, READ RECORD: after the writes, the read-back


class RelayError(TransportError):
    """The kiosk is gone for this issuance: the link dropped, an answer did not come in time, or a frame
    was not the protocol. For the card it is as if it had been pulled."""


class Channel(Protocol):
    """One issuance's link to its kiosk, for a worker thread: each call blocks until done."""

    def ask(self, frame: Dispense | Apdu | Present | Capture) -> Answer:
        """Send an operation and wait for its answer; :class:`RelayError` when none comes."""
        ...

    def tell(self, frame: Stage) -> None:
        """Send a notice (no answer); :class:`RelayError` when the link is gone."""
        ...


class RemoteCard:
    """A card at the kiosk's read position: ``transmit`` is one ``apdu`` frame."""

    def __init__(self, source: RemoteCardSource, atr: bytes) -> None:
        self._source = source
        self._atr = atr

    @property
    def atr(self) -> bytes:
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        return self._source.transmit(self, apdu)


def _raise_for(answer: Answer) -> None:
    """The kiosk's error answer as the exception the batch logic expects."""
    if answer.error is None:
        return
    message = answer.message or answer.error
    if answer.error in _DISPENSER_ERRORS:
        raise DispenserError(answer.error, f"at the kiosk: {message}")
    if answer.error in ("card_absent", "no_card"):
        raise CardAbsentError(f"at the kiosk: {message}")
    raise CardError(f"at the kiosk: {message} [{answer.error}]")


class RemoteCardSource:
    """A :class:`~cardservice.issuance.CardSource` with a reject bin whose cards are at a kiosk: the
    dispenser's motions and the card's APDUs go over *channel*; the stages of the card go to the kiosk as
    notices (dispensing, writing, verifying, presenting or capturing)."""

    def __init__(self, channel: Channel) -> None:
        self._channel = channel
        self.held: RemoteCard | None = None
        self._written = False
        self._verifying = False

    def at_read_position(self, atr: bytes) -> RemoteCard:
        """The card the kiosk found at its read position when it connected."""
        self.held = RemoteCard(self, atr)
        return self.held

    def next_card(self) -> RemoteCard:
        if self.held is not None:
            return self.held
        self._channel.tell(Stage(stage="dispensing"))
        answer = self._channel.ask(Dispense())
        _raise_for(answer)
        if answer.atr is None:
            raise RelayError("the kiosk answered dispense without an ATR")
        self._written = self._verifying = False
        self.held = RemoteCard(self, bytes.fromhex(answer.atr))
        return self.held

    def eject(self, card: object) -> None:
        """Out at the mouth, for the person to take."""
        self._move(card, "presenting", Present())

    def reject(self, card: object) -> None:
        """Into the kiosk's reject bin."""
        self._move(card, "capturing", Capture())

    def _move(self, card: object, stage: str, frame: Present | Capture) -> None:
        if card is not self.held:
            raise CardAbsentError("that card is no longer at the kiosk's read position")
        self._channel.tell(Stage(stage=stage))  # type: ignore[arg-type]
        answer = self._channel.ask(frame)
        self.held = None
        _raise_for(answer)
        if answer.ok is None:
            raise RelayError("the kiosk did not confirm the card's motion")

    def transmit(self, card: RemoteCard, apdu: bytes) -> bytes:
        if card is not self.held:
            raise CardAbsentError("that card is no longer at the kiosk's read position")
        if len(apdu) >= 4:
            self._stage_of(apdu)
        answer = self._channel.ask(Apdu(c=apdu.hex().upper()))
        _raise_for(answer)
        if answer.r is None or len(answer.r) < 4:
            raise RelayError("the kiosk answered an APDU without a response")
        return bytes.fromhex(answer.r)

    def _stage_of(self, apdu: bytes) -> None:
        if not self._written and changes_card(CommandApdu(apdu[0], apdu[1], apdu[2], apdu[3])):
            self._written = True
            self._channel.tell(Stage(stage="writing"))
        elif self._written and not self._verifying and apdu[1] in _READS:
            self._verifying = True
            self._channel.tell(Stage(stage="verifying"))


@dataclass(frozen=True)
class IssuerSetup:
    """What the issuance service issues with: the registry (with its content cipher), the key store (card
    keys, sealing), the SAM of the read-back, the blank cards' transport keys, the issuer's profile and
    the bank application's issuer (None: health-only cards)."""

    registry: Registry
    blacklist: Blacklist
    keystore: KeyStore
    sam: Sam
    transport: TransportKeys
    issuer: IssuerProfile = field(default_factory=IssuerProfile)
    bank: BankIssuer | None = None


class _Refused(Exception):
    def __init__(self, code: str, message: str, message_zh: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message_zh = message_zh or FAILURES[code]


def person_of(data: PersonIn, *, today: _dt.date) -> Person:
    """*data* as a batch row, checked as :func:`~._people.load_people` checks one: the ID number (check
    character, birth date), then the whole card contents it makes (lengths, codes); with a child, the
    child's card (:func:`~._newborn.child_person`). ``CodecError`` names the item, never its value."""
    try:
        number = validate_id_number(data.id_number.upper(), today=today, field="id_number (SFZH)")
    except CodecError as exc:
        raise CodecError(str(exc)) from None
    values = {"id_number": number, "name": data.name.strip()}
    for name, value in (("sex", data.sex), ("ethnicity", data.ethnicity), ("address", data.address),
                        ("phone", data.phone)):  # fmt: skip
        if value:
            values[name] = value.strip()
    person = Person(1, number, values, data.photo)
    if data.child is not None:
        person = child_person(person, data.child, today=today)
    try:
        load_holder(holder_document(person, IssuerProfile(), issuance_serial="0", issue_date=today))
    except HolderError as exc:
        raise CodecError(str(exc).removeprefix("holder ")) from None
    return person


def _check_person(setup: IssuerSetup, opening: Opening, today: _dt.date) -> Person:
    data = opening.person
    assert data is not None
    if not data.consent:
        raise _Refused("consent_required", "the person has not agreed to what is written on the card")
    try:
        person = person_of(data, today=today)
    except CodecError as exc:
        raise _Refused("invalid_person", str(exc)) from None
    if setup.registry.live_card(person.id_number) is not None:
        raise _Refused("already_has_card", f"{person.masked} already has a live card",
                       None if person.has_id_number else _CHILD_HAS_CARD)  # fmt: skip
    # An entry without an issuance serial refuses the person; one with a serial is a past card's. A child's
    # card is refused when the guardian is refused too.
    for number in {person.id_number, person.guardian or person.id_number}:
        if any(not entry.issuance_serial for entry in setup.blacklist.entries(number)):
            raise _Refused("blacklisted", f"{mask_id_number(number)} is on the blacklist")
    return person


def _settle(
    setup: IssuerSetup, source: RemoteCardSource, card: RemoteCard | None, *, actor: str, station: str
) -> list[str]:
    """This kiosk's cards left in personalisation (:func:`~._batch.resume`), then the card at its read
    position: to its holder if it is a live card; kept there for the next person if it is a blank the
    registry never saw (dispensed, then the kiosk was gone before the card was reserved); else into the
    reject bin — so the reject bin holds exactly the chips the registry spoiled."""
    registry = setup.registry
    lines, _ = resume(registry, card, setup.sam, setup.keystore, actor=actor, station=station)
    if card is not None and source.held is card:
        where = f"the card at the read position (chip {chip_serial(card.atr)})"
        if not registry.cards(chip_serial=chip_serial(card.atr)) and _still_blank(card):
            lines.append(f"{where}: blank, kept for the next person")
        else:
            lines.append(f"{where}: {release(source, card, registry)}")
    return lines


def _still_blank(card: RemoteCard) -> bool:
    try:
        return is_blank(card)
    except (CardError, CodecError):
        return False


def _short(notes: list[str]) -> list[str]:
    """The notes as a frame carries them: the last 20, each at most 300 characters."""
    return [note[:300] for note in notes[-20:]]


def relay_issuance(
    setup: IssuerSetup,
    channel: Channel,
    opening: Opening,
    *,
    actor: str,
    station: str,
    today: Callable[[], _dt.date] = _dt.date.today,
) -> Done | Failed:
    """Settle what *opening* says is at the kiosk's read position, then — if it names a person — issue
    them a card over *channel* (the batch logic, see the module docstring). Returns the last frame to send;
    raises :class:`RelayError` when the kiosk is gone (there is nobody to tell)."""
    source = RemoteCardSource(channel)
    card = source.at_read_position(bytes.fromhex(opening.atr)) if opening.atr else None
    try:
        if card is not None or setup.registry.pending(station=station):
            channel.tell(Stage(stage="settling"))
        notes = _settle(setup, source, card, actor=actor, station=station)
        if opening.person is None:
            return Done(notes=_short(notes))
        person = _check_person(setup, opening, today())
        result = run_batch(
            [person], registry=setup.registry, source=source, keystore=setup.keystore, sam=setup.sam,
            transport=setup.transport, issuer=setup.issuer, actor=actor, batch=batch_id(), station=station,
            bank=setup.bank or False, on_note=notes.append, today=today,
        )  # fmt: skip
        issued = result.cards[0]
        # skipped (another kiosk began the person's card meanwhile): the blank stays for the next person
    except _Refused as refused:
        log.info("issuance at %s refused: %s", station, refused.code)
        return Failed(code=refused.code, message=str(refused), message_zh=refused.message_zh)
    except RelayError:
        raise
    except DispenserError as exc:
        return Failed(code=exc.code, message=str(exc)[:300], message_zh=exc.message_zh)
    except CardError as exc:
        return Failed(code="card_error", message=str(exc)[:300], message_zh=FAILURES["card_error"])
    except StoreError as exc:
        log.error("issuance at %s: the registry failed: %s", station, exc)
        return Failed(code="registry_unavailable", message="the card registry is not available",
                      message_zh=FAILURES["registry_unavailable"])  # fmt: skip
    if issued.outcome in ("active", "issued"):
        info = IssuedCardInfo(
            masked=issued.masked, status=issued.outcome, serial=issued.issuance_serial or ""
        )
        return Done(card=info, notes=_short(notes))
    if issued.outcome == "skipped":  # another kiosk began a card for the person meanwhile
        return Failed(
            code="already_has_card", message=issued.detail[:300], message_zh=FAILURES["already_has_card"]
        )
    return Failed(
        code="card_spoiled",
        message=f"card {issued.issuance_serial} spoiled: {issued.detail}"[:300],
        message_zh=FAILURES["card_spoiled"],
    )
