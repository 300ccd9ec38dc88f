"""The daemon's reader manager on the real PC/SC stack: pcscd → vpcd → the virtual health card and PSAM.

Insertion is seen and the identity read once; removal wipes it at once; a reset by another application
is absorbed (select and authenticate again); a missing SAM and a mute card give clear errors, never a
hang. pcscd restarting is in test_pcscd_restart.py (it restarts the shared pcscd, so it runs last).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cardservice.readers import ReaderBinding, ReaderManager, ServiceError, load_profiles
from cardservice.transport import Disposition
from drivers.readers import PcscBackend, PcscTransport
from simulators.cardos import load_card
from simulators.health import create_health_card, create_sam
from simulators.vpcd import VpcdBridge
from tests.conftest import unhex
from tests.healthcard.shared import DEMO, CountingCard
from tests.pcsc.conftest import CARD_PORT, CARD_READER, EVENT_TIMEOUT, SAM_PORT, SAM_READER, attach, detach

pytestmark = pytest.mark.pcsc

SERIAL = unhex("00 81 86 6B 00 00 51 52")


@dataclass
class Events:
    """Events from the manager, with a wait that never sleeps blindly."""

    seen: list[dict[str, Any]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, event: dict[str, Any]) -> None:
        with self.changed:
            self.seen.append(event)
            self.changed.notify_all()

    def wait(self, kind: str, *, after: int = 0, timeout: float = EVENT_TIMEOUT + 2) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for event in self.seen[after:]:
                    if event["type"] == kind:
                        return event
                remaining = deadline - time.monotonic()
                seen = [e["type"] for e in self.seen]
                assert remaining > 0, f"no {kind} event within {timeout} s; saw {seen}"
                self.changed.wait(remaining)

    def mark(self) -> int:
        with self.changed:
            return len(self.seen)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("manager-pcsc")
    create_health_card(base / "card.json", serial=SERIAL)
    create_sam(base / "sam.json")
    return base


@dataclass
class Rig:
    card: CountingCard
    card_bridge: VpcdBridge
    sam_bridge: VpcdBridge
    manager: ReaderManager
    events: Events

    def result(self, future: Future[Any], timeout: float = 10) -> Any:
        return future.result(timeout)


@pytest.fixture
def rig(images: Path, tmp_path: Path) -> Iterator[Rig]:
    card_path, sam_path = tmp_path / "card.json", tmp_path / "sam.json"
    card_path.write_bytes((images / "card.json").read_bytes())
    sam_path.write_bytes((images / "sam.json").read_bytes())
    sam_bridge = attach(sam_path, SAM_PORT, SAM_READER)
    card = CountingCard(load_card(card_path))
    card_bridge = VpcdBridge(card, "127.0.0.1", CARD_PORT)
    events = Events()
    manager = ReaderManager(
        PcscBackend(),
        bindings=[ReaderBinding(card=CARD_READER, sam=SAM_READER)],
        profiles=load_profiles(),
        on_event=events,
    )
    manager.start()
    card_bridge.start()
    try:
        yield Rig(card, card_bridge, sam_bridge, manager, events)
    finally:
        manager.stop()
        card_bridge.stop()
        detach(sam_bridge, SAM_READER)


def test_insertion_reads_the_identity_once(rig: Rig) -> None:
    inserted = rig.events.wait("card.inserted")
    assert inserted["state"] == "ready"
    assert inserted["card"] == "1101************30"  # masked: no full ID number in events
    view = rig.manager.card("default")
    assert view.card_id == inserted["card_id"]
    assert view.identity.cardholder.name == DEMO["DDF1/EF06"]["name"]
    authentications = rig.card.external_authentications
    for _ in range(20):  # later reads answer from the session: no card I/O
        assert rig.manager.card(CARD_READER).identity.cardholder.id_number == DEMO["DDF1/EF06"]["id_number"]
    assert rig.card.external_authentications == authentications == 1


def test_reader_roles_from_the_binding(rig: Rig) -> None:
    rig.events.wait("card.inserted")
    roles = {info.name: info.role for info in rig.manager.readers()}
    assert roles.pop(CARD_READER) == "card"
    assert roles.pop(SAM_READER) == "sam"
    assert set(roles.values()) <= {"unassigned"}  # pcscd's other readers (the serial one) are not bound
    (sam,) = rig.manager.sams()
    assert sam.present
    assert sam.kind == "psam"
    assert sam.problem is None


def test_removal_wipes_the_identity_and_says_card_removed(rig: Rig) -> None:
    rig.events.wait("card.inserted")
    mark = rig.events.mark()
    rig.card_bridge.remove()
    rig.events.wait("card.removed", after=mark)
    with pytest.raises(ServiceError) as refused:
        rig.manager.card("default")
    assert refused.value.code == "card_removed"
    slot = rig.manager._slot("default")
    assert slot.identity is None
    assert slot.session is None


def test_reinsertion_is_a_new_card_and_old_card_ids_are_refused(rig: Rig) -> None:
    first = rig.events.wait("card.inserted")["card_id"]
    mark = rig.events.mark()
    rig.card_bridge.remove()
    rig.events.wait("card.removed", after=mark)
    rig.card_bridge.insert()
    second = rig.events.wait("card.inserted", after=mark)["card_id"]
    assert second != first
    with pytest.raises(ServiceError) as refused:
        rig.manager.submit("default", lambda s: s.read_allergies(), card_id=first)
    assert refused.value.code == "card_changed"


def test_reset_by_another_application_is_absorbed(rig: Rig) -> None:
    rig.events.wait("card.inserted")
    allergies = rig.result(rig.manager.submit("default", lambda card: card.health.read_allergies()))
    before = rig.card.external_authentications
    other = PcscTransport(CARD_READER)
    other.connect()
    other.reconnect(Disposition.RESET)  # the card's DF and security state are gone
    other.disconnect()
    assert rig.result(rig.manager.submit("default", lambda card: card.health.read_allergies())) == allergies
    assert rig.card.external_authentications > before  # it authenticated again instead of failing


def test_missing_sam_is_a_clear_error_and_recovers(rig: Rig) -> None:
    rig.events.wait("card.inserted")
    mark = rig.events.mark()
    rig.sam_bridge.remove()
    rig.events.wait("sam.removed", after=mark)
    with pytest.raises(ServiceError) as refused:
        rig.result(rig.manager.submit("default", lambda card: card.health.read_allergies()))
    assert refused.value.code == "sam_unavailable"
    assert rig.manager.sams()[0].present is False
    rig.sam_bridge.insert()
    rig.events.wait("sam.inserted", after=mark)
    assert rig.result(rig.manager.submit("default", lambda card: card.health.read_allergies()))


def test_a_mute_card_fails_the_operation_without_hanging(rig: Rig) -> None:
    rig.events.wait("card.inserted")
    rig.card_bridge.mute(timeout=1.0)  # as a real reader gives up on a mute card
    try:
        future = rig.manager.submit("default", lambda card: card.health.read_allergies())
        with pytest.raises(ServiceError) as failed:
            future.result(EVENT_TIMEOUT + 5)
        assert failed.value.code in {"card_removed", "card_unresponsive"}
    finally:
        rig.card_bridge.unmute()
