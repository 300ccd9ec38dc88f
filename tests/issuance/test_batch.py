"""A batch from examples/people.csv onto in-process blank cards, with the registry on SQLite and
PostgreSQL (tests/dbfixtures.py): issue, re-run (nothing new), report lost (blacklisted), resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardservice.access import Blacklist
from cardservice.errors import CardAbsentError
from cardservice.healthcard import HealthCardSession
from cardservice.issuance import TransportKeys
from cardservice.issuance._batch import chip_serial, resume, run_batch
from cardservice.issuance._people import IssuerProfile, load_people
from cardservice.issuance._registry import CardStatus, Registry, RegistryError
from cardservice.issuance._sealing import ContentCipher
from cardservice.keys import KeyStore, SoftwareSam
from cardservice.store import Database
from simulators.cardos import BLANK_TRANSPORT_KEY, CardOS, create_image, load_card

EXAMPLES = Path(__file__).parents[2] / "examples"
TRANSPORT = TransportKeys(BLANK_TRANSPORT_KEY, BLANK_TRANSPORT_KEY)
STATION = "host-1:reader-0"


class _Card:
    def __init__(self, card: CardOS) -> None:
        self.card = card
        self.atr = card.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)


class Feeder:
    """In-process stand-in for a card feeder: fresh blank images, one per next_card()."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.taken: list[Path] = []
        self.ejected = 0

    def next_card(self) -> _Card:
        path = self.directory / f"card-{len(self.taken) + 1:04d}.json"
        create_image(path)
        self.taken.append(path)
        return _Card(load_card(path))

    def eject(self, card: object) -> None:
        self.ejected += 1


@pytest.fixture
def registry(database: Database, demo_store: KeyStore) -> Registry:
    return Registry(database, ContentCipher.from_keystore(demo_store))


def _run(people, registry, feeder, store):  # type: ignore[no-untyped-def]
    return run_batch(people, registry=registry, source=feeder, keystore=store, sam=SoftwareSam(store),
                     transport=TRANSPORT, issuer=IssuerProfile(), actor="tester", batch="b1",
                     station=STATION)  # fmt: skip


def test_batch_issue_rerun_lose(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore
) -> None:
    people, errors = load_people(EXAMPLES / "people.csv")
    assert (len(people), errors) == (20, [])
    people = people[:4]
    feeder = Feeder(tmp_path)
    result = _run(people, registry, feeder, demo_store)
    assert [c.outcome for c in result.cards] == ["active"] * 4
    assert feeder.ejected == 4
    active = registry.cards(status=CardStatus.ACTIVE)
    assert len(active) == 4
    assert len({c.issuance_serial for c in active}) == 4
    # the same input again issues nothing new and takes no card
    again = _run(people, registry, feeder, demo_store)
    assert [c.outcome for c in again.cards] == ["skipped"] * 4
    assert len(feeder.taken) == 4
    # 挂失: the card goes on the blacklist; 解挂 takes it off
    number = people[1].id_number
    registry.transition(number, CardStatus.LOST, actor="clerk", reason="patient called")
    assert Blacklist(database).lookup(number) is not None
    with pytest.raises(RegistryError):
        registry.begin(number, actor="clerk")  # a lost card is still the person's live card
    registry.transition(number, CardStatus.ACTIVE, actor="clerk")
    assert Blacklist(database).lookup(number) is None
    history = registry.history(registry.cards(status=CardStatus.ACTIVE)[1].id)
    assert [(h[2], h[3]) for h in history] == [
        (None, "personalising"),
        ("personalising", "active"),
        ("active", "lost"),
        ("lost", "active"),
    ]


def test_bad_rows_are_reported_before_any_card(tmp_path: Path) -> None:
    people, errors = load_people(EXAMPLES / "people-with-errors.csv")
    assert len(people) == 1
    text = [str(e) for e in errors]
    assert any("check character" in t for t in text)
    assert any("duplicates row 1" in t for t in text)
    assert any("XM" in t for t in text)
    assert not any("李明" in t or "110105198503071230" in t for t in text)  # no personal data in errors


