"""The GemPC Twin serial reader, sans I/O: what libccid's serial driver sends (echo, escapes, slot status,
power, PPS, SetParameters, T=1 blocks with chaining both ways) and what it must get back; bad frames; the
asynchronous card-movement bytes. The real stack (pcscd + libccidtwin + opensc-tool) is tested in
tests/pcsc/test_serial_reader_pcsc.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import simulators.health  # noqa: F401  (registers the card profiles)
from simulators.cardos import CardOS
from simulators.serialreader import FIRMWARE, NAK, T1Card, TwinReader, frame, lrc
from simulators.serialreader._twin import _block
from tests.virtualcards import make_card

SELECT_MF = bytes.fromhex("00A40000023F00")
GET_CHALLENGE = bytes.fromhex("0084000008")


class Host:
    """libccid's side: numbered CCID messages, framed; each answer read after the echo."""

    def __init__(self, reader: TwinReader) -> None:
        self.reader = reader
        self.seq = 0

    def send(self, kind: int, data: bytes = b"", specific: bytes = b"\x00\x00\x00") -> bytes:
        message = bytes([kind]) + len(data).to_bytes(4, "little") + bytes([0, self.seq]) + specific + data
        self.seq = (self.seq + 1) & 0xFF
        sent = frame(message)
        out = self.reader.feed(sent)
        assert out[: len(sent)] == sent  # the echo first
        answer = out[len(sent) :]
        assert answer[:2] == b"\x03\x06"
        assert lrc(answer[:-1]) == answer[-1]
        body = answer[2:-1]
        assert int.from_bytes(body[1:5], "little") == len(body) - 10
        assert body[6] == message[6]  # the same bSeq
        return body


@pytest.fixture
def card(tmp_path: Path) -> CardOS:
    return make_card(tmp_path, "health")


def test_the_driver_start_up_and_slot_status(card: object) -> None:
    reader = TwinReader()
    host = Host(reader)
    firmware = host.send(0x6B, b"\x02")
    assert firmware[0] == 0x83
    assert firmware[10:] == FIRMWARE
    assert host.send(0x6B, b"\x01\x01\x01")[0] == 0x83
    empty = host.send(0x65)
    assert empty[0] == 0x81
    assert empty[7] & 0x03 == 2
    assert host.send(0x62)[7:9] == bytes([0x40 | 2, 0xFE])  # power on, no card: failed, ICC mute
    reader.insert(card)  # type: ignore[arg-type]
    assert reader.notices() == b"\x50\x03"
    assert host.send(0x65)[7] & 0x03 == 1  # present, not powered
    reader.remove()
    assert reader.notices() == b"\x50\x02"


def test_power_on_pps_parameters_and_t1_apdus(card: object) -> None:
    reader = TwinReader()
    reader.insert(card)  # type: ignore[arg-type]
    host = Host(reader)
    answer = host.send(0x62)
    atr = answer[10:]
    assert answer[0] == 0x80
    assert atr[:1] == b"\x3b"
    assert atr[2] & 0x0F == 1
    assert host.send(0x6F, b"\xff\x11\xee")[10:] == b"\xff\x11\xee"  # PPS accepted as asked
    parameters = host.send(0x61, bytes([0x11, 0x10, 0x00, 0x4D, 0x00, 0xFE, 0x00]), b"\x01\x00\x00")
    assert parameters[0] == 0x82
    assert parameters[9] == 1
    assert host.send(0x6F, _block(0xC1, b"\xfe"))[10:] == _block(0xE1, b"\xfe")  # S(IFS request) 254
    reply = host.send(0x6F, _block(0x00, SELECT_MF))[10:]
    assert reply[1] == 0x00
    assert reply[-3:-1] == b"\x90\x00"
    assert host.send(0x63)[7] & 0x03 == 1  # powered off, still present


def test_t1_chains_long_commands_and_long_responses(card: object) -> None:
    t1 = T1Card(card)  # type: ignore[arg-type]
    assert t1.exchange(_block(0xC1, b"\x04")) == _block(0xE1, b"\x04")  # the host takes 4 bytes a block
    assert t1.exchange(_block(0x20, SELECT_MF[:4])) == _block(0x90)  # I(0, more) → R(1): send the rest
    selected = chained(t1, t1.exchange(_block(0x40, SELECT_MF[4:])))  # I(1), last: the answer, in parts
    assert b"".join(part[3:-1] for part in selected) == card.process(SELECT_MF)  # type: ignore[attr-defined]
    assert all(part[2] <= 4 for part in selected)
    parts = chained(t1, t1.exchange(_block(0x00, GET_CHALLENGE)))  # the host's I(0) again: 10 bytes back
    response = b"".join(part[3:-1] for part in parts)
    assert [part[2] for part in parts] == [4, 4, 2]
    assert response[-2:] == b"\x90\x00"


def chained(t1: T1Card, first: bytes) -> list[bytes]:
    """A chained response, its blocks asked for one after another (R(N(R)) names the next N(S))."""
    parts = [first]
    while parts[-1][1] & 0x20:
        parts.append(t1.exchange(_block(0x80 | ((parts[-1][1] >> 6 ^ 1) << 4))))
    return parts


def test_a_bad_block_is_answered_with_an_r_block(card: object) -> None:
    t1 = T1Card(card)  # type: ignore[arg-type]
    damaged = bytearray(_block(0x00, SELECT_MF))
    damaged[-1] ^= 0xFF
    assert t1.exchange(bytes(damaged)) == _block(0x81)  # R(0, EDC error)
    assert t1.exchange(_block(0x00, SELECT_MF))[-3:-1] == b"\x90\x00"  # then the same block is taken


def test_a_frame_with_a_bad_lrc_gets_a_nak_and_nothing_else() -> None:
    reader = TwinReader()
    message = bytes([0x65, 0, 0, 0, 0, 0, 7, 0, 0, 0])
    sent = bytearray(frame(message))
    sent[-1] ^= 0x55
    assert reader.feed(bytes(sent)) == NAK
    assert reader.feed(frame(message))[len(sent) :][:3] == b"\x03\x06\x81"  # the repeat is answered


def test_frames_split_anywhere_are_answered_once_whole() -> None:
    reader = TwinReader()
    whole = frame(bytes([0x65, 0, 0, 0, 0, 0, 3, 0, 0, 0]))
    out = b"".join(reader.feed(whole[i : i + 1]) for i in range(len(whole)))
    assert out.count(b"\x03\x06\x81") == 1


@given(st.binary(max_size=600))
def test_any_bytes_never_crash_the_reader(data: bytes) -> None:
    reader = TwinReader()
    out = reader.feed(data)
    assert isinstance(out, bytes)
