"""The serial reader through the real PC/SC stack: pcscd → Debian's libccidtwin (the GemPC Twin serial driver)
→ a pty → simulators.serialreader → a card-sim card attached to its card port (TCP 40002, as to vpcd).

pcscd lists it; opensc-tool reads its ATR and sends APDUs (T=1: PPS, IFS, I-blocks chained both ways);
insertion and removal are seen as with any reader; ``cardservice read`` reads the demo card's identity
through it with the PSAM in the vpcd reader; the daemon's reader manager reads the identity at insertion."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.cli import main
from cardservice.readers import ReaderBinding, ReaderManager, load_profiles
from drivers.readers import PcscBackend, PcscTransport, list_readers, wait_for_card, wait_for_removal
from simulators.cardos import load_card
from simulators.health import DEMO_SAM_PIN, create_health_card, create_sam
from simulators.vpcd import VpcdBridge
from tests.healthcard.shared import DEMO
from tests.pcsc.conftest import EVENT_TIMEOUT, SAM_PORT, SAM_READER, attach, detach, tool_env
from tests.pcsc.test_daemon_pcsc import start_daemon
from tests.pcsc.test_reader_manager_pcsc import Events

pytestmark = pytest.mark.pcsc

SERIAL_PORT = 40002  # the serial reader's card port (scripts/pcscd-ctl)
SERIAL_READER = "cardservice-twin 00 00"


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert SERIAL_READER in list_readers(), (
        f"pcscd has no {SERIAL_READER!r}: start it with scripts/pcscd-ctl (it starts the serial reader first)"
    )
    base = tmp_path_factory.mktemp("serial-reader")
    create_health_card(base / "card.json")
    create_sam(base / "sam.json")
    return base


@pytest.fixture
def card(images: Path) -> Iterator[VpcdBridge]:
    bridge = attach(images / "card.json", SERIAL_PORT, SERIAL_READER)
    yield bridge
    detach(bridge, SERIAL_READER)


@pytest.fixture
def sam(images: Path) -> Iterator[VpcdBridge]:
    bridge = attach(images / "sam.json", SAM_PORT, SAM_READER)
    yield bridge
    detach(bridge, SAM_READER)


def opensc(*args: str) -> str:
    index = list_readers().index(SERIAL_READER)
    result = subprocess.run(
        ["opensc-tool", "-r", str(index), *args], capture_output=True, text=True, timeout=30, env=tool_env(),
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_opensc_tool_reads_the_atr_and_sends_apdus(card: VpcdBridge, images: Path) -> None:
    atr = bytes.fromhex(opensc("-a").strip().splitlines()[-1].replace(":", ""))
    assert atr == load_card(images / "card.json").power_on()
    out = opensc("-s", "00 A4 00 00 02 3F 00", "-s", "00 84 00 00 08")
    assert out.count("SW1=0x90, SW2=0x00") == 2


def test_long_commands_cross_the_t1_link_whole(card: VpcdBridge) -> None:
    transport = PcscTransport(SERIAL_READER)
    transport.connect()
    try:
        # 45 bytes: more than the card's IFSC (32), so the driver chains it in two I-blocks. Whole, the card
        # refuses it for want of a selected file (69 86); cut, it would be a wrong length (67 00).
        long_update = bytes.fromhex("00D6000028") + bytes(range(0x40, 0x68))
        assert transport.transmit(long_update)[-2:] == b"\x69\x86"
        for _ in range(3):
            response = transport.transmit(bytes.fromhex("0084000010"))
            assert response[-2:] == b"\x90\x00"
            assert len(response) == 18
    finally:
        transport.disconnect()


def test_removal_and_insertion_are_seen(card: VpcdBridge) -> None:
    card.remove()
    assert wait_for_removal(SERIAL_READER, EVENT_TIMEOUT)
    card.insert()
    assert wait_for_card(SERIAL_READER, EVENT_TIMEOUT)


def test_cardservice_read_through_the_serial_reader(
    card: VpcdBridge, sam: VpcdBridge, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARDSERVICE_SAM_PIN", DEMO_SAM_PIN)
    assert main(["read", "-r", SERIAL_READER, "--sam-reader", SAM_READER]) == 0
    assert DEMO["DDF1/EF06"]["name"] in capsys.readouterr().out


def test_the_reader_manager_reads_the_identity_at_insertion(card: VpcdBridge, sam: VpcdBridge) -> None:
    events = Events()
    manager = ReaderManager(
        PcscBackend(),
        bindings=[ReaderBinding(card=SERIAL_READER, sam=SAM_READER)],
        profiles=load_profiles(),
        sam_pins={0: DEMO_SAM_PIN},
        on_event=events,
    )
    manager.start()
    try:
        inserted = events.wait("card.inserted", timeout=EVENT_TIMEOUT + 10)
        assert inserted["state"] == "ready", inserted
        view = manager.card("default")
        assert view.identity.cardholder.name == DEMO["DDF1/EF06"]["name"]
        mark = events.mark()
        card.remove()
        events.wait("card.removed", after=mark)
        card.insert()
        assert events.wait("card.inserted", after=mark)["state"] == "ready"
    finally:
        manager.stop()


def test_the_daemon_serves_the_identity_of_a_card_in_the_serial_reader(images: Path, tmp_path: Path) -> None:
    """``serve --demo`` with its card reader bound to the serial reader (the demo's PSAM stays in vpcd)."""
    bridge = attach(images / "card.json", SERIAL_PORT, SERIAL_READER)
    try:
        readers = json.dumps([{"card": SERIAL_READER, "sam": SAM_READER}])
        with (
            start_daemon(tmp_path / "home", {"CARDSERVICE_READERS": readers}) as daemon,
            daemon.client() as client,
        ):
            identity = client.get("/v1/readers/default/card/identity")
            assert identity.status_code == 200, identity.text
            assert identity.json()["name"] == DEMO["DDF1/EF06"]["name"]
            assert identity.json()["reader"] == "cardservice-twin-00-00"
    finally:
        detach(bridge, SERIAL_READER)