def test_gb18030_input_reads_the_same(tmp_path: Path) -> None:
    utf8, _ = load_people(EXAMPLES / "people.csv")
    gb, _ = load_people(EXAMPLES / "people-gb18030.csv")
    assert [p.values for p in utf8] == [p.values for p in gb]


def test_interrupted_card_is_spoiled_or_completed(
    tmp_path: Path, registry: Registry, demo_store: KeyStore
) -> None:
    people, _ = load_people(EXAMPLES / "people.csv")
    feeder = Feeder(tmp_path)
    # a run killed after the registry reserved the card and recorded it, before any write
    record = registry.begin(people[0].id_number, actor="tester", batch="b1", batch_row=1, station=STATION)
    other = registry.begin(people[1].id_number, actor="tester", batch="b9", station="host-2:reader-0")
    card = feeder.next_card()
    from cardservice.issuance._batch import chip_serial

    registry.attach(record.id, chip_serial=chip_serial(card.atr), content="{}")
    lines, eject = resume(
        registry, card, SoftwareSam(demo_store), demo_store, actor="tester", station=STATION
    )
    assert lines == [f"card {record.issuance_serial} ({record.masked}): interrupted before the first write; "
                     "the blank card is reused; spoiled"]  # fmt: skip
    assert not eject  # still blank: it takes the next person
    assert registry.cards(status=CardStatus.SPOILED)[0].id == record.id
    assert [c.id for c in registry.pending()] == [other.id]  # another station's card is not ours to settle
    # the person then gets a fresh card; nothing is issued twice
    result = _run(people[:1], registry, feeder, demo_store)
    assert [c.outcome for c in result.cards] == ["active"]
    assert len(registry.cards(status=CardStatus.ACTIVE)) == 1


class Killed(BaseException):
    """What SIGKILL does to the tool, as far as the card and the registry can tell: it stops."""


class _KillableCard(_Card):
    def __init__(self, card: CardOS, kill_after: int | None) -> None:
        super().__init__(card)
        self.kill_after = kill_after
        self.sent = 0

    def transmit(self, apdu: bytes) -> bytes:
        if self.kill_after is not None and self.sent >= self.kill_after:
            raise Killed
        self.sent += 1
        return super().transmit(apdu)


class Hopper(Feeder):
    """A feeder whose current card stays in the reader until ejected (as a real one)."""

    def __init__(self, directory: Path, kill_after: int | None = None) -> None:
        super().__init__(directory)
        self.kill_after = kill_after
        self.current: _KillableCard | None = None

    def next_card(self) -> _KillableCard:
        if self.current is None:
            path = self.directory / f"card-{len(self.taken) + 1:04d}.json"
            create_image(path)
            self.taken.append(path)
            self.current = _KillableCard(load_card(path), self.kill_after)
            self.kill_after = None  # one kill per run
        return self.current

    def eject(self, card: object) -> None:
        self.ejected += 1
        self.current = None


@pytest.mark.parametrize(
    ("kill_after", "settled", "ejected"),
    [
        (40, "spoiled", True),  # mid-personalisation: keys loaded, files half written
        (260, "spoiled", True),  # the health application done, the bank application half written
        (300, "active", True),  # every write done (the bank application's ACTIVATE is APDU 295), reading back
    ],
)
def test_a_run_killed_mid_card_resumes_without_duplicates(
    tmp_path: Path, registry: Registry, demo_store: KeyStore, kill_after: int, settled: str, ejected: bool
) -> None:
    people, _ = load_people(EXAMPLES / "people.csv")
    people = people[:3]
    hopper = Hopper(tmp_path, kill_after=kill_after)
    with pytest.raises(Killed):
        _run(people, registry, hopper, demo_store)
    assert len(registry.pending(station=STATION)) == 1
    card = hopper.next_card()  # the interrupted card is still in the reader
    card.kill_after, card.atr = None, card.card.power_on()  # the new run connects afresh
    lines, eject = resume(
        registry, card, SoftwareSam(demo_store), demo_store, actor="tester", station=STATION
    )
    assert lines[0].endswith(settled)
    assert eject is ejected
    hopper.eject(card)
    result = _run(people, registry, hopper, demo_store)
    first = [c.outcome for c in result.cards]
    assert first == (["active"] * 3 if settled == "spoiled" else ["skipped", "active", "active"])
    live = registry.cards(status=CardStatus.ACTIVE)
    assert sorted(c.card_number for c in live) == sorted(
        p.id_number for p in people
    )  # none missed, none twice
    assert len(registry.cards(status=CardStatus.SPOILED)) == (1 if settled == "spoiled" else 0)


