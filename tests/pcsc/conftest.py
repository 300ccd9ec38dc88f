"""Fixtures for tests through the real PC/SC stack: pyscard → pcscd → vpcd → a virtual card.

`make test` starts the project's pcscd (scripts/pcscd-ctl) before pytest. These tests fail — they do
not skip — when it is not running: a skipped PC/SC suite would hide exactly what it exists to check.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.apdu import select_by_fid, transceive_checked
from cardservice.errors import TransportError
from drivers.readers import PcscTransport, list_readers, wait_for_card, wait_for_removal
from simulators.cardos import ALWAYS, CardImage, CardOptions, DfSpec, EfSpec, KeySpec, after_auth, load_card
from simulators.vpcd import VpcdBridge
from tests.conftest import unhex

CARD_READER = "cardservice-vpcd 00 00"
SAM_READER = "cardservice-vpcd 00 01"
CARD_PORT = 40000
SAM_PORT = 40001
SERIAL = unhex("C5 1D 00 00 00 00 42 01")
APP_KEY = unhex("00112233445566778899AABBCCDDEEFF")
APP_NAME = b"PCSC.TEST.APP"
EVENT_TIMEOUT = 5.0  # pcscd polls vpcd every 400 ms; an event later than this is a failure


def make_card_image(**options: object) -> CardImage:
    """MF with a free EF 0001 and an application DF whose EF 0002 needs EXTERNAL AUTHENTICATE (key 84)."""
    mf = DfSpec(
        fid=0x3F00,
        children=(
            EfSpec(0x0001, size=64, sfi=1, read=ALWAYS, update=ALWAYS, content=b"old data"),
            DfSpec(
                fid=0xDF01,
                name=APP_NAME,
                keys=(KeySpec(0x84, APP_KEY),),
                children=(EfSpec(0x0002, size=32, read=after_auth(0x84), content=b"secret"),),
            ),
        ),
    )
    return CardImage.build(mf, serial=SERIAL, profile="pcsc-test", options=CardOptions.from_mapping(options))


@pytest.fixture(scope="session", autouse=True)
def pcscd_running() -> None:
    try:
        readers = list_readers()
    except Exception as exc:  # any failure here means the same thing to the person running the tests
        pytest.fail(f"pcscd is not reachable ({exc}); start it with: scripts/pcscd-ctl start", pytrace=False)
    if CARD_READER not in readers or SAM_READER not in readers:
        pytest.fail(
            f"pcscd runs without the project's vpcd readers (found {readers}); "
            "restart it with: scripts/pcscd-ctl stop; scripts/pcscd-ctl start",
            pytrace=False,
        )


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    path = tmp_path / "card.json"
    make_card_image().save(path)
    return path


def attach(path: Path, port: int, reader: str) -> VpcdBridge:
    bridge = VpcdBridge(load_card(path), "127.0.0.1", port)
    bridge.start()
    assert wait_for_card(reader, EVENT_TIMEOUT), f"the virtual card did not appear in {reader}"
    return bridge


def detach(bridge: VpcdBridge, reader: str) -> None:
    bridge.stop()
    assert wait_for_removal(reader, EVENT_TIMEOUT), f"{reader} still shows a card after the bridge stopped"


@pytest.fixture
def bridge(image_path: Path) -> Iterator[VpcdBridge]:
    """The test card inserted in the user-card reader (slot 0)."""
    bridge = attach(image_path, CARD_PORT, CARD_READER)
    yield bridge
    detach(bridge, CARD_READER)


@pytest.fixture
def transport(bridge: VpcdBridge) -> Iterator[PcscTransport]:
    transport = PcscTransport(CARD_READER)
    transport.connect()
    yield transport
    transport.disconnect()


def reconnect_until_ready(transport: PcscTransport, *, what: str = "the card never came back") -> None:
    """Reconnect until the card answers SELECT EF 0001 again, as an application must after a card
    was pulled or pcscd restarted: pcscd may or may not have polled the reader in between."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        transport.disconnect()
        try:
            transport.connect()
            transceive_checked(transport.transmit, select_by_fid(0x0001))
            return
        except TransportError:
            assert time.monotonic() < deadline, what
            wait_for_card(CARD_READER, 0.5)


def tool_env() -> dict[str, str]:
    """Environment for standard PC/SC tools: no network look-ups, C locale for stable output."""
    return {**os.environ, "LC_ALL": "C"}


def stop_process_group(process: subprocess.Popen[str], timeout: float = 20) -> None:
    """SIGTERM to the process group of *process* (started with ``start_new_session=True``), SIGKILL
    after *timeout*, then SIGKILL to whatever of the group outlived its leader (a card-sim child)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
