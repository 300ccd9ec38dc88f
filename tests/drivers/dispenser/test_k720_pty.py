"""The K720 driver against the virtual dispenser over a real pseudo-terminal (no pcscd: the machine runs
without a reader here): status, move, present, capture, reset, and the faults set through the
simulator's control socket — jam, empty stack, low stack, no answer."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cardservice import plugins
from cardservice.issuance import DispenserError
from drivers.dispenser import K720Dispenser, k720_dispenser
from drivers.dispenser._protocol import ACK, ENQ, NAK, control, encode_frame
from drivers.feeders import send_control
from simulators.dispenser import DispenserSimulator, VirtualDispenser
from simulators.dispenser.__main__ import main as simulator_main


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[DispenserSimulator]:
    with DispenserSimulator(
        tmp_path / "cards", 5, link=tmp_path / "ttyK720", control=tmp_path / "ctl.sock"
    ) as sim:
        yield sim


@pytest.fixture
def k720(sim: DispenserSimulator) -> Iterator[K720Dispenser]:
    dispenser = k720_dispenser(str(sim.line.link), timeout="0.3", poll="0.01", motion_timeout="2")
    yield dispenser
    dispenser.close()


def ctl(sim: DispenserSimulator, cmd: str, **fields: object) -> dict[str, object]:
    assert sim.control_path is not None
    reply = send_control(sim.control_path, {"cmd": cmd, **fields})
    assert reply["ok"], reply
    state = reply["dispenser"]
    assert isinstance(state, dict)
    return state


def expect(code: str, action: Callable[[], object]) -> DispenserError:
    with pytest.raises(DispenserError) as caught:
        action()
    assert caught.value.code == code, caught.value
    return caught.value


def test_the_entry_point_is_the_driver() -> None:
    assert plugins.load(plugins.DISPENSERS, "k720") is k720_dispenser


def test_move_present_capture_through_the_pty(sim: DispenserSimulator, k720: K720Dispenser) -> None:
    assert os.path.realpath(sim.line.link or "") == sim.line.path
    status = k720.status()
    assert not (status.stack_empty)
    assert not (status.stack_low)
    assert not (status.card_at_read_position)
    assert not (status.jam)
    k720.to_read_position()
    assert k720.status().card_at_read_position
    k720.to_read_position()  # already there: nothing moves
    assert ctl(sim, "dispenser")["stack"] == 4
    k720.present()
    state = ctl(sim, "dispenser")
    assert len(state["taken"]) == 1
    assert state["position"] is None
    k720.to_read_position()
    k720.capture()
    state = ctl(sim, "dispenser")
    assert [Path(p).name for p in state["reject_bin"]] == ["card-0002.json"]  # type: ignore[union-attr]
    assert not k720.status().card_at_read_position
    k720.reset()
    assert k720.status().raw == "0010"  # three cards left: at the low threshold (3)


def test_low_and_empty_stack_then_refill(sim: DispenserSimulator, k720: K720Dispenser) -> None:
    ctl(sim, "low", threshold=5)
    assert k720.status().stack_low
    ctl(sim, "empty", after=1)
    k720.to_read_position()
    k720.present()
    assert k720.status().stack_empty
    error = expect("dispenser_empty", k720.to_read_position)
    assert error.message_zh == "发卡机卡箱已空，请补充卡片"
    assert ctl(sim, "refill", count=2)["stack"] == 2
    k720.to_read_position()
    assert k720.status().card_at_read_position


@pytest.mark.parametrize("at", ["move", "present", "capture"])
def test_a_jam_stops_every_motion_until_reset(sim: DispenserSimulator, k720: K720Dispenser, at: str) -> None:
    ctl(sim, "jam", at=at, after=1)
    motion = {"move": k720.to_read_position, "present": k720.present, "capture": k720.capture}[at]
    k720.to_read_position()
    if at == "move":
        k720.present()  # the first move works, the second jams
    else:
        motion()  # the first present (capture) works, the second jams
        k720.to_read_position()
    expect("dispenser_jam", motion)
    assert k720.status().jam
    expect("dispenser_jam", k720.present)  # a jammed machine does nothing
    k720.reset()
    status = k720.status()
    assert not status.jam
    assert not status.faults
    assert status.card_at_read_position == (at != "move")  # a stuck card stays at the read position
    if at == "move":
        k720.to_read_position()
    motion() if at != "move" else k720.present()
    assert not k720.status().card_at_read_position


def test_no_answer_is_a_timeout_and_answers_resume(sim: DispenserSimulator, k720: K720Dispenser) -> None:
    ctl(sim, "timeout")
    error = expect("dispenser_timeout", k720.status)
    assert "no acknowledgement of status within 0.3 s" in str(error)
    ctl(sim, "answer")
    assert not k720.status().jam
    ctl(sim, "timeout", after=4)  # status, then the move acknowledged and done; the polls go unanswered
    expect("dispenser_timeout", k720.to_read_position)
    ctl(sim, "answer")
    assert k720.status().card_at_read_position


def test_the_device_side_nak_and_addresses(tmp_path: Path) -> None:
    machine = VirtualDispenser(tmp_path / "cards", 1, address=3)
    assert machine.receive(encode_frame(3, b"ZZ")) == control(NAK, 3)  # no such command
    assert machine.receive(bytes.fromhex("02 30 33 00 02 41 50 03 00")) == control(NAK, 3)  # BCC
    assert machine.receive(encode_frame(0, b"AP") + control(ENQ, 0)) == b""  # another device's
    assert machine.receive(control(ENQ, 3)) == b""  # nothing acknowledged: nothing to do
    answer = machine.receive(encode_frame(3, b"AP") + control(ENQ, 3))
    assert answer == control(ACK, 3) + encode_frame(3, b"SF0010")
    with pytest.raises(ValueError, match="already holds card images"):
        VirtualDispenser(tmp_path / "cards", 1)


class _Port:
    """A port whose device answers *reply* to everything."""

    def __init__(self, reply: bytes) -> None:
        self.reply, self.pending = reply, b""

    def write(self, data: bytes) -> int:
        self.pending = self.reply
        return len(data)

    def read(self, size: int) -> bytes:
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def reset_input_buffer(self) -> None:
        self.pending = b""

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("reply", "says"),
    [(control(NAK, 0), "answered NAK"), (b"\x06\x30\x31", "06 30 31 is no ACK"), (b"\x06\x30", "got 06 30")],
)
def test_the_driver_names_what_went_wrong(reply: bytes, says: str) -> None:
    with pytest.raises(DispenserError, match=says):
        K720Dispenser(_Port(reply), reply_timeout=0.01).status()


def test_options_and_devices() -> None:
    with pytest.raises(ValueError, match="unknown option"):
        k720_dispenser("/dev/null", speed="fast")
    with pytest.raises(ValueError, match="not a number"):
        k720_dispenser("/dev/null", poll="soon")
    with pytest.raises(ValueError, match=r"0\.\.15"):
        k720_dispenser("/dev/null", address="16")
    with pytest.raises(ValueError, match="serial device"):
        k720_dispenser("")
    expect("dispenser_fault", lambda: k720_dispenser("/nonexistent/ttyUSB9"))


def test_the_control_socket_and_its_command(
    sim: DispenserSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sim.control_path is not None
    reply = send_control(sim.control_path, {"cmd": "status"})
    assert reply["ok"]
    assert reply["slots"] == {}
    assert reply["dispenser"]["stack"] == 5
    refused = send_control(sim.control_path, {"cmd": "jam", "at": "door"})
    assert not refused["ok"]
    assert "move, present, capture" in refused["error"]
    refused = send_control(sim.control_path, {"cmd": "refill", "count": -1})
    assert not refused["ok"]
    assert not send_control(sim.control_path, {"cmd": "tear"})["ok"]  # card-sim's: no card slot here
    assert simulator_main(["ctl", "--control", str(sim.control_path), "dud", "after=2"]) == 0
    assert '"ok": true' in capsys.readouterr().out
    assert simulator_main(["ctl", "--control", str(sim.control_path), "jam", "at=door"]) == 1
