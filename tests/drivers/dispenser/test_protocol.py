"""The K720 protocol codec, sans I/O: frames and their BCC against bytes captured from a real K750
(github.com/jenschr/k750) and the vendor's examples, every status bit, and malformed input → one
``dispenser_protocol`` error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.issuance import DispenserError, DispenserStatus
from drivers.dispenser._protocol import (
    ACK,
    COMMANDS,
    ENQ,
    NAK,
    STATUS_BITS,
    Message,
    address_bytes,
    bcc,
    command_named,
    control,
    decode_frame,
    decode_status,
    encode_frame,
    encode_status,
    frame_length,
    read_messages,
    status_of,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# -- frames ------------------------------------------------------------------------------------------


def test_frames_match_bytes_seen_on_a_real_k750() -> None:
    assert encode_frame(0, b"AP") == h("02 30 30 00 02 41 50 03 12")
    assert decode_frame(h("02 30 30 00 06 53 46 30 30 31 31 03 12")) == (0, b"SF0011")
    assert control(ACK, 0) == h("06 30 30")
    assert control(ENQ, 0) == h("05 30 30")
    assert control(NAK, 0) == h("15 30 30")


@pytest.mark.parametrize(
    ("name", "frame"),
    [
        ("to_read_position", "02 30 30 00 03 46 43 37 03 30"),
        ("capture", "02 30 30 00 02 43 50 03 10"),
        ("reset", "02 30 30 00 02 52 53 03 02"),
        ("present", "02 30 30 00 03 46 43 34 03 33"),
    ],
)
def test_command_frames(name: str, frame: str) -> None:
    assert encode_frame(0, COMMANDS[name].code) == h(frame)
    assert command_named(COMMANDS[name].code) == name


def test_the_commands_table_is_the_protocols() -> None:
    assert {name: command.code for name, command in COMMANDS.items()} == {
        "status": b"AP", "to_read_position": b"FC7", "present": b"FC4", "capture": b"CP", "reset": b"RS",
    }  # fmt: skip
    assert [name for name, command in COMMANDS.items() if command.replies] == ["status"]
    assert command_named(b"ZZ") is None


def test_addresses_are_two_ascii_decimal_digits() -> None:
    assert address_bytes(0) == b"00"
    assert address_bytes(9) == b"09"
    assert address_bytes(10) == b"10"  # the DIP table: 0A -> 31 30
    assert address_bytes(15) == b"15"
    with pytest.raises(ValueError, match=r"0\.\.15"):
        address_bytes(16)
    assert encode_frame(10, b"AP")[1:3] == b"10"


def test_bcc_is_the_xor_from_stx_to_etx() -> None:
    assert bcc(b"") == 0
    frame = encode_frame(3, b"FC7")
    assert bcc(frame[:-1]) == frame[-1]
    assert bcc(frame) == 0


@given(address=st.integers(0, 15), payload=st.binary(min_size=1, max_size=300))
def test_any_frame_decodes_to_what_was_encoded(address: int, payload: bytes) -> None:
    frame = encode_frame(address, payload)
    assert frame_length(frame[:5]) == len(frame)
    assert decode_frame(frame) == (address, payload)


@given(payload=st.binary(min_size=1, max_size=40), data=st.data())
def test_any_one_byte_corruption_is_one_protocol_error(payload: bytes, data: st.DataObject) -> None:
    frame = bytearray(encode_frame(0, payload))
    index = data.draw(st.integers(0, len(frame) - 1))
    frame[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DispenserError) as caught:
        decode_frame(bytes(frame))
    assert caught.value.code == "dispenser_protocol"


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ("", "starts with STX"),
        ("03 30 30 00 02 41 50 03 12", "starts with STX"),
        ("02 30 30 00 00 03 01", "frame length 0"),
        ("02 30 30 01 2D", "frame length 301"),
        ("02 30 30 00 02 41 50 03", "header says 9"),
        ("02 30 30 00 02 41 50 04 15", "no ETX"),
        ("02 30 30 00 02 41 50 03 13", "BCC 13, computed 12"),
        ("02 31 36 00 02 41 50 03 15", "not 00..15"),
        ("02 3A 30 00 02 41 50 03 18", "not 00..15"),
    ],
)
def test_malformed_frames(frame: str, says: str) -> None:
    with pytest.raises(DispenserError, match=says) as caught:
        decode_frame(h(frame))
    assert caught.value.code == "dispenser_protocol"
    assert caught.value.message_zh == "发卡机通讯错误"


def test_frames_out_of_range_are_refused_when_built() -> None:
    with pytest.raises(ValueError, match=r"1\.\.300"):
        encode_frame(0, b"")
    with pytest.raises(ValueError, match=r"1\.\.300"):
        encode_frame(0, bytes(301))


# -- status ------------------------------------------------------------------------------------------


def test_status_bytes_are_0x30_plus_a_nibble() -> None:
    assert encode_status(0x0011) == b"SF0011"
    assert encode_status(0x8F07) == b"SF8?07"  # 0x3F: the vendor's "1111" example
    assert decode_status(b"SF8?07") == 0x8F07
    for word in (0, 0xFFFF, 0x1234, 0xA5C3):
        assert decode_status(encode_status(word)) == word


@pytest.mark.parametrize("payload", [b"SF001", b"SF00111", b"PF0011", b"SF00A1", b"SF0/11", b""])
def test_malformed_status(payload: bytes) -> None:
    with pytest.raises(DispenserError, match="status reply") as caught:
        decode_status(payload)
    assert caught.value.code == "dispenser_protocol"


EXPECTED = {  # every bit alone → what the library sees
    "reject_bin_full": DispenserStatus(faults=("reject_bin_full",), raw="8000"),
    "command_refused": DispenserStatus(faults=("command_refused",), raw="4000"),
    "prepare_failed": DispenserStatus(faults=("prepare_failed",), raw="2000"),
    "preparing": DispenserStatus(raw="1000"),
    "dispensing": DispenserStatus(busy=True, raw="0800"),
    "capturing": DispenserStatus(busy=True, raw="0400"),
    "dispense_error": DispenserStatus(faults=("dispense_error",), raw="0200"),
    "capture_error": DispenserStatus(faults=("capture_error",), raw="0100"),
    "stack_full": DispenserStatus(raw="0080"),
    "overlap": DispenserStatus(faults=("overlap",), raw="0040"),
    "jam": DispenserStatus(jam=True, raw="0020"),
    "stack_low": DispenserStatus(stack_low=True, raw="0010"),
    "stack_empty": DispenserStatus(stack_empty=True, raw="0008"),
    "sensor_3": DispenserStatus(card_at_read_position=True, raw="0004"),
    "sensor_2": DispenserStatus(card_at_read_position=True, raw="0002"),
    "sensor_1": DispenserStatus(card_at_mouth=True, raw="0001"),
}


@pytest.mark.parametrize("bit", STATUS_BITS, ids=[bit.name for bit in STATUS_BITS])
def test_every_status_bit(bit) -> None:  # type: ignore[no-untyped-def]
    assert status_of(decode_status(encode_status(bit.mask))) == EXPECTED[bit.name]


def test_the_status_table_has_sixteen_distinct_bits() -> None:
    assert sorted(bit.mask for bit in STATUS_BITS) == [1 << n for n in range(16)]
    assert set(EXPECTED) == {bit.name for bit in STATUS_BITS}


def test_positions_and_combined_bits() -> None:
    at_read = status_of(0x0003)  # sensors 1+2: a card at the read position as [C] saw it
    assert at_read.card_at_read_position
    assert not at_read.card_at_mouth
    assert status_of(0x0005).card_at_read_position  # sensor 3: the other reading
    seen = status_of(decode_status(b"SF0011"))  # the real K750's answer: low stack, card at the mouth
    assert seen.stack_low
    assert seen.card_at_mouth
    assert not seen.card_at_read_position
    jammed = status_of(0x0230)
    assert jammed.jam
    assert jammed.faults == ("dispense_error",)
    problem = jammed.problem()
    assert problem is not None
    assert problem.code == "dispenser_jam"
    faulty = status_of(0x8000).problem()
    assert faulty is not None
    assert faulty.code == "dispenser_fault"
    assert "reject_bin_full" in str(faulty)
    assert status_of(0x0013).problem() is None


# -- the device's side: the stream of host bytes -------------------------------------------------------


def test_a_stream_splits_into_frames_and_enqs_whatever_the_pieces() -> None:
    stream = b"\xff" + encode_frame(0, b"AP") + control(ENQ, 0) + h("02 30 30 00 02 41 50 03 13")
    stream += control(ENQ, 7) + control(ENQ, 0)[:2]
    messages: list[Message] = []
    buffer = bytearray()
    for byte in stream:  # one byte at a time: the worst a serial line does
        buffer.append(byte)
        messages += read_messages(buffer)
    assert messages == [
        Message("frame", 0, b"AP"), Message("enq", 0), Message("bad", 0), Message("enq", 7),
    ]  # fmt: skip
    assert buffer == control(ENQ, 0)[:2]  # the incomplete ENQ waits


@given(chunks=st.lists(st.integers(1, 7), min_size=1, max_size=30))
def test_chunking_never_changes_the_messages(chunks: list[int]) -> None:
    stream = encode_frame(0, b"FC7") + control(ENQ, 0) + encode_frame(12, b"AP") + control(ENQ, 12)
    buffer, messages, at = bytearray(), [], 0
    for size in [*chunks, len(stream)]:
        buffer += stream[at : at + size]
        at += size
        messages += read_messages(buffer)
    assert messages == [Message("frame", 0, b"FC7"), Message("enq", 0), Message("frame", 12, b"AP"),
                        Message("enq", 12)]  # fmt: skip


def test_noise_with_a_false_stx_is_skipped() -> None:
    buffer = bytearray(h("02 30 30 FF FF") + encode_frame(0, b"RS"))
    assert read_messages(buffer) == [Message("frame", 0, b"RS")]
    assert buffer == b""
