"""The `cardservice` operator commands through pcscd."""

from __future__ import annotations

import pytest

from cardservice.cli import main
from simulators.vpcd import VpcdBridge
from tests.pcsc.conftest import CARD_READER, SERIAL

pytestmark = pytest.mark.pcsc


def test_readers_lists_atr_and_empty_slot(bridge: VpcdBridge, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["readers"]) == 0
    out = capsys.readouterr().out
    assert f"{CARD_READER}  3B" in out
    assert SERIAL.hex(" ").upper() in out
    assert "cardservice-vpcd 00 01  no card" in out


def test_apdu_sends_through_the_stack(bridge: VpcdBridge, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apdu", "-r", "vpcd 00 00", "00 A4 00 00 02 3F 00", "00 84 00 00 08", "00FE0000"]) == 0
    out = capsys.readouterr().out
    assert f"reader: {CARD_READER}" in out
    assert "< 9000" in out
    assert "< 6D00  instruction code not supported" in out


def test_apdu_rejects_bad_hex_without_touching_the_card(
    bridge: VpcdBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["apdu", "00 A4 0"]) == 1
    assert "not a hex APDU" in capsys.readouterr().err


def test_apdu_unknown_reader(bridge: VpcdBridge, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apdu", "-r", "no such reader", "00 84 00 00 08"]) == 1
    assert "not found" in capsys.readouterr().err
