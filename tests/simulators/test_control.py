"""The control socket: JSON lines over a Unix socket, mode 0600 in a 0700 directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.cardos import CardOS, create_image, load_card
from simulators.control import (
    ControlError,
    ControlServer,
    default_control_path,
    handle_request,
    send_control,
)
from simulators.vpcd import VpcdBridge
from tests.conftest import unhex
from tests.simulators.test_vpcd import WAIT, FakeVpcd, make_card_image, power_up


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short private directory: AF_UNIX paths are limited to 107 bytes, pytest's tmp paths can be long."""
    directory = Path(tempfile.mkdtemp(prefix="cs-", dir="/tmp"))
    yield directory
    shutil.rmtree(directory)


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


@pytest.fixture
def card(tmp_path: Path) -> CardOS:
    return load_card(make_card_image(tmp_path / "card.json"))


@pytest.fixture
def slots(card: CardOS, vpcd: FakeVpcd) -> Iterator[dict[str, VpcdBridge]]:
    """A card slot connected to the fake vpcd and a SAM slot that is never started (no vpcd)."""
    bridge = VpcdBridge(card, "127.0.0.1", vpcd.port, name="card")
    bridge.swap_gap = 0.05
    sam = VpcdBridge(None, "127.0.0.1", 1, name="sam")
    bridge.start()
    yield {"card": bridge, "sam": sam}
    bridge.stop()
    sam.stop()


@pytest.fixture
def server(short_tmp: Path, slots: dict[str, VpcdBridge]) -> Iterator[ControlServer]:
    with ControlServer(short_tmp / "ctl" / "40000.sock", slots) as control:
        yield control


def test_default_path_prefers_xdg_runtime_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert default_control_path(40000) == Path("/run/user/1000/card-sim/40000.sock")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert default_control_path(40002) == Path(f"/tmp/card-sim-{os.getuid()}/40002.sock")


def test_socket_is_private(server: ControlServer) -> None:
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(server.path.parent).st_mode) == 0o700
    assert stat.S_ISSOCK(os.stat(server.path).st_mode)


def test_close_removes_the_socket(short_tmp: Path, slots: dict[str, VpcdBridge]) -> None:
    control = ControlServer(short_tmp / "c.sock", slots)
    control.start()
    assert control.path.exists()
    control.close()
    assert not control.path.exists()
    with pytest.raises(ControlError, match="no card simulator is running"):
        send_control(control.path, {"cmd": "status"})


def test_status_of_all_slots(server: ControlServer, vpcd: FakeVpcd, slots: dict[str, VpcdBridge]) -> None:
    assert slots["card"].wait_connected(WAIT)
    reply = send_control(server.path, {"cmd": "status"})
    assert reply["ok"] is True
    assert set(reply["slots"]) == {"card", "sam"}
    assert reply["slots"]["card"]["serial"] == "C51D000000004201"
    assert reply["slots"]["card"]["connected"] is True
    assert reply["slots"]["sam"]["inserted"] is False


def test_remove_and_insert(server: ControlServer, vpcd: FakeVpcd, slots: dict[str, VpcdBridge]) -> None:
    conn = vpcd.accept()
    assert conn is not None
    with conn:
        reply = send_control(server.path, {"cmd": "remove", "slot": "card"})
        assert reply["ok"] is True
        assert reply["status"]["inserted"] is False
        assert vpcd.closed_by_peer(conn)
    reply = send_control(server.path, {"cmd": "insert"})
    assert reply == {"ok": True, "slot": "card", "status": reply["status"]}
    again = vpcd.accept()
    assert again is not None
    again.close()