def test_an_issued_card_left_in_the_reader_is_ejected_not_reissued(
    tmp_path: Path, registry: Registry, demo_store: KeyStore
) -> None:
    """Killed between completion and the eject: the next run finds a card that is not blank."""
    people, _ = load_people(EXAMPLES / "people.csv")
    hopper = Hopper(tmp_path)
    _run(people[:1], registry, hopper, demo_store)
    hopper.current = _KillableCard(load_card(hopper.taken[0]), None)  # put the issued card back
    notes: list[str] = []
    result = run_batch(people[:2], registry=registry, source=hopper, keystore=demo_store,
                       sam=SoftwareSam(demo_store), transport=TRANSPORT, issuer=IssuerProfile(),
                       actor="tester", batch="b2", station=STATION, on_note=notes.append)  # fmt: skip
    assert [c.outcome for c in result.cards] == ["skipped", "active"]
    assert len(notes) == 1
    assert "is not blank; ejected" in notes[0]
    assert len(hopper.taken) == 2


def test_replacement_carries_the_data_over_and_blacklists_only_the_old_card(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore
) -> None:
    from cardservice.healthcard import HealthCardSession
    from cardservice.issuance._replace import old_card_reader, replace_card

    people, _ = load_people(EXAMPLES / "people.csv")
    person = people[2]
    hopper = Hopper(tmp_path)
    _run([person], registry, hopper, demo_store)
    old_image = hopper.taken[0]
    [old] = registry.cards(status=CardStatus.ACTIVE)
    sam = SoftwareSam(demo_store)
    # a hospital wrote an allergy onto the old card after issuance
    old_card = _Card(load_card(old_image))
    HealthCardSession(old_card, sam).append_allergy("青霉素", "皮疹")
    registry.transition(person.id_number, CardStatus.LOST, actor="clerk")
    blacklist = Blacklist(database)
    assert blacklist.lookup(person.id_number, old.issuance_serial) is not None

    new = replace_card(person.id_number, database, source=hopper, keystore=demo_store, sam=sam,
                       transport=TRANSPORT, actor="clerk", station=STATION,
                       read_old_card=old_card_reader(old_card, sam))  # fmt: skip
    assert new.outcome == "active"
    assert new.issuance_serial != old.issuance_serial
    statuses = {c.issuance_serial: c.status for c in registry.cards(card_number=person.id_number)}
    assert statuses == {old.issuance_serial: CardStatus.REPLACED, new.issuance_serial: CardStatus.ACTIVE}
    assert blacklist.lookup(person.id_number, old.issuance_serial) is not None
    assert blacklist.lookup(person.id_number, new.issuance_serial) is None  # same KH, not refused
    new_card = _Card(load_card(hopper.taken[1]))
    session = HealthCardSession(new_card, sam)
    identity = session.read_identity()
    assert identity.issuer.issuance_serial == new.issuance_serial
    assert identity.cardholder.name == person.values["name"]
    assert [a.substance for a in session.read_allergies()] == ["青霉素"]  # carried over from the old card

    # the replacement lost too, and gone: a replacement from the registry's copy
    registry.transition(person.id_number, CardStatus.LOST, actor="clerk")
    notes: list[str] = []
    third = replace_card(person.id_number, database, source=hopper, keystore=demo_store, sam=sam,
                         transport=TRANSPORT, actor="clerk", station=STATION,
                         on_note=notes.append)  # fmt: skip
    assert third.outcome == "active"
    assert any("registry's copy" in note for note in notes)
    assert blacklist.lookup(person.id_number, new.issuance_serial) is not None
    assert blacklist.lookup(person.id_number, third.issuance_serial) is None


