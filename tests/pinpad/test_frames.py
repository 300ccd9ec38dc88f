"""The PIN pad's frame (cardservice.pinpad._frames): the CRC against an independent bitwise CRC-16/CCITT-FALSE
and its published check value, frames checked byte by byte, the parser (ACK/NAK, noise, split input, broken
frames dropped whole), and properties over any bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.pinpad import (
    MAX_DATA,
    Ack,
    BadFrame,
    EntryRequest,
    Frame,
    FrameParser,
    Nak,
    Token,
    crc16,
)


def unhex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


def bitwise_crc(data: bytes) -> int:
    """CRC-16/CCITT-FALSE the slow way: polynomial 0x1021, initial 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


STATUS_FRAME = unhex("02 00 01 53 03 D8 7F")  # SEQ 00, LEN 01, CODE 'S', ETX, CRC
START_FRAME = unhex("02 07 12 50 00 04 06 1E 36 32 32 38 30 30 30 31 30 30 30 30 31 03 22 04")
END_FRAME = unhex("02 2A 0B 65 01 06 01 02 03 04 05 06 07 08 03 79 76")


def test_the_crc_is_ccitt_false() -> None:
    assert crc16(b"123456789") == 0x29B1  # the catalogue's check value
    for sample in (b"", b"\x00\x01\x53\x03", START_FRAME[1:-2], bytes(range(256))):
        assert crc16(sample) == bitwise_crc(sample)


def test_frames_byte_by_byte() -> None:
    assert Frame(0, 0x53).encode() == STATUS_FRAME
    assert bitwise_crc(unhex("00 01 53 03")) == 0xD87F
    start = Frame(7, 0x50, EntryRequest("6228000100001", 4, 6, 30, 0).encode())
    assert start.encode() == START_FRAME  # slot 0, 4..6 digits, 30 s (1E), the PAN in ASCII
    assert bitwise_crc(START_FRAME[1:-2]) == 0x2204
    assert Frame(0x2A, 0x65, unhex("01 06 0102030405060708")).encode() == END_FRAME
    assert Ack(0x2A).encode() == b"\x06\x2a"
    assert Nak().encode() == b"\x15"


def test_a_frame_repr_never_shows_its_data() -> None:
    frame = Frame(0x2A, 0x65, unhex("01 06 0102030405060708"))
    assert repr(frame) == "Frame(seq 2A, code 65, 10 data bytes)"


def test_frame_bounds() -> None:
    Frame(0xFF, 0xFF, bytes(MAX_DATA))
    for seq, code, data in ((256, 0, b""), (0, -1, b""), (0, 0, bytes(MAX_DATA + 1))):
        with pytest.raises(ValueError, match="one byte"):
            Frame(seq, code, data)


def test_the_parser_sorts_frames_and_link_bytes() -> None:
    stream = b"\x06\x2a" + STATUS_FRAME + b"\x15" + END_FRAME
    assert list(FrameParser().parse(stream)) == [
        Ack(0x2A),
        Frame(0, 0x53),
        Nak(),
        Frame(0x2A, 0x65, unhex("01 06 0102030405060708")),
    ]


def test_noise_between_frames_is_skipped_and_counted() -> None:
    parser = FrameParser()
    assert list(parser.parse(b"\xff\x00\x41" + STATUS_FRAME + b"\x80")) == [Frame(0, 0x53)]
    assert parser.skipped == 4
    assert parser.pending == 0


def test_split_input_waits_for_the_rest() -> None:
    parser = FrameParser()
    assert list(parser.parse(START_FRAME[:5])) == []
    assert parser.pending == 5
    assert parser.in_frame
    assert list(parser.parse(START_FRAME[5:-1])) == []
    (frame,) = parser.parse(START_FRAME[-1:])
    assert isinstance(frame, Frame)
    assert EntryRequest.decode(frame.data) == EntryRequest("6228000100001")
    assert list(parser.parse(b"\x06")) == []  # an ACK waits for its SEQ
    assert list(parser.parse(b"\x07")) == [Ack(7)]


@pytest.mark.parametrize(
    ("broken", "problem"),
    [
        (STATUS_FRAME[:-1] + b"\x00", "crc"),
        (STATUS_FRAME[:4] + b"\x04" + STATUS_FRAME[5:], "etx"),
        (unhex("02 00 00 53 03 D8 7F"), "length"),
        (STATUS_FRAME[:3] + b"\x54" + STATUS_FRAME[4:], "crc"),  # a flipped CODE: the CRC sees it
    ],
)
def test_a_broken_frame_is_one_bad_token_and_drops_what_came_with_it(broken: bytes, problem: str) -> None:
    parser = FrameParser()
    assert list(parser.parse(broken + STATUS_FRAME)) == [BadFrame(problem)]
    assert parser.pending == 0
    assert list(parser.parse(STATUS_FRAME)) == [Frame(0, 0x53)]  # the resend


def test_expire_gives_up_a_frame_cut_short() -> None:
    parser = FrameParser()
    list(parser.parse(START_FRAME[:9]))
    assert parser.expire() == BadFrame("incomplete")
    assert parser.pending == 0
    list(parser.parse(b"\x06"))
    assert parser.expire() is None  # half an ACK is no frame to NAK


# -- properties -------------------------------------------------------------------------------------------

frames = st.builds(
    Frame, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=MAX_DATA)
)  # fmt: skip


@given(frames)
def test_any_frame_round_trips(frame: Frame) -> None:
    assert list(FrameParser().parse(frame.encode())) == [frame]


@given(st.lists(frames, max_size=5), st.data())
def test_any_split_of_a_stream_gives_the_same_frames(stream: list[Frame], data: st.DataObject) -> None:
    wire = b"".join(frame.encode() for frame in stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    parser = FrameParser()
    got: list[Token] = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        got += parser.parse(wire[start:end])
    assert got == stream
    assert parser.pending == 0


@given(st.binary(max_size=600))
def test_any_bytes_parse_without_raising(noise: bytes) -> None:
    parser = FrameParser()
    tokens = list(parser.parse(noise))
    assert all(isinstance(token, Frame | Ack | Nak | BadFrame) for token in tokens)
    assert parser.pending <= 3 + 255 + 3


@given(frames, st.data())
def test_a_corrupted_byte_never_passes_as_another_frame(frame: Frame, data: st.DataObject) -> None:
    wire = bytearray(frame.encode())
    position = data.draw(st.integers(1, len(wire) - 1))  # not STX: that would only make it noise
    wire[position] ^= data.draw(st.integers(1, 255))
    parser = FrameParser()
    tokens = list(parser.parse(bytes(wire)))
    assert frame not in tokens
    assert not any(isinstance(token, Frame) for token in tokens)


@given(st.binary(max_size=50).filter(lambda noise: not set(noise) & {0x02, 0x06, 0x15}), frames)
def test_noise_without_link_bytes_never_hides_a_frame(noise: bytes, frame: Frame) -> None:
    assert list(FrameParser().parse(noise + frame.encode() + noise)) == [frame]
