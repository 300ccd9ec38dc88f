"""The vpcd bridge against a fake vpcd: a TCP server in the test speaking vpcd's framing.

The bridge is the client, like the virtual card of vsmartcard; the fake plays pcscd's vpcd driver:
2-byte big-endian length ‖ payload, control bytes 00/01/02/04, APDUs answered data ‖ SW.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.cardos import CardImage, CardOS, DfSpec, EfSpec, create_image, load_card
from simulators.vpcd import VpcdBridge, decode_frames, encode_frame
from tests.conftest import unhex

WAIT = 5.0  # every wait is bounded; a healthy run takes milliseconds
SERIAL = unhex("C5 1D 00 00 00 00 42 01")
SELECT_MF = unhex("00 A4 00 00 02 3F 00")
SELECT_EF1 = unhex("00 A4 00 00 02 00 01")
READ_8 = unhex("00 B0 00 00 08")
UPDATE_NEW = unhex("00 D6 00 00 08") + b"NEW DATA"


class FakeVpcd:
    """vpcd's side of one reader slot: listens, accepts the card, exchanges framed messages."""

    def __init__(self, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.port: int = self.server.getsockname()[1]

    def accept(self, timeout: float = WAIT) -> socket.socket | None:
        readable, _, _ = select.select([self.server], [], [], timeout)
        if not readable:
            return None
        conn, _ = self.server.accept()
        conn.settimeout(timeout)
        return conn

    def close(self) -> None:
        self.server.close()

    @staticmethod
    def send(conn: socket.socket, payload: bytes, *, bytewise: bool = False) -> None:
        if not bytewise:
            # As vpcd does: length and payload in two writes.
            conn.sendall(len(payload).to_bytes(2, "big"))
            conn.sendall(payload)
            return
        for byte in encode_frame(payload):
            conn.sendall(bytes([byte]))
            time.sleep(0.001)

    @staticmethod
    def receive(conn: socket.socket, timeout: float = WAIT) -> bytes | None:
        """One framed reply, or None when nothing arrives within *timeout* (raises on close)."""
        conn.settimeout(timeout)
        try:
            header = _read_exactly(conn, 2)
        except TimeoutError:
            return None
        return _read_exactly(conn, int.from_bytes(header, "big"))

    def transmit(self, conn: socket.socket, apdu: bytes, *, bytewise: bool = False) -> bytes:
        self.send(conn, apdu, bytewise=bytewise)
        reply = self.receive(conn)
        assert reply is not None, "the card did not answer"
        return reply

    @staticmethod
    def closed_by_peer(conn: socket.socket, timeout: float = WAIT) -> bool:
        conn.settimeout(timeout)
        try:
            return conn.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the card closed the connection")
        data += chunk
    return data


def power_up(vpcd: FakeVpcd, conn: socket.socket) -> bytes:
    """What vpcd does on insertion: power on (no reply), then ask for the ATR."""
    vpcd.send(conn, b"\x01")
    vpcd.send(conn, b"\x04")
    atr = vpcd.receive(conn)
    assert atr is not None
    return atr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def make_card_image(path: Path, serial: bytes = SERIAL) -> Path:
    """MF with a free transparent EF 0001 holding "old data"."""
    mf = DfSpec(fid=0x3F00, children=(EfSpec(0x0001, size=16, sfi=1, content=b"old data"),))
    CardImage.build(mf, serial=serial, profile="blank").save(path)
    return path


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


@pytest.fixture
def card(tmp_path: Path) -> CardOS:
    return load_card(make_card_image(tmp_path / "card.json"))


@pytest.fixture
def bridge(card: CardOS, vpcd: FakeVpcd) -> Iterator[VpcdBridge]:
    bridge = VpcdBridge(card, "127.0.0.1", vpcd.port, reinsert_delay=0.1)
    bridge.swap_gap = 0.1
    bridge.start()
    yield bridge
    bridge.stop()


@pytest.fixture
def conn(bridge: VpcdBridge, vpcd: FakeVpcd) -> Iterator[socket.socket]:
    connection = vpcd.accept()
    assert connection is not None, "the bridge never connected"
    yield connection
    connection.close()


# -- framing ------------------------------------------------------------------------------------------


def test_encode_frame_is_length_then_payload() -> None:
    assert encode_frame(SELECT_MF) == unhex("00 07 00 A4 00 00 02 3F 00")
    with pytest.raises(ValueError, match=r"1\.\.65535"):
        encode_frame(b"")


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=5), st.integers(min_value=1, max_value=7))
def test_decode_frames_reassembles_any_split(payloads: list[bytes], piece: int) -> None:
    """However TCP cuts the stream, the same messages come out, in order."""
    stream = b"".join(encode_frame(p) for p in payloads)
    buffer = bytearray()
    out: list[bytes] = []
    for start in range(0, len(stream), piece):
        buffer += stream[start : start + piece]
        out += decode_frames(buffer)
    assert out == payloads
    assert buffer == b""


