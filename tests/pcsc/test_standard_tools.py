"""PC/SC tools nobody here wrote (opensc-tool, scriptor, pcsc_scan) talk to the virtual card."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from simulators.vpcd import VpcdBridge
from tests.pcsc.conftest import CARD_READER, SAM_READER, SERIAL, tool_env

pytestmark = pytest.mark.pcsc

SCRIPT = Path(__file__).parent / "data" / "blank.scriptor"


def run(*argv: str, timeout: float = 20) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=tool_env(), check=False
    )
    assert result.returncode == 0, f"{argv[0]} failed ({result.returncode}): {result.stdout}{result.stderr}"
    return result.stdout + result.stderr


def test_opensc_tool_lists_both_readers(bridge: VpcdBridge) -> None:
    out = run("opensc-tool", "-l")
    card_line = next(line for line in out.splitlines() if line.endswith(CARD_READER))
    sam_line = next(line for line in out.splitlines() if line.endswith(SAM_READER))
    assert "Yes" in card_line
    assert "No" in sam_line


def test_opensc_tool_prints_the_atr(bridge: VpcdBridge) -> None:
    out = run("opensc-tool", "-r", "0", "-a")
    atr = bytes.fromhex(out.strip().splitlines()[-1].replace(":", ""))
    assert atr[0] == 0x3B
    assert atr[-9:-1] == SERIAL


def test_opensc_tool_select_and_challenges(bridge: VpcdBridge) -> None:
    out = run(
        "opensc-tool", "-r", "0",
        "-s", "00 A4 00 00 02 3F 00",
        "-s", "00 84 00 00 08",
        "-s", "00 84 00 00 08",
        "-s", "00 FE 00 00",
        "-s", "FF 00 00 00",
    )  # fmt: skip
    sws = re.findall(r"SW1=0x([0-9A-F]{2}), SW2=0x([0-9A-F]{2})", out)
    assert sws == [("90", "00"), ("90", "00"), ("90", "00"), ("6D", "00"), ("6E", "00")]
    challenges = re.findall(r"^((?:[0-9A-F]{2} ){8})", out, flags=re.MULTILINE)
    challenges = [c for c in challenges if not c.startswith("6F ")]
    assert len(challenges) == 2
    assert challenges[0] != challenges[1]


def test_scriptor_runs_the_shipped_script(bridge: VpcdBridge) -> None:
    out = run("scriptor", "-r", CARD_READER, str(SCRIPT))
    received = re.findall(r"^< (.*)$", out, flags=re.MULTILINE)
    assert received[0].startswith("OK: 3B")
    assert received[1].endswith("90 00 : Normal processing.")
    first, second = received[2], received[3]
    assert first.endswith("90 00 : Normal processing.")
    assert second.endswith("90 00 : Normal processing.")
    assert first != second
    assert received[4].startswith("6D 00")
    assert received[5].startswith("6E 00")


def test_pcsc_scan_sees_the_card(bridge: VpcdBridge) -> None:
    # pcsc_scan runs until interrupted; give it a bounded time and read what it printed.
    result = subprocess.run(
        ["timeout", "-s", "INT", "3", "pcsc_scan", "-n"],
        capture_output=True, text=True, env=tool_env(), check=False,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert CARD_READER in out
    assert "Card inserted" in out
    assert SERIAL.hex(" ").upper() in out
