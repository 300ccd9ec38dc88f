"""The reader manager without pcscd: several backends at once, reader roles from the configuration, and
operations that get a card handle (the card's raw exchange and bound SAM beside the health session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.apdu import CommandApdu, transceive
from cardservice.readers import (
    InProcessBackend,
    ReaderBinding,
    ReaderManager,
    ReservedReader,
    ServiceError,
    load_profiles,
)
from simulators.health import DEMO_SAM_PIN
from tests.virtualcards import RecordingCard, make_card, wait_for

CARD, SAM = "vcard 00 00", "vcard 00 01"
LAB_CARD, LAB_SAM = "lab 00 00", "lab 00 01"
ISSUER, PRIVATE, OTHER = "issuer station 00 00", "yubikey 00 00", "spare 00 00"
PSE = "00 A4 04 00 0E 31 50 41 59 2E 53 59 53 2E 44 44 46 30 31 00"  # SELECT 1PAY.SYS.DDF01


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[ReaderManager, dict[str, RecordingCard]]]:
    log: list[tuple[str, float, float]] = []
    cards = {
        name: RecordingCard(make_card(tmp_path, profile), name, log)
        for name, profile in ((CARD, "health"), (SAM, "sam"), (LAB_CARD, "health"), (LAB_SAM, "sam"),
                              (ISSUER, "health"), (PRIVATE, "health"), (OTHER, "health"))
    }  # fmt: skip
    primary = InProcessBackend({name: cards[name] for name in (CARD, SAM, ISSUER, PRIVATE, OTHER)})
    lab = InProcessBackend({name: cards[name] for name in (LAB_CARD, LAB_SAM)}, kind="lab")
    manager = ReaderManager(
        [primary, lab],
        bindings=[
            ReaderBinding(card=CARD, sam=SAM, kind="in-process"),
            ReaderBinding(card=LAB_CARD, sam=LAB_SAM, kind="lab"),
        ],
        reserved=[
            ReservedReader(reader="issuer station", role="issuer", kind="in-process"),
            ReservedReader(reader="yubikey", role="ignored", kind="in-process"),
        ],
        profiles=load_profiles(),
        sam_pins={0: DEMO_SAM_PIN, 1: DEMO_SAM_PIN},
    )
    manager.start()
    try:
        assert manager.wait_until_scanned(10)
        for reader in ("vcard-00-00", "lab-lab-00-00"):
            wait_for(lambda r=reader: manager.card(r, wait=0.05), 10, f"{reader} ready")
        yield manager, cards
    finally:
        manager.stop()


Stack = tuple[ReaderManager, dict[str, RecordingCard]]


def test_two_backends_at_once_each_with_its_own_readers(manager: Stack) -> None:
    readers, _ = manager
    assert readers.backend_kinds == "in-process+lab"
    assert readers.service_up
    roles = {info.id: info.role for info in readers.readers()}
    # The first backend's readers keep their plain ids; the others' carry their kind.
    assert (roles["vcard-00-00"], roles["vcard-00-01"]) == ("card", "sam")
    assert (roles["lab-lab-00-00"], roles["lab-lab-00-01"]) == ("card", "sam")
    names = [readers.submit(r, lambda card: card.health.read_identity().cardholder.name).result(10)
             for r in ("vcard-00-00", "lab-lab-00-00")]  # fmt: skip
    assert names == ["李明", "李明"]
    assert readers.card("default").reader_id == "vcard-00-00"  # the first binding's reader


def test_an_issuer_reader_is_listed_never_read_and_an_ignored_one_is_invisible(
    manager: Stack,
) -> None:
    readers, cards = manager
    listed = {info.name: info for info in readers.readers()}
    assert listed[ISSUER].role == "issuer"
    assert listed[ISSUER].card_present is True
    assert listed[ISSUER].card_id is None
    assert PRIVATE not in listed
    assert listed[OTHER].role == "unassigned"
    # Neither the issuer's, the ignored nor the unassigned reader's card got a single command.
    for name in (ISSUER, PRIVATE, OTHER):
        assert sum(cards[name].instructions.values()) == 0, name
    with pytest.raises(ServiceError) as refused:
        readers.card("issuer-station-00-00")
    assert refused.value.code == "reader_not_found"


def test_an_operation_gets_the_card_its_sam_and_the_health_session(
    manager: Stack,
) -> None:
    readers, cards = manager
    view = readers.card("vcard-00-00")

    def look(card: object) -> tuple[object, ...]:
        return (card.reader_id, card.card_id, card.atr, card.sam.sm3_digest(b"abc"))  # type: ignore[attr-defined]

    reader, card_id, atr, digest = readers.submit("vcard-00-00", look).result(10)
    assert (reader, card_id, atr) == ("vcard-00-00", view.card_id, view.atr)
    # GB/T 32905 A.1: SM3("abc"), computed by the PSAM bound to the reader, reached through the handle.
    assert digest.hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sum(cards[SAM].instructions.values()) > 0


def test_another_application_on_the_chip_then_the_health_application_again(
    manager: Stack,
) -> None:
    """A flow of another application (here: SELECT of the PBOC payment environment) goes through the
    raw exchange; the health session then forgets what it had selected and authenticates anew."""
    readers, cards = manager
    readers.submit("vcard-00-00", lambda card: card.health.read_all()).result(10)
    before = dict(cards[CARD].instructions)

    def select_pse(card: object) -> int:
        return transceive(card.transmit, CommandApdu.decode(bytes.fromhex(PSE.replace(" ", "")))).sw  # type: ignore[attr-defined]

    assert readers.submit("vcard-00-00", select_pse).result(10) in (0x9000, 0x6A82)
    name = readers.submit("vcard-00-00", lambda card: card.health.read_identity().cardholder.name).result(10)
    assert name == "李明"
    after = cards[CARD].instructions
    assert after[0x82] > before.get(0x82, 0)  # EXTERNAL AUTHENTICATE again: the state was forgotten