def test_decode_frames_rejects_length_zero() -> None:
    with pytest.raises(ValueError, match="length 0"):
        decode_frames(bytearray(unhex("00 00 01")))


def test_power_on_atr_and_select(vpcd: FakeVpcd, conn: socket.socket, card: CardOS) -> None:
    atr = power_up(vpcd, conn)
    assert atr == card.atr
    assert atr.endswith(SERIAL + atr[-1:])  # the historical bytes end with the serial, then TCK
    assert vpcd.transmit(conn, SELECT_MF)[-2:] == unhex("90 00")


def test_message_sent_byte_by_byte(vpcd: FakeVpcd, conn: socket.socket) -> None:
    vpcd.send(conn, b"\x04", bytewise=True)
    assert vpcd.receive(conn) is not None
    reply = vpcd.transmit(conn, SELECT_EF1, bytewise=True)
    assert reply == unhex("90 00")
    assert vpcd.transmit(conn, READ_8, bytewise=True) == b"old data" + unhex("90 00")


def test_control_bytes(vpcd: FakeVpcd, conn: socket.socket, card: CardOS) -> None:
    power_up(vpcd, conn)
    vpcd.transmit(conn, SELECT_EF1)
    vpcd.send(conn, b"\x02")  # warm reset: no reply, current file back to the MF
    assert vpcd.receive(conn, timeout=0.1) is None
    assert vpcd.transmit(conn, READ_8) == unhex("69 86")  # no current EF after the reset
    vpcd.send(conn, b"\x00")  # power off: no reply
    assert vpcd.receive(conn, timeout=0.1) is None
    assert not card.powered
    vpcd.send(conn, b"\x04")  # the presence check answers the ATR without resetting anything
    assert vpcd.receive(conn) == card.atr


def test_atr_request_does_not_reset_the_card(vpcd: FakeVpcd, conn: socket.socket) -> None:
    """vpcd asks for the ATR at every pcscd poll: the selected file must survive it."""
    power_up(vpcd, conn)
    vpcd.transmit(conn, SELECT_EF1)
    vpcd.send(conn, b"\x04")
    assert vpcd.receive(conn) is not None
    assert vpcd.transmit(conn, READ_8) == b"old data" + unhex("90 00")


def test_nodelay_is_set(bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket) -> None:
    power_up(vpcd, conn)
    status = bridge.status()
    assert status["connected"] is True
    assert status["tcp_nodelay"] is True


# -- insertion, removal, swap ---------------------------------------------------------------------------


def test_remove_closes_and_insert_reconnects(bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket) -> None:
    power_up(vpcd, conn)
    bridge.remove()
    assert vpcd.closed_by_peer(conn)
    assert bridge.wait_disconnected(WAIT)
    assert vpcd.accept(timeout=0.2) is None  # stays out
    assert bridge.status()["inserted"] is False
    bridge.insert()
    again = vpcd.accept()
    assert again is not None
    with again:
        power_up(vpcd, again)
        assert vpcd.transmit(again, SELECT_MF)[-2:] == unhex("90 00")
    assert bridge.status()["inserted"] is True


def test_removal_clears_volatile_state(bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket) -> None:
    power_up(vpcd, conn)
    vpcd.transmit(conn, SELECT_EF1)
    bridge.remove()
    assert vpcd.closed_by_peer(conn)
    bridge.insert()
    again = vpcd.accept()
    assert again is not None
    with again:
        power_up(vpcd, again)
        assert vpcd.transmit(again, READ_8) == unhex("69 86")


