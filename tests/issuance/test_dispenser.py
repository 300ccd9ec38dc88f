"""Issuing from a card dispenser, in process: run_batch over a DispenserCardSource whose dispenser is
the K720 driver wired to the virtual K720 (no serial line, no pcscd: the reader at the read position
hands the card image there to the batch). A foreign card and a spoiled one go to the reject bin, an
issued card to the mouth; a jam and an empty stack stop the batch, and the next run settles the card
the jam left at the read position (its holder's: presented) and goes on — no person twice, none missed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import simulators.health  # noqa: F401  (registers the health profile: a card that is not blank)
from cardservice.errors import CardAbsentError
from cardservice.issuance import DispenserCardSource, DispenserError, IssuedCard, Person, Registry
from cardservice.issuance._batch import chip_serial, run_batch
from cardservice.issuance._people import IssuerProfile, load_people
from cardservice.issuance._registry import CardStatus
from cardservice.issuance._sealing import ContentCipher
from cardservice.keys import KeyStore, SoftwareSam
from cardservice.store import Database
from drivers.dispenser import K720Dispenser
from simulators.cardos import CardOS, create_image, load_card
from simulators.dispenser import REJECT_BIN_CAPACITY, LoopbackLine, VirtualDispenser
from tests.issuance.test_batch import EXAMPLES, STATION, TRANSPORT, _Card


def Loopback(machine: VirtualDispenser) -> LoopbackLine:
    """A serial port wired straight to the virtual dispenser."""
    return LoopbackLine(machine.receive)


class _Dud(_Card):
    """A chip that is pulled away after a few commands (personalisation fails: spoiled)."""

    def __init__(self, card: CardOS) -> None:
        super().__init__(card)
        self.left = 8

    def transmit(self, apdu: bytes) -> bytes:
        self.left -= 1
        if self.left < 0:
            raise CardAbsentError("the card was pulled")
        return super().transmit(apdu)


class ReadPosition:
    """The reader at the read position, as PcscCardSource behaves: the card there until ejected."""

    def __init__(self, machine: VirtualDispenser, out: Callable[[], None], duds: set[str]) -> None:
        self.machine, self.out, self.duds = machine, out, duds
        self.held: _Card | None = None
        self.wait_seconds = 0.0

    def next_card(self) -> _Card:
        if self.held is None:
            assert self.machine.position == "read"
            assert self.machine.channel is not None
            path = self.machine.channel
            self.held = (_Dud if path.name in self.duds else _Card)(load_card(path))
        return self.held

    def eject(self, card: object) -> None:
        self.held = None
        self.out()

    def close(self) -> None:
        self.held = None


@pytest.fixture
def registry(database: Database, demo_store: KeyStore) -> Registry:
    return Registry(database, ContentCipher.from_keystore(demo_store))


def _station(machine: VirtualDispenser, duds: set[str]) -> DispenserCardSource:
    dispenser = K720Dispenser(Loopback(machine), poll=0.0, motion_timeout=1.0)
    return DispenserCardSource(dispenser, lambda out: ReadPosition(machine, out, duds))


def _run(people: list[Person], registry: Registry, source: DispenserCardSource, store: KeyStore,
         cards: list[IssuedCard]) -> None:  # fmt: skip
    source.prepare()
    run_batch(people, registry=registry, source=source, keystore=store, sam=SoftwareSam(store),
              transport=TRANSPORT, issuer=IssuerProfile(), actor="tester", batch="b", station=STATION,
              on_card=cards.append)  # fmt: skip


def test_a_batch_through_the_dispenser_survives_a_jam_and_an_empty_stack(
    tmp_path: Path, registry: Registry, demo_store: KeyStore
) -> None:
    people = load_people(EXAMPLES / "people.csv")[0][:5]
    machine = VirtualDispenser(tmp_path / "cards", 4)
    create_image(tmp_path / "cards" / "card-0002.json", "health", overwrite=True)  # someone else's card
    machine.arm_jam("present", after=1)
    source = _station(machine, duds={"card-0005.json"})
    cards: list[IssuedCard] = []

    with pytest.raises(DispenserError) as stopped:  # the second present jams
        _run(people, registry, source, demo_store, cards)
    assert stopped.value.code == "dispenser_jam"
    assert [c.outcome for c in cards] == ["active"]  # the 2nd person's card is issued, stuck
    assert [p.name for p in machine.reject_bin] == ["card-0002.json"]  # not blank, nobody's
    assert machine.jammed
    assert machine.position == "read"
    assert [c.status for c in registry.cards()] == [CardStatus.ACTIVE] * 2

    with pytest.raises(DispenserError) as stopped:  # reset, the stuck card to its holder, then empty
        _run(people, registry, source, demo_store, cards)
    assert stopped.value.code == "dispenser_empty"
    assert [c.outcome for c in cards[1:]] == ["skipped", "skipped", "active"]
    assert [p.name for p in machine.taken] == ["card-0001.json", "card-0003.json", "card-0004.json"]

    machine.refill(3)  # card-0005 is a dud
    _run(people, registry, source, demo_store, cards)
    assert [c.outcome for c in cards[4:]] == ["skipped"] * 3 + ["spoiled", "active"]
    _run(people, registry, source, demo_store, cards)
    assert [c.outcome for c in cards[9:]] == ["skipped"] * 3 + ["active", "skipped"]

    live = registry.cards(status=CardStatus.ACTIVE)
    assert sorted(c.card_number for c in live) == sorted(p.id_number for p in people)  # once each
    assert len(registry.cards(status=CardStatus.SPOILED)) == 1
    assert [p.name for p in machine.reject_bin] == ["card-0002.json", "card-0005.json"]
    assert len(machine.taken) == 5
    assert {c.chip_serial for c in live} == {
        chip_serial(load_card(path).power_on()) for path in machine.taken
    }
    assert (source.presented, source.captured) == (5, 2)
    assert source.wait_seconds > 0


def test_a_dispenser_with_a_full_reject_bin_does_not_start(tmp_path: Path) -> None:
    machine = VirtualDispenser(tmp_path / "cards", 2, low=2)
    machine.reject_bin = [Path("x")] * REJECT_BIN_CAPACITY
    notes: list[str] = []
    dispenser = K720Dispenser(Loopback(machine), poll=0.0)
    source = DispenserCardSource(
        dispenser, lambda out: ReadPosition(machine, out, set()), announce=notes.append
    )
    with pytest.raises(DispenserError, match="reject_bin_full") as caught:
        source.prepare()
    assert caught.value.code == "dispenser_fault"
    machine.reject_bin = []
    assert source.prepare().stack_low
    source.next_card()
    assert notes == ["the dispenser's card stack is low: refill it soon"]
    source.close()