def test_tear_latency_mute_through_the_socket(
    server: ControlServer, vpcd: FakeVpcd, slots: dict[str, VpcdBridge]
) -> None:
    assert send_control(server.path, {"cmd": "latency", "ms": 25})["status"]["latency_ms"] == 25
    assert send_control(server.path, {"cmd": "mute"})["status"]["muted"] is True
    assert send_control(server.path, {"cmd": "unmute"})["status"]["muted"] is False
    assert send_control(server.path, {"cmd": "tear", "after_commands": 1, "after_writes": 0})["ok"] is True
    conn = vpcd.accept()
    assert conn is not None
    with conn:
        power_up(vpcd, conn)
        assert vpcd.transmit(conn, unhex("00 A4 00 00 02 3F 00"))[-2:] == unhex("90 00")  # command 0
        vpcd.send(conn, unhex("00 A4 00 00 02 3F 00"))  # command 1: torn
        assert vpcd.closed_by_peer(conn)


def test_swap_to_another_image(
    server: ControlServer, vpcd: FakeVpcd, slots: dict[str, VpcdBridge], tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    create_image(other, serial=unhex("01 02 03 04 05 06 07 08"))
    reply = send_control(server.path, {"cmd": "swap", "image": str(other)})
    assert reply["ok"] is True
    assert reply["status"]["serial"] == "0102030405060708"
    assert reply["status"]["image"] == str(other)


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        ({"cmd": "explode"}, "unknown cmd 'explode'"),
        ({"slot": "card"}, "unknown cmd None"),
        ({"cmd": "insert", "slot": "printer"}, "unknown slot 'printer'"),
        ({"cmd": "swap"}, 'swap needs "image"'),
        ({"cmd": "swap", "image": "/nonexistent/card.json"}, "No such file"),
        ({"cmd": "tear", "after_commands": -1}, "'after_commands' must be a non-negative integer"),
        ({"cmd": "tear", "after_writes": "2"}, "'after_writes' must be a non-negative integer"),
        ({"cmd": "latency"}, 'latency needs "ms"'),
        ({"cmd": "latency", "ms": True}, 'latency needs "ms"'),
        ({"cmd": "tear", "slot": "sam"}, "no fault injector"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_requests_are_refused(slots: dict[str, VpcdBridge], request_: object, error: str) -> None:
    reply = handle_request(slots, request_)
    assert reply["ok"] is False
    assert error in reply["error"]


def test_malformed_json_keeps_the_connection(server: ControlServer) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(WAIT)
        client.connect(os.fspath(server.path))
        reader = client.makefile("rb")
        client.sendall(b"{not json\n")
        first = json.loads(reader.readline())
        assert first["ok"] is False
        assert first["error"].startswith("malformed JSON")
        client.sendall(b'{"cmd": "nope"}\n{"cmd": "status", "slot": "card"}\n')
        assert json.loads(reader.readline())["ok"] is False
        second = json.loads(reader.readline())
        assert second["ok"] is True
        assert second["slot"] == "card"
        reader.close()


def test_a_live_socket_is_not_stolen(server: ControlServer, slots: dict[str, VpcdBridge]) -> None:
    with pytest.raises(ControlError, match="already running"):
        ControlServer(server.path, slots).start()
    assert send_control(server.path, {"cmd": "status"})["ok"] is True


def test_a_stale_socket_is_replaced(short_tmp: Path, slots: dict[str, VpcdBridge]) -> None:
    path = short_tmp / "stale.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(os.fspath(path))
    stale.close()  # the file stays, nobody listens: a simulator that was killed
    with ControlServer(path, slots):
        assert send_control(path, {"cmd": "status"})["ok"] is True


def test_strict_mode_refuses_an_open_directory(short_tmp: Path, slots: dict[str, VpcdBridge]) -> None:
    open_dir = short_tmp / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    with pytest.raises(ControlError, match="accessible to other users"):
        ControlServer(open_dir / "x.sock", slots, strict=True).start()


def test_not_a_simulator_reply(short_tmp: Path) -> None:
    path = short_tmp / "fake.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(os.fspath(path))
        listener.listen(1)

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"hello\n")

        thread = threading.Thread(target=answer)
        thread.start()
        with pytest.raises(ControlError, match="no valid reply"):
            send_control(path, {"cmd": "status"})
        thread.join(WAIT)
