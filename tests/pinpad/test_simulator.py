"""The PIN pad simulator in memory (its clock, faults, the key table), its control socket, and as a program
(``python -m simulators.pinpad``) driven by ``ctl`` while the serial driver waits for a PIN."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.keys import BlockCipher, decrypt_ecb
from cardservice.pboc import pin_from_block_format_0
from cardservice.pinpad import (
    ABORT,
    END,
    KEY,
    START_ENTRY,
    STATUS_REQUEST,
    Ack,
    EntryRequest,
    EntryStatus,
    Frame,
    FrameParser,
    KeyChange,
    KeyEvent,
    Link,
    Nak,
    PinEntry,
    decode_event,
    key_check_value,
)
from drivers.feeders import send_control
from drivers.pinpad import SerialPinPad
from simulators.control import ControlError
from simulators.pboc import demo_bank_key
from simulators.pinpad import (
    DEMO_MASTER_KEY,
    ControlSocket,
    VirtualPinPad,
    demo_key_cryptogram,
    handle_request,
)

ROOT = Path(__file__).resolve().parents[2]
PAN = "6228000100001"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frames_of(pad: VirtualPinPad, host: Link, clock: Clock) -> list[Frame]:
    """What the pad says now, as the host's link takes it (and ACKs it back)."""
    frames = host.receive(pad.output(), clock.now)
    pad.feed(host.transmit(clock.now))
    return frames


def test_the_demo_keys_are_published_derivations() -> None:
    from cardservice.keys import sm3_digest

    assert sm3_digest(b"cardservice DEMO PIN pad master key")[:16] == DEMO_MASTER_KEY
    assert decrypt_ecb(BlockCipher.TDES, DEMO_MASTER_KEY, demo_key_cryptogram()) == demo_bank_key("TPK")


def test_the_pad_on_its_own_clock() -> None:
    clock, host = Clock(), Link(peer="pad")
    pad = VirtualPinPad(clock=clock)
    pad.feed(Frame(1, START_ENTRY, EntryRequest(PAN, timeout=10).encode()).encode())
    (answer,) = frames_of(pad, host, clock)
    assert (answer.seq, answer.code, answer.data) == (1, START_ENTRY, b"\x00")
    assert pad.type("12")
    assert [decode_event(frame) for frame in frames_of(pad, host, clock)] == [KeyEvent(KeyChange.ADDED, 1)]
    clock.now += 0.01
    assert [frame.code for frame in frames_of(pad, host, clock)] == [KEY]  # stop-and-wait: one at a time
    clock.now += 9.9
    assert frames_of(pad, host, clock) == []
    clock.now += 0.1  # 10 s after the last key
    (end,) = frames_of(pad, host, clock)
    assert decode_event(end) == PinEntry(EntryStatus.TIMEOUT, None, 2)
    assert pad.press("1") is False  # no entry: the pad ignores keys
    with pytest.raises(ValueError, match="a digit or one of"):
        pad.press("#")


def test_the_pad_answers_each_command_once_and_a_resend_again_from_nothing() -> None:
    pad = VirtualPinPad(clock=Clock())
    command = Frame(9, ABORT).encode()
    pad.feed(command)
    output = pad.output()
    assert output.startswith(Ack(9).encode())
    pad.feed(command)  # our ACK lost: the host resends
    assert pad.output() == Ack(9).encode()  # ACKed again, not answered twice
    assert pad.status()["commands"] == 1
    assert [token for token in FrameParser().parse(output) if isinstance(token, Frame)] == [
        Frame(9, ABORT, b"\x00\x00")
    ]  # no entry ran


def test_a_broken_host_frame_is_naked_and_its_resend_answered() -> None:
    clock, host = Clock(), Link(peer="pad")
    pad = VirtualPinPad(clock=clock)
    broken = bytearray(Frame(4, STATUS_REQUEST).encode())
    broken[-2] ^= 0x10
    pad.feed(bytes(broken))
    assert pad.output() == Nak().encode()
    assert pad.status()["commands"] == 0
    pad.feed(Frame(4, STATUS_REQUEST).encode())
    (answer,) = frames_of(pad, host, clock)
    assert answer.data[0] == 0


def test_an_unknown_command_and_a_bad_request() -> None:
    clock, host = Clock(), Link(peer="pad")
    pad = VirtualPinPad(clock=clock)
    pad.feed(Frame(1, 0x7A).encode())
    (unknown,) = frames_of(pad, host, clock)
    assert unknown.data == b"\x01"
    clock.now += 1
    pad.feed(Frame(2, START_ENTRY, b"\x00\x04").encode())
    (bad,) = frames_of(pad, host, clock)
    assert bad.data == b"\x02"
    clock.now += 1
    pad.feed(Frame(3, STATUS_REQUEST).encode())
    (status,) = frames_of(pad, host, clock)
    assert status.data == bytes.fromhex("00 00 00 01 01")


