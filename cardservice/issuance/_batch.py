"""Running a batch: one person per blank card, journaled in the registry so a killed run resumes.

For each person without a live card: take the next card → check it is blank (a card that is not is
ejected and the next one taken) → reserve the card in the registry (status personalising, issuance
serial) → record the chip and the contents → personalise → read everything back with terminal keys
(the SAM, or a software SAM over the key store) → active, or spoiled when anything differs → eject.
A person who already has a card is skipped, so running the same file again issues nothing new.

Resuming: a card left in ``personalising`` by a killed run of the same station is the journal. If
that very chip is in the reader, it is verified against the recorded contents: complete → active;
still blank → spoiled in the registry, the card reused; otherwise (or if the chip is gone) →
spoiled, and the person gets a fresh card in this run. No card is issued twice: the database
refuses a second live card per person. Killed after completion but before the eject, the issued
card is still in the reader: it is not blank and the registry knows it, so the next person's turn
ejects it to its holder (:func:`release`).

Where cards go: a finished card is ejected (a dispenser presents it at its mouth); a spoiled card, or
one that is not blank and nobody's live card, is discarded (:func:`discard`: a dispenser captures it
into its reject bin; a feeder ejects it).

The bank application (:mod:`._bank`) goes on every card unless ``bank=False``: the registry assigns the
card its bank account and PSN before the first write, the application is written after the health one and
read back with it; a resumed card with an account is settled only if its bank application is complete too.

Spoiled: a chip that anything was written to (or may have been: gone from the reader) goes on the
blacklist by its issuance serial with the spoiling, as it may work; a chip still blank does not. A
written and verified chip the registry refuses to record (a replacement whose old card was
cancelled meanwhile) is spoiled and blacklisted too: no working chip is left out of the registry.
"""

from __future__ import annotations

import datetime as _dt
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from cardservice.apdu import CommandApdu, ResponseApdu, run_flow, select_by_fid, select_by_name, transceive
from cardservice.errors import CardError, CodecError
from cardservice.healthcard import (
    CARD_FILES,
    HEALTH_KEYS,
    HealthCardSession,
    Holder,
    card_factor,
    city_factor,
    file_contents,
    load_holder,
    seal_document,
)
from cardservice.issuance._bank import BankIssuer, check_bank, personalise_bank
from cardservice.issuance._people import IssuerProfile, Person, holder_document
from cardservice.issuance._personalise import (
    CardKey,
    TransportKeys,
    changes_card,
    personalise,
    verify_contents,
)
from cardservice.issuance._registry import CardRecord, CardStatus, Registry, RegistryError
from cardservice.keys import KeyStore, Sam, diversify
from cardservice.pboc._issuing import BankApplication
from cardservice.store import LIVE_CARD_STATES

__all__ = [
    "BatchResult",
    "CardSource",
    "FeederEmptyError",
    "IssuedCard",
    "bank_issuer_of",
    "batch_id",
    "blank_card",
    "discard",
    "is_blank",
    "release",
    "resume",
    "run_batch",
    "write_card",
]

_MAX_NOT_BLANK_IN_A_ROW = 3


class Card(Protocol):
    @property
    def atr(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...


class CardSource(Protocol):
    """Where blank cards come from: a feeder, or an operator swapping cards in a reader. Implemented by
    drivers (:class:`drivers.readers.PcscCardSource`); ``wait_seconds``, where a source has it, is the
    time spent waiting for cards to come and go (reported apart from card I/O). A source with a reject
    bin (a dispenser: :class:`~cardservice.issuance.DispenserCardSource`) also has ``reject(card)``,
    where cards nobody may have go (:func:`discard`)."""

    def next_card(self) -> Card:
        """The card to personalise now; :class:`FeederEmptyError` when none comes."""
        ...

    def eject(self, card: Card) -> None:
        """Out with the card; returns once the reader is empty."""
        ...


class FeederEmptyError(CardError):
    """No card arrived in time: the feeder's hopper is empty (or nobody inserted one)."""


@dataclass(frozen=True)
class IssuedCard:
    row: int
    masked: str
    outcome: str  # active, issued, spoiled, skipped, failed
    issuance_serial: str | None = None
    chip_serial: str | None = None
    detail: str = ""
    seconds: float = 0.0  # from asking for the card to its ejection
    card_io_seconds: float = 0.0  # waiting for the card's answers (pcscd, reader, card)
    wait_seconds: float = 0.0  # waiting for cards to arrive and leave (feeder mechanics, operator)

    @property
    def tool_seconds(self) -> float:
        """The tool's own work: building contents, signing, crypto, the registry."""
        return max(0.0, self.seconds - self.card_io_seconds - self.wait_seconds)


@dataclass
class BatchResult:
    batch: str
    cards: list[IssuedCard] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for card in self.cards if card.outcome == outcome)