def test_swap_inserts_the_other_card(
    bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket, tmp_path: Path
) -> None:
    power_up(vpcd, conn)
    other_serial = unhex("00 11 22 33 44 55 66 77")
    create_image(tmp_path / "other.json", serial=other_serial)
    other = load_card(tmp_path / "other.json")
    bridge.swap(other)
    assert vpcd.closed_by_peer(conn)
    again = vpcd.accept()
    assert again is not None
    with again:
        assert power_up(vpcd, again) == other.atr
        assert vpcd.transmit(again, SELECT_EF1) == unhex("6A 82")  # the blank card has no EF 0001
    assert bridge.status()["serial"] == "0011223344556677"


def test_bridge_without_card_stays_out(vpcd: FakeVpcd, card: CardOS) -> None:
    with VpcdBridge(None, "127.0.0.1", vpcd.port) as bridge:
        assert vpcd.accept(timeout=0.3) is None
        assert bridge.status()["inserted"] is False
        bridge.swap(card)
        conn = vpcd.accept()
        assert conn is not None
        with conn:
            assert power_up(vpcd, conn) == card.atr


# -- faults -----------------------------------------------------------------------------------------


def test_latency_delays_apdu_replies(bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket) -> None:
    power_up(vpcd, conn)
    bridge.set_latency(150)
    started = time.monotonic()
    assert vpcd.transmit(conn, SELECT_MF)[-2:] == unhex("90 00")
    assert time.monotonic() - started >= 0.15
    assert bridge.status()["latency_ms"] == 150
    bridge.set_latency(0)
    with pytest.raises(ValueError, match="negative"):
        bridge.set_latency(-1)


def test_mute_holds_the_command_until_unmute(bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket) -> None:
    power_up(vpcd, conn)
    bridge.mute()
    vpcd.send(conn, SELECT_EF1)
    assert vpcd.receive(conn, timeout=0.3) is None
    assert bridge.status()["muted"] is True
    vpcd.send(conn, b"\x04")  # control bytes are still answered
    assert vpcd.receive(conn) is not None
    bridge.unmute()
    assert vpcd.receive(conn) == unhex("90 00")  # the held SELECT, answered late
    assert vpcd.transmit(conn, READ_8) == b"old data" + unhex("90 00")


def test_mute_timeout_pulls_the_card_until_unmute(
    bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket
) -> None:
    """A real reader gives up on a mute card; with a timeout the bridge does the same (no endless hang)."""
    power_up(vpcd, conn)
    bridge.mute(timeout=0.3)
    start = time.monotonic()
    vpcd.send(conn, SELECT_EF1)
    assert vpcd.closed_by_peer(conn, timeout=3)  # no answer, then the card is pulled
    assert 0.25 <= time.monotonic() - start < 2.5
    assert vpcd.accept(timeout=0.5) is None  # and stays out while muted
    assert bridge.status()["inserted"] is False
    bridge.unmute()
    again = vpcd.accept()
    assert again is not None
    try:
        power_up(vpcd, again)
        assert vpcd.transmit(again, READ_8)[-2:] == unhex("69 86")  # fresh power-up: no EF selected
        assert bridge.status()["apdus"] == 1  # the timed-out command was never executed
    finally:
        again.close()


def test_mute_timeout_must_be_positive(bridge: VpcdBridge) -> None:
    with pytest.raises(ValueError, match="positive"):
        bridge.mute(timeout=0)


def test_remove_while_muted_drops_the_command(
    bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket
) -> None:
    power_up(vpcd, conn)
    bridge.mute()
    vpcd.send(conn, SELECT_MF)
    assert vpcd.receive(conn, timeout=0.2) is None
    bridge.remove()
    assert vpcd.closed_by_peer(conn)  # no reply ever came: vpcd's transmit fails, the card is gone
    assert bridge.status()["apdus"] == 0


def test_tear_pulls_the_card_and_data_stays_old(
    bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket, tmp_path: Path
) -> None:
    power_up(vpcd, conn)
    vpcd.transmit(conn, SELECT_EF1)
    bridge.tear(after_commands=0, after_nvm_writes=2)
    vpcd.send(conn, UPDATE_NEW)
    assert vpcd.closed_by_peer(conn)  # no reply: power was cut mid-command
    again = vpcd.accept()  # re-inserted after reinsert_delay
    assert again is not None
    with again:
        power_up(vpcd, again)
        vpcd.transmit(again, SELECT_EF1)
        assert vpcd.transmit(again, READ_8) == b"old data" + unhex("90 00")
    reloaded = load_card(tmp_path / "card.json")
    reloaded.power_on()
    assert reloaded.process(unhex("00 B0 81 00 08")) == b"old data" + unhex("90 00")