class _FaultAfterActivation(_KillableCard):
    """Writes everything, then the read-back goes wrong: a byte flipped in every answer with data
    (read back differs), or the card torn away at the first read."""

    def __init__(self, card: CardOS, fault: str) -> None:
        super().__init__(card, None)
        self.fault, self.activated = fault, False

    def transmit(self, apdu: bytes) -> bytes:
        if not self.activated:
            self.activated = apdu[1] == 0x44  # ACTIVATE FILE: every file written
            return super().transmit(apdu)
        if self.fault == "tear":
            raise CardAbsentError("the card was pulled")
        answer = super().transmit(apdu)
        return bytes([answer[0] ^ 0x01]) + answer[1:] if len(answer) > 2 else answer


@pytest.mark.parametrize("fault", ["mismatch", "tear"])
def test_a_spoiled_card_with_contents_is_blacklisted_and_the_new_one_is_not(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore, fault: str
) -> None:
    """Spoiled after its contents were written: the chip works, so its serial goes on the blacklist
    with the spoiling (the daemon refuses it); the person's next card is accepted."""
    people, _ = load_people(EXAMPLES / "people.csv")
    person = people[5]
    hopper = Hopper(tmp_path)
    hopper.next_card()
    hopper.current = _FaultAfterActivation(load_card(hopper.taken[0]), fault)
    [spoiled] = _run([person], registry, hopper, demo_store).cards
    assert spoiled.outcome == "spoiled"
    chip = HealthCardSession(_Card(load_card(hopper.taken[0])), SoftwareSam(demo_store))
    assert chip.read_identity().issuer.issuance_serial == spoiled.issuance_serial  # the chip works
    blacklist = Blacklist(database)
    entry = blacklist.lookup(person.id_number, spoiled.issuance_serial)  # as the daemon asks
    assert entry is not None
    assert entry.source == "registry"
    [again] = _run([person], registry, hopper, demo_store).cards
    assert again.outcome == "active"
    assert blacklist.lookup(person.id_number, again.issuance_serial) is None
    history = registry.history(registry.cards(status=CardStatus.SPOILED)[0].id)
    assert [h[3] for h in history] == ["personalising", "spoiled"]


def test_a_card_spoiled_while_blank_is_not_blacklisted(
    tmp_path: Path, registry: Registry, database: Database, demo_store: KeyStore
) -> None:
    """Nothing written (a wrong transport key stops the flow before CREATE FILE; a run killed before
    the first write leaves a blank card that is reused): no entry."""
    people, _ = load_people(EXAMPLES / "people.csv")
    wrong = TransportKeys(bytes(16), bytes(16))
    feeder = Feeder(tmp_path)
    result = run_batch(people[:1], registry=registry, source=feeder, keystore=demo_store,
                       sam=SoftwareSam(demo_store), transport=wrong, issuer=IssuerProfile(),
                       actor="tester", batch="b1", station=STATION)  # fmt: skip
    assert [c.outcome for c in result.cards] == ["spoiled"]
    record = registry.begin(people[1].id_number, actor="tester", batch="b1", station=STATION)
    card = feeder.next_card()
    registry.attach(record.id, chip_serial=chip_serial(card.atr), content="{}")
    lines, eject = resume(registry, card, SoftwareSam(demo_store), demo_store, actor="t", station=STATION)
    assert lines[0].endswith("the blank card is reused; spoiled")
    assert not eject
    assert len(registry.cards(status=CardStatus.SPOILED)) == 2
    assert Blacklist(database).entries() == []
