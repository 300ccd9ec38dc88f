"""The link rules (cardservice.pinpad._link) with a clock of our own: ACK, NAK and silence, resends then a
clear error, stop-and-wait, duplicates of a lost ACK, frames cut short, a noisy line; and two links over a
lossy line delivering each frame once, in order."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.pinpad import Ack, Frame, Link, Nak, PinPadBadFrame, PinPadError, PinPadNoAnswer


def pair() -> tuple[Link, Link]:
    return Link(peer="pad", first_seq=0x10), Link(peer="host", first_seq=0x80)


def test_a_frame_and_its_ack() -> None:
    host, pad = pair()
    sent = host.send(0x53)
    wire = host.transmit(0.0)
    assert wire == Frame(0x10, 0x53).encode() == sent.encode()
    assert not host.idle
    assert pad.receive(wire, 0.0) == [Frame(0x10, 0x53)]
    assert pad.transmit(0.0) == Ack(0x10).encode()
    assert host.receive(Ack(0x10).encode(), 0.01) == []
    assert host.idle
    assert host.transmit(5.0) == b""  # acknowledged: never sent again


def test_a_response_takes_the_commands_seq() -> None:
    _, pad = pair()
    assert pad.send(0x53, b"\x00", seq=0x10).seq == 0x10
    assert pad.send(0x6B, b"\x01\x01").seq == 0x80  # events count on from the pad's own number


def test_a_nak_resends_at_once_the_same_bytes() -> None:
    host, _ = pair()
    host.send(0x53)
    first = host.transmit(0.0)
    host.receive(Nak().encode(), 0.01)
    assert host.transmit(0.01) == first


def test_silence_resends_after_the_ack_timeout_then_fails_clearly() -> None:
    host, _ = pair()
    host.send(0x53)
    first = host.transmit(0.0)
    assert host.transmit(0.29) == b""
    assert host.transmit(0.3) == first
    assert host.transmit(0.6) == first
    assert host.transmit(0.9) == first  # 1 send + 3 resends
    with pytest.raises(PinPadNoAnswer, match="did not acknowledge frame 53, sent 4 times") as raised:
        host.transmit(1.25)
    assert raised.value.code == "pinpad_timeout"
    assert raised.value.details == {"code": "53", "sends": 4, "naks": 0}
    assert host.idle  # dropped: the link goes on with the next frame
    host.send(0x56)
    assert host.transmit(1.3) == Frame(0x11, 0x56).encode()


def test_refused_frames_are_a_protocol_error() -> None:
    host, _ = pair()
    host.send(0x53)
    host.transmit(0.0)
    for _ in range(3):
        host.receive(Nak().encode(), 0.0)
        assert host.transmit(0.0)
    host.receive(Nak().encode(), 0.0)
    with pytest.raises(PinPadBadFrame, match=r"refused frame 53 \(NAK\) 4 of 4 times") as raised:
        host.transmit(0.0)
    assert raised.value.code == "pinpad_protocol"


def test_stop_and_wait() -> None:
    host, _ = pair()
    host.send(0x53)
    host.send(0x56)
    assert host.transmit(0.0) == Frame(0x10, 0x53).encode()
    assert host.transmit(0.1) == b""
    host.receive(Ack(0x11).encode(), 0.1)  # an ACK of another frame acknowledges nothing
    assert host.transmit(0.1) == b""
    host.receive(Ack(0x10).encode(), 0.1)
    assert host.transmit(0.1) == Frame(0x11, 0x56).encode()


def test_a_resend_whose_ack_was_lost_is_acked_again_but_delivered_once() -> None:
    host, pad = pair()
    host.send(0x50, b"entry")
    wire = host.transmit(0.0)
    assert len(pad.receive(wire, 0.0)) == 1
    pad.transmit(0.0)  # the ACK, lost on the line
    resent = host.transmit(0.3)
    assert resent == wire
    assert pad.receive(resent, 0.3) == []
    assert pad.transmit(0.3) == Ack(0x10).encode()
    assert pad.receive(wire, 5.0) == [Frame(0x10, 0x50, b"entry")]  # long after: a new frame


def test_the_same_bytes_under_a_new_seq_are_a_new_frame() -> None:
    pad = Link(peer="host")
    assert pad.receive(Frame(1, 0x6B, b"\x03\x00").encode(), 0.0)
    assert pad.receive(Frame(2, 0x6B, b"\x03\x00").encode(), 0.0)  # "cleared" pressed twice


def test_a_frame_cut_short_is_naked_after_the_frame_timeout() -> None:
    _, pad = pair()
    pad.receive(Frame(0x10, 0x53).encode()[:4], 0.0)
    assert pad.transmit(0.2) == b""
    assert pad.transmit(0.3) == Nak().encode()
    assert pad.receive(Frame(0x10, 0x53).encode(), 0.4) == [Frame(0x10, 0x53)]


def test_a_noisy_line_fails_after_the_retries_and_a_good_frame_resets_the_count() -> None:
    host, _ = pair()
    broken = bytearray(Frame(0x80, 0x6B, b"\x01\x01").encode())
    broken[-1] ^= 1
    for _ in range(3):
        assert host.receive(bytes(broken), 0.0) == []
    assert host.transmit(0.0) == Nak().encode() * 3
    host.receive(Frame(0x80, 0x6B, b"\x01\x01").encode(), 0.0)
    for _ in range(3):
        host.receive(bytes(broken), 0.0)
    with pytest.raises(PinPadBadFrame, match="4 broken frames in a row from the pad") as raised:
        host.receive(bytes(broken), 0.0)
    assert raised.value.details == {"problem": "crc", "frames": 4}
    assert host.transmit(0.0).endswith(Nak().encode())  # still owed after the error


def test_reset_forgets_everything() -> None:
    host, _ = pair()
    host.send(0x53)
    host.transmit(0.0)
    host.receive(b"\x02\x00", 0.0)
    host.reset()
    assert host.idle
    assert host.transmit(1.0) == b""


# -- two ends over a lossy line ---------------------------------------------------------------------------


@given(
    st.lists(st.binary(max_size=12), min_size=1, max_size=6),
    st.lists(st.sampled_from(["pass", "pass", "pass", "drop", "flip"]), max_size=60),
)
def test_frames_cross_a_lossy_line_once_and_in_order(payloads: list[bytes], line: list[str]) -> None:
    host, pad = pair()
    for payload in payloads:
        host.send(0x10, payload)
    fate = iter(line)
    delivered: list[bytes] = []
    failed = False
    now = 0.0

    def carry(data: bytes) -> bytes:
        what = next(fate, "pass") if data else "pass"
        if what == "drop":
            return b""
        if what == "flip":
            return data[:-1] + bytes([data[-1] ^ 0x5A])
        return data

    try:
        for _ in range(400):
            now += 0.1
            delivered += [frame.data for frame in pad.receive(carry(host.transmit(now)), now)]
            host.receive(carry(pad.transmit(now)), now)
            if host.idle and pad.idle and len(delivered) == len(payloads):
                break
    except PinPadError:
        failed = True  # too much lost in a row: a clear error, never a duplicate
    it = iter(payloads)
    assert all(any(got == sent for sent in it) for got in delivered)  # in order, a subsequence
    if not failed:
        assert delivered == payloads
