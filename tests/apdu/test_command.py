"""CommandApdu: ISO/IEC 7816-3 §12.1.3 cases 1, 2S/2E, 3S/3E, 4S/4E, byte for byte."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.apdu import ApduCase, CommandApdu
from cardservice.errors import CodecError
from tests.apdu.strategies import command_apdus
from tests.conftest import unhex

DATA_300 = bytes(range(256)) + bytes(44)

# (value, wire bytes, case)
CASES = [
    (CommandApdu(0x00, 0x20, 0x00, 0x81), "00 20 00 81", ApduCase.CASE_1),
    (CommandApdu(0x00, 0x84, 0x00, 0x00, ne=8), "00 84 00 00 08", ApduCase.CASE_2S),
    (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=256), "00 B0 00 00 00", ApduCase.CASE_2S),
    (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=257), "00 B0 00 00 00 01 01", ApduCase.CASE_2E),
    (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=65536), "00 B0 00 00 00 00 00", ApduCase.CASE_2E),
    (CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=16, extended=True), "00 B0 00 00 00 00 10", ApduCase.CASE_2E),
    (CommandApdu(0x00, 0xA4, 0x00, 0x00, unhex("DD F1")), "00 A4 00 00 02 DD F1", ApduCase.CASE_3S),
    (CommandApdu(0x00, 0xD6, 0x00, 0x00, bytes(255)), "00 D6 00 00 FF" + "00" * 255, ApduCase.CASE_3S),
    (CommandApdu(0x00, 0xD6, 0x00, 0x00, bytes(256)), "00 D6 00 00 00 01 00" + "00" * 256, ApduCase.CASE_3E),
    (
        CommandApdu(0x00, 0xD6, 0x00, 0x00, b"\x01", extended=True),
        "00 D6 00 00 00 00 01 01",
        ApduCase.CASE_3E,
    ),
    (
        CommandApdu(0x00, 0xA4, 0x04, 0x00, unhex("91 56 00 01 32 00"), ne=256),
        "00 A4 04 00 06 91 56 00 01 32 00 00",
        ApduCase.CASE_4S,
    ),
    (
        CommandApdu(0x00, 0x88, 0x00, 0x00, unhex("01 02"), ne=65536),
        "00 88 00 00 00 00 02 01 02 00 00",
        ApduCase.CASE_4E,
    ),
    (
        CommandApdu(0x00, 0x88, 0x00, 0x00, DATA_300, ne=16),
        "00 88 00 00 00 01 2C" + DATA_300.hex() + "00 10",
        ApduCase.CASE_4E,
    ),
]


@pytest.mark.parametrize(("command", "wire", "case"), CASES)
def test_encode_exact_bytes(command: CommandApdu, wire: str, case: ApduCase) -> None:
    assert command.encode() == unhex(wire)
    assert command.case is case
    assert command.is_extended is case.value.endswith("E")


@pytest.mark.parametrize(("command", "wire", "case"), CASES)
def test_decode_exact_bytes(command: CommandApdu, wire: str, case: ApduCase) -> None:
    decoded = CommandApdu.decode(unhex(wire))
    assert decoded == command
    assert decoded.case is case
    assert decoded.encode() == unhex(wire)  # the wire form is kept, even a needless extended one


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "00",
        "00 A4 00",
        "00 A4 00 00 02 DD",  # Lc=2, one data byte
        "00 A4 00 00 02 DD F1 00 00",  # Lc=2, two trailing bytes
        "00 B0 00 00 00 01",  # B1=00 then one byte: neither 2E nor 3E
        "00 D6 00 00 00 00 00 01",  # extended Lc=0000 is forbidden
        "00 D6 00 00 00 00 02 01",  # extended Lc=2, one byte
        "00 D6 00 00 00 00 02 01 02 00",  # extended Lc=2 + 1-byte Le: inconsistent
    ],
)
def test_decode_rejects_inconsistent_lengths(wire: str) -> None:
    with pytest.raises(CodecError):
        CommandApdu.decode(unhex(wire))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cla": 256},
        {"ins": -1},
        {"p1": 0x100},
        {"p2": True},
        {"ne": 0},
        {"ne": 65537},
        {"data": bytes(65536)},
        {"data": "text"},
    ],
)
def test_field_ranges_are_validated(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"cla": 0, "ins": 0xA4, "p1": 0, "p2": 0} | kwargs
    with pytest.raises(CodecError):
        CommandApdu(**fields)  # type: ignore[arg-type]


def test_case_1_never_extended() -> None:
    command = CommandApdu(0x00, 0x20, 0x00, 0x01, extended=True)
    assert not command.is_extended
    assert command.encode() == unhex("00 20 00 01")


def test_extended_flag_is_not_part_of_equality() -> None:
    short = CommandApdu(0x00, 0xB0, 0, 0, ne=16)
    long = CommandApdu(0x00, 0xB0, 0, 0, ne=16, extended=True)
    assert short == long
    assert hash(short) == hash(long)
    assert short.encode() != long.encode()


def test_bytearray_data_is_frozen_to_bytes() -> None:
    buffer = bytearray(b"\x3f\x00")
    command = CommandApdu(0, 0xA4, 0, 0, buffer)  # type: ignore[arg-type]
    buffer[0] = 0
    assert command.data == b"\x3f\x00"
    assert type(command.data) is bytes


def test_value_is_frozen() -> None:
    command = CommandApdu(0, 0xA4, 0, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.ins = 0xB0  # type: ignore[misc]


def test_with_ne() -> None:
    command = CommandApdu(0x00, 0xB0, 0x00, 0x00, ne=256)
    assert command.with_ne(0x20).encode() == unhex("00 B0 00 00 20")
    assert command.with_ne(None).case is ApduCase.CASE_1
    with pytest.raises(CodecError):
        command.with_ne(0)


@pytest.mark.parametrize(
    ("cla", "sm"),
    [
        (0x00, False),
        (0x01, False),  # logical channel 1
        (0x04, True),  # proprietary SM (health card 04 DC)
        (0x08, True),  # SM, header not authenticated
        (0x0C, True),  # SM, header authenticated
        (0x10, False),  # command chaining
        (0x40, False),  # further interindustry, channel 4
        (0x60, True),  # further interindustry with SM
        (0x80, False),  # proprietary (PBOC, SAM)
        (0x84, True),  # PBOC MAC (health card 84 D2 / 84 0C)
        (0x88, False),
        (0xC0, False),
        (0xE0, True),  # GlobalPlatform further channel with SM
        (0x20, False),  # RFU
        (0xFF, False),  # PPS / invalid
    ],
)
def test_secure_messaging_indication(cla: int, sm: bool) -> None:
    assert CommandApdu(cla, 0xDC, 1, 4, b"\x01").secure_messaging is sm


@pytest.mark.parametrize(
    ("cla", "sm_cla"), [(0x00, 0x04), (0x80, 0x84), (0x01, 0x05), (0x40, 0x60), (0x0C, 0x0C)]
)
def test_with_cla_sm(cla: int, sm_cla: int) -> None:
    command = CommandApdu(cla, 0xDC, 1, 4, b"\x01").with_cla_sm()
    assert command.cla == sm_cla
    assert command.secure_messaging


@pytest.mark.parametrize("cla", [0x20, 0x3F, 0xFF])
def test_with_cla_sm_rejects_classes_without_sm(cla: int) -> None:
    with pytest.raises(CodecError):
        CommandApdu(cla, 0xDC, 1, 4).with_cla_sm()


def test_str_shows_header_and_lengths_not_data() -> None:
    command = CommandApdu(0x00, 0x20, 0x00, 0x00, b"123456", ne=None)
    assert str(command) == "00 20 00 00 Lc=6 (case 3S)"
    assert str(CommandApdu(0, 0xB0, 0, 0, ne=256)) == "00 B0 00 00 Le=256 (case 2S)"


def test_repr_shows_public_data_and_masks_pins() -> None:
    assert "ddf1" in repr(CommandApdu(0x00, 0xA4, 0x00, 0x00, unhex("DD F1")))
    pin = CommandApdu(0x00, 0x20, 0x00, 0x00, b"\x12\x34\x56")
    assert "123456" not in repr(pin)
    assert "<3 bytes>" in repr(pin)
    sm = CommandApdu(0x04, 0xDC, 0x01, 0x04, b"\x12\x34\x56\x78")
    assert "12345678" not in repr(sm)


@given(command_apdus())
def test_value_round_trip(command: CommandApdu) -> None:
    assert CommandApdu.decode(command.encode()) == command


@given(command_apdus())
def test_wire_round_trip(command: CommandApdu) -> None:
    raw = command.encode()
    decoded = CommandApdu.decode(raw)
    assert decoded.encode() == raw
    assert decoded.is_extended == command.is_extended


@given(st.binary(max_size=300))
def test_decode_arbitrary_bytes_only_raises_codec_error(raw: bytes) -> None:
    try:
        command = CommandApdu.decode(raw)
    except CodecError:
        return
    assert command.encode() == raw


@given(st.binary(min_size=4, max_size=4), st.integers(0, 255), st.binary(max_size=260))
def test_decode_structured_fuzz(header: bytes, lc: int, rest: bytes) -> None:
    raw = header + bytes((lc,)) + rest
    try:
        command = CommandApdu.decode(raw)
    except CodecError:
        return
    assert command.encode() == raw