def test_tear_without_reinsert_stays_out(vpcd: FakeVpcd, card: CardOS) -> None:
    with VpcdBridge(card, "127.0.0.1", vpcd.port, reinsert_delay=None) as bridge:
        conn = vpcd.accept()
        assert conn is not None
        power_up(vpcd, conn)
        bridge.tear()
        vpcd.send(conn, SELECT_MF)
        assert vpcd.closed_by_peer(conn)
        assert vpcd.accept(timeout=0.3) is None
        bridge.insert()
        again = vpcd.accept()
        assert again is not None
        again.close()
        conn.close()


def test_tear_needs_a_fault_injector(vpcd: FakeVpcd) -> None:
    class Plain:
        def power_on(self) -> bytes:
            return unhex("3B 00")

        def power_off(self) -> None:
            pass

        def reset(self) -> bytes:
            return unhex("3B 00")

        def process(self, apdu: bytes) -> bytes:
            return unhex("90 00")

    bridge = VpcdBridge(Plain(), "127.0.0.1", vpcd.port)
    with pytest.raises(ValueError, match="no fault injector"):
        bridge.tear()
    bridge.stop()


# -- robustness -----------------------------------------------------------------------------------------


def test_connects_when_vpcd_starts_late(card: CardOS, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    events: list[str] = []
    with VpcdBridge(card, "127.0.0.1", port, on_event=events.append) as bridge:
        time.sleep(0.35)  # several connection attempts fail meanwhile
        late = FakeVpcd(port)
        try:
            assert bridge.wait_connected(WAIT)
            conn = late.accept()
            assert conn is not None
            with conn:
                assert power_up(late, conn) == card.atr
        finally:
            late.close()
    not_reachable = [e for e in events if "not reachable" in e]
    assert len(not_reachable) == 1  # logged once per outage, not per attempt
    assert any(
        e.startswith(f"card inserted in vpcd 127.0.0.1:{port} (serial C51D000000004201)") for e in events
    )


def test_reconnects_after_vpcd_drops_the_connection(
    bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket
) -> None:
    """pcscd restarted: the connection ends from vpcd's side; the card comes back by itself."""
    power_up(vpcd, conn)
    conn.close()
    again = vpcd.accept()
    assert again is not None
    with again:
        assert vpcd.transmit(again, SELECT_MF)[-2:] == unhex("90 00")


def test_malformed_length_reconnects(bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket) -> None:
    conn.sendall(unhex("00 00"))
    assert vpcd.closed_by_peer(conn)
    again = vpcd.accept()
    assert again is not None
    with again:
        assert vpcd.transmit(again, SELECT_MF)[-2:] == unhex("90 00")
    assert bridge.status()["connected"] is True


def test_status_reports_the_slot(
    bridge: VpcdBridge, vpcd: FakeVpcd, conn: socket.socket, card: CardOS
) -> None:
    power_up(vpcd, conn)
    vpcd.transmit(conn, SELECT_MF)
    vpcd.transmit(conn, SELECT_EF1)
    status = bridge.status()
    assert status == {
        "slot": "card",
        "vpcd": f"127.0.0.1:{vpcd.port}",
        "inserted": True,
        "connected": True,
        "muted": False,
        "latency_ms": 0,
        "apdus": 2,
        "serial": "C51D000000004201",
        "image": card.image_path,
        "tcp_nodelay": True,
    }


def test_stop_pulls_the_card(card: CardOS, vpcd: FakeVpcd) -> None:
    bridge = VpcdBridge(card, "127.0.0.1", vpcd.port)
    bridge.start()
    conn = vpcd.accept()
    assert conn is not None
    with conn:
        bridge.stop()
        assert vpcd.closed_by_peer(conn)
    bridge.stop()  # idempotent
    with pytest.raises(RuntimeError, match="already started"):
        bridge.start()
