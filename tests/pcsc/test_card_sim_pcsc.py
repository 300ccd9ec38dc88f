"""`card-sim serve` and `card-sim ctl` as a tester runs them: separate processes, real pcscd."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.apdu import read_binary, select_by_fid, transceive_checked, update_binary
from cardservice.errors import CardAbsentError, CardUnresponsiveError
from drivers.readers import PcscTransport, wait_for_card, wait_for_removal
from tests.pcsc.conftest import CARD_READER, EVENT_TIMEOUT, reconnect_until_ready

pytestmark = pytest.mark.pcsc

CARD_SIM = [sys.executable, "-m", "simulators.cli"]


def ctl(control: Path, *args: str) -> dict[str, object]:
    result = subprocess.run(
        [*CARD_SIM, "ctl", "--control", str(control), *args],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reply: dict[str, object] = json.loads(result.stdout)
    return reply


@pytest.fixture
def served(image_path: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    control = tmp_path / "ctl.sock"
    command = [*CARD_SIM, "serve", "--vpcd", "127.0.0.1:40000", str(image_path), "--control", str(control)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert wait_for_card(CARD_READER, EVENT_TIMEOUT), "card-sim serve never inserted the card"
            yield process, control
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            _, errors = process.communicate(timeout=10)
            wait_for_removal(CARD_READER, EVENT_TIMEOUT)
        assert "Traceback" not in errors


def test_remove_insert_latency_tear_and_sigterm(served: tuple[subprocess.Popen[str], Path]) -> None:
    process, control = served
    transport = PcscTransport(CARD_READER)
    transport.connect()

    ctl(control, "remove")
    assert wait_for_removal(CARD_READER, EVENT_TIMEOUT)
    ctl(control, "insert")
    assert wait_for_card(CARD_READER, EVENT_TIMEOUT)
    reconnect_until_ready(transport)

    ctl(control, "latency", "60")
    start = time.monotonic()
    transceive_checked(transport.transmit, read_binary(0, ne=8))
    assert time.monotonic() - start >= 0.06
    ctl(control, "latency", "0")

    ctl(control, "tear", "0", "--after-writes", "2")
    with pytest.raises((CardAbsentError, CardUnresponsiveError)):
        transport.transmit(update_binary(0, b"TORN!!!!").encode())
    reconnect_until_ready(transport)
    assert transceive_checked(transport.transmit, read_binary(0, ne=8)).data == b"old data"
    status = ctl(control, "status")
    assert status["ok"] is True
    transport.disconnect()

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert wait_for_removal(CARD_READER, EVENT_TIMEOUT)
    assert not control.exists()


def test_mute_with_timeout_is_an_error_not_a_hang(served: tuple[subprocess.Popen[str], Path]) -> None:
    _, control = served
    transport = PcscTransport(CARD_READER)
    transport.connect()
    transceive_checked(transport.transmit, select_by_fid(0x0001))
    ctl(control, "mute", "--timeout", "1")
    start = time.monotonic()
    with pytest.raises((CardAbsentError, CardUnresponsiveError)):
        transport.transmit(read_binary(0, ne=8).encode())
    assert time.monotonic() - start < 5  # bounded: the application gets its answer
    assert wait_for_removal(CARD_READER, EVENT_TIMEOUT)
    ctl(control, "unmute")
    assert wait_for_card(CARD_READER, EVENT_TIMEOUT)
    reconnect_until_ready(transport)
    assert transceive_checked(transport.transmit, read_binary(0, ne=8)).data == b"old data"
    transport.disconnect()
