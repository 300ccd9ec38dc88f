"""Running a batch: one person per blank card, journaled in the registry so a killed run resumes.

For each person without a live card: take the next card → check it is blank → reserve the card in
the registry (status personalising, issuance serial) → record the chip and the contents → personalise
→ read everything back with terminal keys (the SAM, or a software SAM over the key store) → active,
or spoiled when anything differs → eject. A person who already has a card is skipped, so running the
same file again issues nothing new.

Resuming: a card left in ``personalising`` by a killed run is the journal. If that very chip is in the
reader, it is verified against the recorded contents: complete → active; otherwise (or if the chip is
gone) → spoiled, and the person gets a fresh card in this run. No card is issued twice: the database
refuses a second live card per person.
"""

from __future__ import annotations

import datetime as _dt
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from cardservice.apdu import run_flow, select_by_fid, select_by_name, transceive
from cardservice.errors import CardError, CodecError
from cardservice.healthcard import (
    CARD_FILES,
    HEALTH_KEYS,
    HealthCardSession,
    card_factor,
    city_factor,
    file_contents,
    load_holder,
)
from cardservice.issuance._people import IssuerProfile, Person, holder_document
from cardservice.issuance._personalise import CardKey, TransportKeys, personalise, verify_contents
from cardservice.issuance._registry import Registry, RegistryError
from cardservice.keys import KeyStore, Sam, diversify

__all__ = ["BatchResult", "CardSource", "IssuedCard", "run_batch"]


class Card(Protocol):
    @property
    def atr(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...


class CardSource(Protocol):
    """Where blank cards come from: a feeder, or an operator swapping cards in a reader."""

    def next_card(self) -> Card: ...

    def eject(self, card: Card) -> None: ...


@dataclass(frozen=True)
class IssuedCard:
    row: int
    masked: str
    outcome: str  # active, issued, spoiled, skipped, failed
    issuance_serial: str | None = None
    chip_serial: str | None = None
    detail: str = ""
    seconds: float = 0.0
    card_io_seconds: float = 0.0


@dataclass
class BatchResult:
    batch: str
    cards: list[IssuedCard] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for card in self.cards if card.outcome == outcome)


class _TimedCard:
    """Counts the time spent waiting for the card (the rest of a card's time is the tool's own)."""

    def __init__(self, card: Card) -> None:
        self._card = card
        self.seconds = 0.0
        self.apdus = 0

    @property
    def atr(self) -> bytes:
        return self._card.atr

    def transmit(self, apdu: bytes) -> bytes:
        started = time.perf_counter()
        try:
            return self._card.transmit(apdu)
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


def _is_blank(card: Card) -> bool:
    exchange = partial(transceive, card.transmit)
    ddf1 = next(f for f in CARD_FILES if f.path == "DDF1")
    assert ddf1.df_name is not None
    exchange(select_by_fid(0x3F00)).check()
    return exchange(select_by_name(ddf1.df_name)).sw == 0x6A82


def _verify(card: Card, sam: Sam, content: str, sm2: object) -> list[str]:
    contents = file_contents(load_holder(json.loads(content)), sm2)  # type: ignore[arg-type]
    return verify_contents(HealthCardSession(card, sam).read_file, contents)


