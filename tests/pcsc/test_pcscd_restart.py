"""The PC/SC service goes away and comes back: the same transport object recovers, no process restart.

This restarts the project's own pcscd (scripts/pcscd-ctl), so it runs last in its module and leaves
pcscd running as it found it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cardservice.apdu import select_by_fid, transceive_checked
from cardservice.errors import CardAbsentError, CardUnresponsiveError, ServiceUnavailableError
from drivers.readers import PcscTransport, list_readers, wait_for_card
from simulators.vpcd import VpcdBridge
from tests.pcsc.conftest import CARD_PORT, CARD_READER, EVENT_TIMEOUT, reconnect_until_ready

pytestmark = pytest.mark.pcsc

PCSCD_CTL = Path(__file__).resolve().parents[2] / "scripts" / "pcscd-ctl"


def pcscd(action: str) -> None:
    subprocess.run([str(PCSCD_CTL), action], check=True, capture_output=True, timeout=30)


def test_transport_recovers_after_pcscd_restart(transport: PcscTransport, bridge: VpcdBridge) -> None:
    transceive_checked(transport.transmit, select_by_fid(0x3F00))
    pcscd("stop")
    try:
        with pytest.raises((ServiceUnavailableError, CardAbsentError, CardUnresponsiveError)):
            transport.transmit(select_by_fid(0x3F00).encode())
        with pytest.raises(ServiceUnavailableError, match="pcscd"):
            list_readers()
    finally:
        pcscd("start")
    # The bridge reconnects to the new vpcd by itself (capped backoff); then the same transport
    # object connects again: its PC/SC context is re-established on first use.
    assert CARD_READER in list_readers()
    assert wait_for_card(CARD_READER, EVENT_TIMEOUT + 5)
    reconnect_until_ready(transport, what="the transport never reconnected after pcscd came back")
    assert transceive_checked(transport.transmit, select_by_fid(0x3F00)).sw == 0x9000


def test_reader_manager_follows_pcscd_away_and_back(images: Path, tmp_path: Path) -> None:
    """The daemon's manager: service.down, then readers and the card found again, no restart of its own."""
    from cardservice.readers import ReaderBinding, ReaderManager, ServiceError, load_profiles
    from drivers.readers import PcscBackend
    from tests.pcsc.conftest import SAM_PORT, SAM_READER, attach, detach
    from tests.pcsc.test_reader_manager_pcsc import Events

    card_path, sam_path = tmp_path / "card.json", tmp_path / "sam.json"
    card_path.write_bytes((images / "card.json").read_bytes())
    sam_path.write_bytes((images / "sam.json").read_bytes())
    sam_bridge = attach(sam_path, SAM_PORT, SAM_READER)
    card_bridge = attach(card_path, CARD_PORT, CARD_READER)
    events = Events()
    manager = ReaderManager(
        PcscBackend(),
        bindings=[ReaderBinding(card=CARD_READER, sam=SAM_READER)],
        profiles=load_profiles(),
        on_event=events,
    )
    manager.start()
    try:
        first = events.wait("card.inserted")["card_id"]
        mark = events.mark()
        pcscd("stop")
        try:
            events.wait("service.down", after=mark)
            with pytest.raises(ServiceError) as refused:
                manager.card("default")
            assert refused.value.code == "service_unavailable"
            assert manager.readers() == []
        finally:
            pcscd("start")
        events.wait("service.up", after=mark, timeout=15)
        again = events.wait("card.inserted", after=mark, timeout=15)
        assert again["state"] == "ready"
        assert again["card_id"] != first
        assert manager.card("default").identity.cardholder.name
    finally:
        manager.stop()
        detach(card_bridge, CARD_READER)
        detach(sam_bridge, SAM_READER)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulators.health import create_health_card, create_sam

    base = tmp_path_factory.mktemp("restart-images")
    create_health_card(base / "card.json")
    create_sam(base / "sam.json")
    return base