class _TimedCard:
    """Counts the time spent waiting for the card (the rest of a card's time is the tool's own)."""

    def __init__(self, card: Card) -> None:
        self.card = card
        self.seconds = 0.0
        self.apdus = 0

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def transmit(self, apdu: bytes) -> bytes:
        started = time.perf_counter()
        try:
            return self.card.transmit(apdu)
        finally:
            self.seconds += time.perf_counter() - started
            self.apdus += 1


def chip_serial(atr: bytes) -> str:
    return card_factor(atr).hex().upper()


def card_keys(keystore: KeyStore, atr: bytes, city_code: str) -> dict[str, CardKey]:
    """Every card key diversified for this chip (level 1: ATR factor; level 2: + city factor)."""
    factors = [card_factor(atr), city_factor(city_code)]
    keys = {}
    for key in HEALTH_KEYS:
        entry = keystore.get_entry(key.name)
        keys[key.name] = CardKey(
            key, diversify(entry.key, factors[: key.levels], cipher=entry.algorithm), entry.algorithm
        )
    return keys


def is_blank(card: Card) -> bool:
    """Whether *card* has no DDF1 yet (a blank card as the card OS ships it)."""
    exchange = partial(transceive, card.transmit)
    ddf1 = next(f for f in CARD_FILES if f.path == "DDF1")
    assert ddf1.df_name is not None
    exchange(select_by_fid(0x3F00)).check()
    return exchange(select_by_name(ddf1.df_name)).sw == 0x6A82


def _verify(card: Card, sam: Sam, content: str, sm2: object) -> list[str]:
    contents = file_contents(load_holder(json.loads(content)), sm2)  # type: ignore[arg-type]
    return verify_contents(HealthCardSession(card, sam).read_file, contents)


def resume(
    registry: Registry, card: Card | None, sam: Sam, keystore: KeyStore, *, actor: str, station: str
) -> tuple[list[str], bool]:
    """Settle the cards a killed run of *station* left in personalisation (another station's cards
    in a shared database are not ours to judge). *card*: the card in the reader now, if any.

    Returns one line per card settled, and whether *card* must be ejected: it is the interrupted
    chip and was completed or spoiled. A chip still blank (killed before the first write) is spoiled
    in the registry but stays in the reader for the next person; any other spoiled chip is
    blacklisted (its contents are journaled before the first write: none journaled, none written)."""
    lines = []
    eject = False
    serial = chip_serial(card.atr) if card is not None else None
    for record in registry.pending(station=station):
        content = registry.content(record.id)
        here = card is not None and record.chip_serial == serial
        wrong: list[str] | None = None
        written = content is not None
        reason = "interrupted; card not in the reader"
        if here and card is not None:
            try:
                if is_blank(card):
                    written = False
                    reason = "interrupted before the first write; the blank card is reused"
                elif content is not None:
                    eject = True
                    reason = "interrupted mid-personalisation"
                    wrong = _verify(card, sam, content, keystore.sm2_private_key)
                    if not wrong and record.pan is not None and record.psn is not None:
                        exchange = partial(transceive, card.transmit)
                        wrong = run_flow(check_bank(record.pan, record.psn), exchange)
            except (CardError, CodecError) as exc:
                eject, wrong = True, [str(exc)]
        where = f"card {record.issuance_serial} ({record.masked})"
        if wrong == []:
            status, detail = _record_verified(registry, record, actor=actor)
            settled = f"{detail}; {status}" if detail else f"verified, {status}"
            lines.append(f"{where}: interrupted after writing; {settled}")
        else:
            registry.spoil(record.id, actor=actor, reason=reason, written=written)
            lines.append(f"{where}: {reason}; spoiled")
    return lines, eject


def _record_verified(
    registry: Registry, record: CardRecord, *, actor: str, hold: bool = False
) -> tuple[str, str]:
    """Record a written and verified chip: (status, detail). Should the registry refuse (the card a
    replacement replaces was cancelled meanwhile), the chip, which works, is spoiled and blacklisted
    rather than left out of the registry (or in personalisation, for every later resume to trip on)."""
    try:
        return str(registry.complete(record.id, actor=actor, hold=hold).status), ""
    except RegistryError as exc:
        detail = f"verified, but not recorded ({exc})"
        registry.spoil(record.id, actor=actor, reason=detail[:200])
        return str(CardStatus.SPOILED), detail


