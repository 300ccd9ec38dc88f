"""The ID-card simulator as a program (``python -m simulators.idcard``) and its control socket; the
shipped synthetic cards."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.healthcard import validate_id_number
from cardservice.idcard import IdCardType, Placed, Removed, decode_text
from drivers.feeders import send_control
from drivers.idcard import SerialIdCardReader
from simulators.control import ControlError
from simulators.idcard import (
    CardFileError,
    ControlSocket,
    VirtualIdCardReader,
    handle_request,
    load_card,
    shipped_cards,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_cards_are_synthetic_and_decode() -> None:
    cards = shipped_cards()
    assert set(cards) == {"resident", "hmt-permit", "foreign-permanent", "foreign-permanent-2023"}
    for name in cards:
        card = load_card(name)
        assert "SYNTHETIC" in json.loads(cards[name].read_text(encoding="utf-8"))["_comment"]
        assert card.person.name.startswith("测试")
        assert (
            decode_text(card.text, photo_wlt=card.photo, fingerprint=card.person.fingerprint) == card.person
        )
        assert card.photo.startswith(b"SIMULATED-NOT-WLT")
    for name in ("resident", "hmt-permit"):  # citizen-style numbers: a valid GB 11643 check character
        validate_id_number(load_card(name).person.id_number)
    assert {load_card(name).person.card_type for name in cards} == set(IdCardType)


@pytest.mark.parametrize(
    ("content", "problem"),
    [("{", "Expecting"), ('{"format": "other"}', "not a card file"),
     ('{"format": "cardservice.idcard-sim/1", "card_type": "resident"}', "KeyError")],
)  # fmt: skip
def test_a_bad_card_file_is_named(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "card.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CardFileError, match=problem) as raised:
        load_card(path)
    assert str(path) in str(raised.value)


def test_control_requests() -> None:
    reader = VirtualIdCardReader()
    assert handle_request(reader, {"cmd": "status"})["status"]["state"] == "empty"
    placed = handle_request(reader, {"cmd": "place", "card": "hmt-permit"})
    assert placed["status"] | {"commands": 0} == {
        "card": "hmt_residence_permit", "number": "8100************83", "state": "placed", "fault": None,
        "fault_times": None, "commands": 0,
    }  # fmt: skip
    assert (
        handle_request(reader, {"cmd": "fault", "fault": "read_fail", "times": 2})["status"]["fault_times"]
        == 2
    )
    assert handle_request(reader, {"cmd": "fault", "fault": "none"})["status"]["fault"] is None
    assert handle_request(reader, {"cmd": "remove"})["status"]["card"] is None
    for bad, error in [
        ([], "JSON object"),
        ({"cmd": "eject"}, "unknown cmd"),
        ({"cmd": "place"}, "place needs"),
        ({"cmd": "place", "card": "/nonexistent.json"}, "No such file"),
        ({"cmd": "fault", "fault": "melt"}, "unknown fault"),
        ({"cmd": "fault", "fault": "timeout", "times": 0}, "positive"),
    ]:
        reply = handle_request(reader, bad)
        assert reply["ok"] is False
        assert error in reply["error"]


def test_the_control_socket(tmp_path: Path) -> None:
    reader = VirtualIdCardReader()
    path = tmp_path / "sim.ctl"
    with ControlSocket(path, reader):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert send_control(path, {"cmd": "place", "card": "resident"})["ok"]
        assert reader.card is not None
        with pytest.raises(ControlError, match="another simulator"):
            ControlSocket(path, reader).start()
    assert not path.exists()


@pytest.fixture
def program(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    link = tmp_path / "idcard"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.idcard", "--link", str(link), "--card", "resident"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    said = dict(process.stdout.readline().strip().split(" ", 1) for _ in range(3))
    try:
        yield process, said
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        process.stdout.close()
        assert process.stderr is not None
        process.stderr.close()


def ctl(control: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulators.idcard", "ctl", "--control", control, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_the_program_serves_a_pty_and_is_controlled(
    tmp_path: Path, program: tuple[subprocess.Popen[str], dict[str, str]]
) -> None:
    process, said = program
    link = tmp_path / "idcard"
    assert said["link"] == str(link)
    assert os.readlink(link) == said["pty"]
    assert said["control"] == f"{link}.ctl"
    reader = SerialIdCardReader(str(link), timeout=1)
    try:
        assert isinstance(reader.poll(), Placed)
        assert ctl(said["control"], "remove").returncode == 0
        assert reader.poll() == Removed()
        assert ctl(said["control"], "place", "foreign-permanent-2023").returncode == 0
        event = reader.poll()
        assert isinstance(event, Placed)
        assert event.person.card_type is IdCardType.FOREIGN_PERMANENT_2023
        status = ctl(said["control"], "fault", "sam_absent", "--times", "1")
        assert json.loads(status.stdout)["status"]["fault"] == "sam_absent"
        refused = ctl(said["control"], "place", str(tmp_path / "missing.json"))
        assert refused.returncode == 1
        assert "missing.json" in refused.stdout
    finally:
        reader.close()
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    assert not link.exists()
    assert not Path(said["control"]).exists()


def test_ctl_without_a_simulator(tmp_path: Path) -> None:
    result = ctl(str(tmp_path / "none.ctl"), "status")
    assert result.returncode == 1
    assert "no control socket" in result.stderr
