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
from cardservice.transport import PcscTransport, list_readers, wait_for_card
from simulators.vpcd import VpcdBridge
from tests.pcsc.conftest import CARD_READER, EVENT_TIMEOUT, reconnect_until_ready

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