def run_batch(
    people: list[Person],
    *,
    registry: Registry,
    source: CardSource,
    keystore: KeyStore,
    sam: Sam,
    transport: TransportKeys,
    issuer: IssuerProfile,
    actor: str,
    batch: str,
    station: str,
    hold: bool = False,
    bank: BankIssuer | bool = True,
    on_card: Callable[[IssuedCard], None] = lambda card: None,
    on_note: Callable[[str], None] = lambda line: None,
    today: Callable[[], _dt.date] = _dt.date.today,
) -> BatchResult:
    """Issue a card to every person in *people* who has none (see the module docstring). *bank*: the bank
    application's issuer (True: from *keystore*, :meth:`BankIssuer.from_keystore`; False: none)."""
    bank_issuer = bank_issuer_of(bank, keystore)
    result = BatchResult(batch)
    for person in people:
        if registry.live_card(person.id_number) is not None:
            card = IssuedCard(person.row, person.masked, "skipped", detail="already has a card")
        else:
            card = _one_person(
                person,
                registry=registry,
                source=source,
                keystore=keystore,
                sam=sam,
                transport=transport,
                issuer=issuer,
                actor=actor,
                batch=batch,
                station=station,
                hold=hold,
                bank=bank_issuer,
                on_note=on_note,
                today=today(),
            )
        result.cards.append(card)
        on_card(card)
    return result


def bank_issuer_of(bank: BankIssuer | bool, keystore: KeyStore) -> BankIssuer | None:
    """*bank* as given, from the key store (True) or none (False); a store without the bank keys raises
    ``CryptoError`` before any card is touched."""
    if bank is True:
        return BankIssuer.from_keystore(keystore)
    return bank or None


def _waited(source: CardSource) -> float:
    return float(getattr(source, "wait_seconds", 0.0))


def discard(source: CardSource, card: Card) -> None:
    """Out with a card nobody may have (spoiled; not blank and nobody's): into the reject bin where the
    source has one (a dispenser captures it), else ejected."""
    getattr(source, "reject", source.eject)(card)


def release(source: CardSource, card: Card, registry: Registry | None) -> str:
    """Out with a card that is not for the next person: a live card of the registry goes to its holder
    (ejected: a dispenser presents it), anything else is discarded. Returns what was done."""
    serial = chip_serial(card.atr)
    live = [c for c in registry.cards(chip_serial=serial) if c.status in LIVE_CARD_STATES] if registry else []
    if live:
        source.eject(card)
        card_of = live[-1]
        return f"ejected to its holder: card {card_of.issuance_serial} ({card_of.masked}), {card_of.status}"
    discard(source, card)
    return "captured" if hasattr(source, "reject") else "ejected"


def blank_card(source: CardSource, on_note: Callable[[str], None], registry: Registry | None = None) -> Card:
    """The next blank card; cards that are not blank (already issued, foreign, mute) are ejected or,
    given the *registry*, released (:func:`release`: an issued card to its holder, others discarded)."""
    for _ in range(_MAX_NOT_BLANK_IN_A_ROW):
        card = source.next_card()
        try:
            if is_blank(card):
                return card
            problem = "is not blank"
        except (CardError, CodecError) as exc:
            problem = f"does not answer as a blank card ({exc})"
        if registry is None:
            source.eject(card)
            done = "ejected"
        else:
            done = release(source, card, registry)
        on_note(f"the card in the reader (chip {chip_serial(card.atr)}) {problem}; {done}")
    raise CardError(f"{_MAX_NOT_BLANK_IN_A_ROW} cards in a row were not blank: check the cards in the feeder")


def _one_person(
    person: Person, *, source: CardSource, on_note: Callable[[str], None], **kwargs: Any
) -> IssuedCard:
    started, waited = time.perf_counter(), _waited(source)
    card = _TimedCard(blank_card(source, on_note, kwargs["registry"]))
    # Should this raise (database gone, reader gone, ^C), the card stays in the reader: the
    # registry's journal names it and the next run's resume settles it.
    outcome, serial, detail = _issue_one(person, card, **kwargs)
    if outcome == "spoiled":
        discard(source, card.card)
    elif outcome != "skipped":  # a skipped person leaves the blank card for the next one
        source.eject(card.card)
    return IssuedCard(
        person.row,
        person.masked,
        outcome,
        serial,
        chip_serial(card.atr),
        detail,
        seconds=time.perf_counter() - started,
        card_io_seconds=card.seconds,
        wait_seconds=_waited(source) - waited,
    )