def test_control_requests_show_counts_never_digits() -> None:
    pad = VirtualPinPad()
    assert handle_request(pad, {"cmd": "type", "digits": "12"}) == {
        "ok": False, "error": "type: no PIN entry is running", "status": pad.status()
    }  # fmt: skip
    pad.feed(Frame(1, START_ENTRY, EntryRequest(PAN, max_len=12).encode()).encode())
    reply = handle_request(pad, {"cmd": "type", "digits": "987"})
    assert reply["ok"] is True
    assert reply["status"] | {"commands": 0, "unacknowledged": 0} == {
        "entering": True, "digits": 3, "keys": [0], "master_key": True, "auto_pin": False, "fault": None,
        "fault_times": None, "commands": 0, "entries": 1, "unacknowledged": 0,
    }  # fmt: skip
    assert "987" not in json.dumps(reply)
    assert handle_request(pad, {"cmd": "backspace"})["status"]["digits"] == 2
    assert handle_request(pad, {"cmd": "clear"})["status"]["digits"] == 0
    assert handle_request(pad, {"cmd": "timeout"})["status"]["entering"] is False
    assert handle_request(pad, {"cmd": "auto", "pin": "123456"})["status"]["auto_pin"] is True
    assert handle_request(pad, {"cmd": "fault", "fault": "garble", "times": 2})["status"]["fault_times"] == 2
    assert handle_request(pad, {"cmd": "fault", "fault": "none"})["status"]["fault"] is None
    for bad, error in [
        ([], "JSON object"),
        ({"cmd": "eject"}, "unknown cmd"),
        ({"cmd": "type"}, "type needs"),
        ({"cmd": "type", "digits": "12a"}, "digits only"),
        ({"cmd": "auto", "pin": "12"}, "4 to 12 digits"),
        ({"cmd": "fault", "fault": "melt"}, "unknown fault"),
        ({"cmd": "fault", "fault": "mute", "times": 0}, "positive"),
        ({"cmd": "enter"}, "no PIN entry is running"),
    ]:
        reply = handle_request(pad, bad)
        assert reply["ok"] is False
        assert error in reply["error"]


def test_the_control_socket(tmp_path: Path) -> None:
    pad = VirtualPinPad()
    path = tmp_path / "pinpad.ctl"
    with ControlSocket(path, pad):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert send_control(path, {"cmd": "auto", "pin": "2468"})["ok"]
        assert pad.auto_pin == "2468"
        with pytest.raises(ControlError, match="another simulator"):
            ControlSocket(path, pad).start()
    assert not path.exists()


# -- the program ------------------------------------------------------------------------------------------


@pytest.fixture
def program(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.pinpad", "--link", str(tmp_path / "pinpad"), "--no-key"],
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
        [sys.executable, "-m", "simulators.pinpad", "ctl", "--control", control, *args],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_the_program_serves_a_pty_and_is_controlled(
    tmp_path: Path, program: tuple[subprocess.Popen[str], dict[str, str]]
) -> None:
    process, said = program
    link = tmp_path / "pinpad"
    assert said["link"] == str(link)
    assert os.readlink(link) == said["pty"]
    assert said["control"] == f"{link}.ctl"
    driver = SerialPinPad(str(link), timeout=1)
    try:
        assert driver.status().keys == frozenset()  # --no-key
        tpk = demo_bank_key("TPK")
        assert driver.load_working_key(demo_key_cryptogram(), check_value=key_check_value(tpk))
        result: list[PinEntry] = []
        reader = threading.Thread(target=lambda: result.append(driver.read_pin(PAN)), daemon=True)
        reader.start()
        for _ in range(50):
            if json.loads(ctl(said["control"], "status").stdout)["status"]["entering"]:
                break
        typed = ctl(said["control"], "type", "8642")
        assert typed.returncode == 0
        assert json.loads(typed.stdout)["status"]["digits"] == 4
        assert ctl(said["control"], "enter").returncode == 0
        reader.join(10)
        (entry,) = result
        assert entry.pin_block is not None
        assert pin_from_block_format_0(decrypt_ecb(BlockCipher.TDES, tpk, entry.pin_block), PAN) == "8642"
        refused = ctl(said["control"], "enter")
        assert refused.returncode == 1
        assert "no PIN entry is running" in refused.stdout
    finally:
        driver.close()
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    assert process.stdout is not None
    console = process.stdout.read()
    assert "key: added (4 digits)" in console
    assert "entry entered (4 digits)" in console
    assert "8642" not in console
    assert not link.exists()
    assert not Path(said["control"]).exists()


def test_auto_pin_for_unattended_demos() -> None:
    clock, host = Clock(), Link(peer="pad")
    pad = VirtualPinPad(clock=clock)
    pad.auto_pin = "123456"
    pad.feed(Frame(1, START_ENTRY, EntryRequest(PAN).encode()).encode())
    codes: list[int] = []
    for _ in range(20):
        clock.now += 0.01
        codes += [frame.code for frame in frames_of(pad, host, clock)]
    assert codes == [START_ENTRY] + [KEY] * 6 + [END]


def test_ctl_without_a_simulator(tmp_path: Path) -> None:
    result = ctl(str(tmp_path / "none.ctl"), "status")
    assert result.returncode == 1
    assert "no control socket" in result.stderr
