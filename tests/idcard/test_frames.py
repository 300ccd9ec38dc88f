"""The SAM_V frame (facts sheet B1): the three frames checked by hand, the reply sizes of B3, the
incremental parser (split input, garbage, bad checksum, bad length), and properties over any bytes."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.idcard import (
    FIND,
    MAX_LENGTH,
    PREAMBLE,
    READ,
    READ_WITH_FINGERPRINT,
    SAM_STATUS,
    Command,
    CommandParser,
    IdCardProtocolError,
    IdCardUnsupported,
    Reply,
    ReplyParser,
    checksum,
    decode_text,
    encode_card_data,
)
from tests.idcard.samples import RESIDENT_TEXT


def unhex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# B1: "I checked by hand ..." — the find command, the SAM-status command, and the find-failed reply.
FIND_FRAME = unhex("AA AA AA 96 69 00 03 20 01 22")
SAM_STATUS_FRAME = unhex("AA AA AA 96 69 00 03 11 FF ED")
FIND_FAILED_FRAME = unhex("AA AA AA 96 69 00 04 00 00 80 84")


def test_the_hand_checked_frames() -> None:
    assert FIND.command.encode() == FIND_FRAME
    assert SAM_STATUS.command.encode() == SAM_STATUS_FRAME
    assert Reply(0x80).encode() == FIND_FAILED_FRAME
    assert checksum(unhex("00 03 20 01")) == 0x22
    assert checksum(unhex("00 03 11 FF")) == 0xED
    assert checksum(unhex("00 04 00 00 80")) == 0x84


def test_the_hand_checked_frames_parse() -> None:
    assert list(CommandParser().parse(FIND_FRAME + SAM_STATUS_FRAME)) == [
        Command(0x20, 0x01),
        Command(0x11, 0xFF),
    ]
    (reply,) = ReplyParser().parse(FIND_FAILED_FRAME)
    assert (reply.sw1, reply.sw2, reply.sw3, reply.data) == (0, 0, 0x80, b"")


@pytest.mark.parametrize(
    ("fingerprint", "length", "total"),
    [(None, "05 08", 1295), (bytes(1024), "09 0A", 2321), (bytes(512), "07 0A", 1809), (b"", "05 0A", 1297)],
)
def test_read_replies_have_the_sheets_lengths(fingerprint: bytes | None, length: str, total: int) -> None:
    """B3: 30 01 answers Len 05 08 (1295 bytes); 30 10 Len 09 0A with a 1024-byte fingerprint (2321)."""
    frame = Reply(0x90, encode_card_data(RESIDENT_TEXT, bytes(1024), fingerprint)).encode()
    assert frame[:10] == PREAMBLE + unhex(length) + unhex("00 00 90")
    assert frame[10:14] == unhex("01 00 04 00")
    assert len(frame) == total


def test_commands_of_the_table() -> None:
    assert READ.command.encode() == unhex("AA AA AA 96 69 00 03 30 01 32")
    assert READ_WITH_FINGERPRINT.command.encode() == unhex("AA AA AA 96 69 00 03 30 10 23")


def test_a_frame_split_anywhere_is_put_together() -> None:
    frame = Reply(0x90, bytes(range(200))).encode()
    parser = ReplyParser()
    got = [reply for byte in frame for reply in parser.parse(bytes([byte]))]
    assert got == [Reply(0x90, bytes(range(200)))]
    assert parser.pending == 0


def test_garbage_before_a_frame_is_skipped() -> None:
    parser = ReplyParser()
    garbage = unhex("00 FF AA AA 96 12 AA AA AA")  # a broken preamble, then the start of a real one
    assert list(parser.parse(garbage)) == []
    assert list(parser.parse(FIND_FAILED_FRAME[3:])) == [Reply(0x80)]
    assert parser.skipped == 6


def test_a_bad_checksum_is_one_error_then_the_next_frame_comes() -> None:
    broken = FIND_FAILED_FRAME[:-1] + b"\x85"
    parser = ReplyParser()
    frames = parser.parse(broken + unhex("AA AA AA 96 69 00 04 00 00 90 94"))
    with pytest.raises(IdCardProtocolError, match="checksum 85 is wrong") as error:
        next(frames)
    assert error.value.code == "idcard_protocol"
    assert error.value.details["problem"] == "checksum"
    assert list(parser.parse()) == [Reply(0x90)]


@pytest.mark.parametrize("length", ["00 00", "00 03", "FF FF", f"{MAX_LENGTH + 1:04X}"])
def test_a_bad_length_is_an_error_and_the_parser_resynchronises(length: str) -> None:
    parser = ReplyParser()
    with pytest.raises(IdCardProtocolError, match="out of bounds") as error:
        list(parser.parse(PREAMBLE + unhex(length) + FIND_FAILED_FRAME))
    assert error.value.details["problem"] == "length"
    assert list(parser.parse()) == [Reply(0x80)]


def test_a_command_frame_is_at_least_cmd_para_chk() -> None:
    with pytest.raises(IdCardProtocolError):
        list(CommandParser().parse(PREAMBLE + unhex("00 02 20 22")))


def test_too_much_data_cannot_be_framed() -> None:
    with pytest.raises(IdCardProtocolError):
        Reply(0x90, bytes(MAX_LENGTH)).encode()


def test_reprs_never_show_data() -> None:
    assert repr(Reply(0x90, b"secret")) == "Reply(SW 00 00 90, 6 data bytes)"
    assert repr(Command(0x30, 0x01)) == "Command(30 01, 0 data bytes)"


# -- properties -------------------------------------------------------------------------------------------

commands = st.builds(Command, st.integers(0, 255), st.integers(0, 255), st.binary(max_size=300))
replies = st.builds(
    Reply, st.integers(0, 255), st.binary(max_size=300), sw1=st.integers(0, 255), sw2=st.integers(0, 255)
)


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(st.lists(commands, max_size=5), st.lists(st.integers(0, 10_000), max_size=8))
def test_commands_round_trip_in_any_chunks(sent: list[Command], cuts: list[int]) -> None:
    parser = CommandParser()
    stream = b"".join(command.encode() for command in sent)
    assert [frame for chunk in chunks(stream, cuts) for frame in parser.parse(chunk)] == sent


@given(st.lists(replies, max_size=5), st.binary(max_size=40).filter(lambda b: 0xAA not in b))
def test_replies_round_trip_after_garbage(sent: list[Reply], garbage: bytes) -> None:
    parser = ReplyParser()
    assert list(parser.parse(garbage + b"".join(reply.encode() for reply in sent))) == sent
    assert parser.skipped == len(garbage)


@given(st.binary(max_size=3000), st.sampled_from([CommandParser, ReplyParser]))
def test_any_bytes_raise_nothing_but_the_codecs_error(data: bytes, kind: type[ReplyParser]) -> None:
    parser = kind()
    errors = 0
    more = data
    while True:  # each error drops at least one byte: this ends
        try:
            list(parser.parse(more))
            break
        except IdCardProtocolError:
            errors += 1
            more = b""
    assert errors <= len(data)
    assert parser.pending <= len(data)


@given(st.binary(min_size=256, max_size=256))
def test_any_text_decodes_or_raises_the_codecs_error(text: bytes) -> None:
    with contextlib.suppress(IdCardProtocolError, IdCardUnsupported):  # anything else fails the test
        decode_text(text)