def _issue_one(
    person: Person,
    card: _TimedCard,
    *,
    registry: Registry,
    keystore: KeyStore,
    sam: Sam,
    transport: TransportKeys,
    issuer: IssuerProfile,
    actor: str,
    batch: str,
    station: str,
    hold: bool,
    bank: BankIssuer | None,
    today: _dt.date,
) -> tuple[str, str | None, str]:
    """Personalise and verify one blank card for *person*: (outcome, issuance serial, detail)."""
    try:
        record = registry.begin(
            person.id_number, actor=actor, batch=batch, batch_row=person.row, station=station,
            guardian_number=person.guardian,
        )  # fmt: skip
    except RegistryError as exc:
        return "skipped", None, str(exc)
    document = holder_document(
        person,
        issuer,
        issuance_serial=record.issuance_serial or "",
        issue_date=today,
        security_code=new_security_code(),
    )
    return write_card(
        card, record, document, registry=registry, keystore=keystore, sam=sam, transport=transport,
        actor=actor, hold=hold, bank=bank,
    )  # fmt: skip


def new_security_code() -> str:
    """安全码 AQM: three random digits."""
    return f"{secrets.randbelow(1000):03d}"


def write_card(
    card: Card,
    record: CardRecord,
    document: dict[str, Any],
    *,
    registry: Registry,
    keystore: KeyStore,
    sam: Sam,
    transport: TransportKeys,
    actor: str,
    hold: bool = False,
    bank: BankIssuer | None = None,
) -> tuple[str, str | None, str]:
    """Journal *document* for the reserved card *record*, personalise the blank *card* with it (and with
    the bank application of *bank*), read it all back: (outcome, issuance serial, detail); the registry says
    active/issued or spoiled (and blacklisted, unless nothing was written to the chip)."""
    sealed = seal_document(document, keystore.sm2_private_key)  # the exact bytes, journaled
    content = json.dumps(sealed, ensure_ascii=False, sort_keys=True)
    registry.attach(record.id, chip_serial=chip_serial(card.atr), content=content)
    holder = load_holder(sealed)
    contents = file_contents(holder, keystore.sm2_private_key)
    keys = card_keys(keystore, card.atr, holder.issuer.city_code or "")
    application: BankApplication | None = None
    if bank is not None:
        try:
            application = _bank_application(registry, record, bank, holder)
        except (RegistryError, CodecError, ValueError) as exc:
            registry.spoil(record.id, actor=actor, reason=f"bank application: {exc}"[:200], written=False)
            return "spoiled", record.issuance_serial, f"bank application: {exc}"
    written = False

    def exchange(command: CommandApdu) -> ResponseApdu:
        nonlocal written
        written = written or changes_card(command)  # before sending: a torn write may have landed
        return transceive(card.transmit, command)

    try:
        run_flow(personalise(contents, keys, transport), exchange)
        if application is not None:
            run_flow(personalise_bank(application, transport), exchange)
        wrong = verify_contents(HealthCardSession(card, sam).read_file, contents)
        if application is not None:
            account = application.account
            wrong += run_flow(check_bank(account.pan, account.psn, application), exchange)
    except (CardError, CodecError) as exc:
        registry.spoil(record.id, actor=actor, reason=f"personalisation failed: {exc}"[:200], written=written)
        return "spoiled", record.issuance_serial, str(exc)
    if wrong:
        registry.spoil(record.id, actor=actor, reason="verification: " + ", ".join(wrong)[:180])
        return "spoiled", record.issuance_serial, "read back differs: " + ", ".join(wrong)
    status, detail = _record_verified(registry, record, actor=actor, hold=hold)
    return status, record.issuance_serial, detail


def _bank_application(
    registry: Registry, record: CardRecord, bank: BankIssuer, holder: Holder
) -> BankApplication:
    """The card's bank account from the registry, dated as the health card, and its application."""
    assigned = registry.assign_pan(record.id, bin_digits=bank.bin)
    issued = holder.issuer.issue_date or _dt.date.today()
    expiry = getattr(holder.model("DDF1/EF08"), "expiry_date", None) or _dt.date(issued.year + 10, 1, 1)
    if assigned.pan is None or assigned.psn is None:
        raise RegistryError(f"card {record.issuance_serial}: no bank account assigned")
    return bank.application(bank.account(assigned.pan, assigned.psn, effective=issued, expiry=expiry))


def batch_id(now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.UTC)
    return now.strftime("b%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def iter_outcomes(result: BatchResult) -> Iterator[str]:
    for card in result.cards:
        serial = card.issuance_serial or ""
        yield f"row {card.row} {card.masked}: {card.outcome} {serial} {card.detail}".rstrip()