def resume(
    registry: Registry, source_card: Card | None, sam: Sam, keystore: KeyStore, *, actor: str
) -> list[str]:
    """Settle cards a killed run left in personalisation; returns one line per card settled."""
    lines = []
    for record in registry.pending():
        content = registry.content(record.id)
        here = source_card is not None and record.chip_serial == chip_serial(source_card.atr)
        wrong: list[str] | None = None
        if here and content is not None and source_card is not None:
            try:
                wrong = _verify(source_card, sam, content, keystore.sm2_private_key)
            except (CardError, CodecError) as exc:
                wrong = [str(exc)]
        if wrong == []:
            registry.complete(record.id, actor=actor)
            lines.append(
                f"card {record.issuance_serial} ({record.masked}): interrupted after completion; active"
            )
        else:
            reason = "interrupted; card not in the reader" if not here else "interrupted mid-personalisation"
            registry.spoil(record.id, actor=actor, reason=reason)
            lines.append(f"card {record.issuance_serial} ({record.masked}): {reason}; spoiled")
    return lines


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
    hold: bool = False,
    on_card: Callable[[IssuedCard], None] = lambda card: None,
    today: Callable[[], _dt.date] = _dt.date.today,
) -> BatchResult:
    result = BatchResult(batch)

    def report(card: IssuedCard) -> None:
        result.cards.append(card)
        on_card(card)

    for person in people:
        if registry.live_card(person.id_number) is not None:
            report(IssuedCard(person.row, person.masked, "skipped", detail="already has a card"))
            continue
        report(
            _issue_one(
                person,
                registry=registry,
                source=source,
                keystore=keystore,
                sam=sam,
                transport=transport,
                issuer=issuer,
                actor=actor,
                batch=batch,
                hold=hold,
                today=today(),
            )
        )
    return result


def _issue_one(
    person: Person,
    *,
    registry: Registry,
    source: CardSource,
    keystore: KeyStore,
    sam: Sam,
    transport: TransportKeys,
    issuer: IssuerProfile,
    actor: str,
    batch: str,
    hold: bool,
    today: _dt.date,
) -> IssuedCard:
    started = time.perf_counter()
    card = _TimedCard(source.next_card())
    serial = chip_serial(card.atr)
    try:
        if not _is_blank(card):
            return IssuedCard(
                person.row, person.masked, "failed", chip_serial=serial, detail="card is not blank"
            )
        try:
            record = registry.begin(person.id_number, actor=actor, batch=batch, batch_row=person.row)
        except RegistryError as exc:
            return IssuedCard(person.row, person.masked, "skipped", detail=str(exc))
        document = holder_document(
            person,
            issuer,
            issuance_serial=record.issuance_serial or "",
            issue_date=today,
            security_code=f"{secrets.randbelow(1000):03d}",
        )
        content = json.dumps(document, ensure_ascii=False, sort_keys=True)
        registry.attach(record.id, chip_serial=serial, content=content)
        holder = load_holder(document)
        contents = file_contents(holder, keystore.sm2_private_key)
        keys = card_keys(keystore, card.atr, holder.issuer.city_code or "")
        try:
            run_flow(personalise(contents, keys, transport), partial(transceive, card.transmit))
            wrong = verify_contents(HealthCardSession(card, sam).read_file, contents)
        except (CardError, CodecError) as exc:
            registry.spoil(record.id, actor=actor, reason=f"personalisation failed: {exc}"[:200])
            return IssuedCard(
                person.row,
                person.masked,
                "spoiled",
                record.issuance_serial,
                serial,
                str(exc),
                time.perf_counter() - started,
                card.seconds,
            )
        if wrong:
            registry.spoil(record.id, actor=actor, reason="verification: " + ", ".join(wrong)[:180])
            return IssuedCard(
                person.row,
                person.masked,
                "spoiled",
                record.issuance_serial,
                serial,
                "read back differs: " + ", ".join(wrong),
                time.perf_counter() - started,
                card.seconds,
            )
        done = registry.complete(record.id, actor=actor, hold=hold)
        return IssuedCard(
            person.row,
            person.masked,
            str(done.status),
            record.issuance_serial,
            serial,
            "",
            time.perf_counter() - started,
            card.seconds,
        )
    finally:
        source.eject(card._card)


def batch_id(now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.UTC)
    return now.strftime("b%Y%m%dT%H%M%S") + "-" + secrets.token_hex(3)


def iter_outcomes(result: BatchResult) -> Iterator[str]:
    for card in result.cards:
        serial = card.issuance_serial or ""
        yield f"row {card.row} {card.masked}: {card.outcome} {serial} {card.detail}".rstrip()
