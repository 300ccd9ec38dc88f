"""Builders: exact bytes for each ISO/IEC 7816-4 command the project sends, and parameter checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cardservice.apdu import (
    CommandApdu,
    Occurrence,
    RecordMode,
    SelectResponse,
    append_record,
    change_reference_data,
    external_authenticate,
    get_challenge,
    get_data,
    get_response,
    internal_authenticate,
    read_binary,
    read_record,
    select_by_fid,
    select_by_name,
    select_by_path,
    select_mf,
    select_parent,
    update_binary,
    update_record,
    verify,
)
from cardservice.errors import CodecError
from tests.conftest import unhex

WS_SYS_DDF01 = b"WS.SYS.DDF01"

FIXTURES: list[tuple[Callable[[], CommandApdu], str]] = [
    # SELECT §11.2.2 - the health card's forms first (healthcard-facts §1)
    (lambda: select_by_fid(0xDDF1), "00 A4 00 00 02 DD F1"),
    (lambda: select_by_fid(b"\xef\x05"), "00 A4 00 00 02 EF 05"),
    (lambda: select_by_fid(0xEF05, p2=SelectResponse.FCP, ne=256), "00 A4 00 04 02 EF 05 00"),
    (lambda: select_by_fid(0xEF05, p2=SelectResponse.NONE), "00 A4 00 0C 02 EF 05"),
    (lambda: select_by_fid(0xEF05, p2=SelectResponse.FMD, ne=32), "00 A4 00 08 02 EF 05 20"),
    (lambda: select_mf(), "00 A4 00 00 02 3F 00"),
    (lambda: select_parent(), "00 A4 03 00"),
    (lambda: select_by_name(WS_SYS_DDF01), "00 A4 04 00 0C 57 53 2E 53 59 53 2E 44 44 46 30 31 00"),
    (lambda: select_by_name(unhex("91 56 00 01 32 00"), fci=False), "00 A4 04 0C 06 91 56 00 01 32 00"),
    (
        lambda: select_by_name(unhex("A0 00 00 03 33"), occurrence=Occurrence.NEXT),
        "00 A4 04 02 05 A0 00 00 03 33 00",
    ),
    (lambda: select_by_path(unhex("DD F1 DF 01")), "00 A4 08 00 04 DD F1 DF 01"),
    (lambda: select_by_path([0x3F00, 0xDDF1, 0xEF05]), "00 A4 08 00 04 DD F1 EF 05"),
    (lambda: select_by_path([0xDF01], from_mf=False), "00 A4 09 00 02 DF 01"),
    # READ / UPDATE BINARY §11.3.3, §11.3.5
    (lambda: read_binary(), "00 B0 00 00 00"),
    (lambda: read_binary(0x0080, ne=0x80), "00 B0 00 80 80"),
    (lambda: read_binary(0x0B80, ne=0x45), "00 B0 0B 80 45"),
    (lambda: read_binary(0x7FFF, ne=1), "00 B0 7F FF 01"),
    (lambda: read_binary(0x10, ne=4, sfi=5), "00 B0 85 10 04"),
    (lambda: read_binary(ne=300), "00 B0 00 00 00 01 2C"),
    (lambda: update_binary(0x0667, b"\x01\x02"), "00 D6 06 67 02 01 02"),
    (lambda: update_binary(0, b"\xaa", sfi=30), "00 D6 9E 00 01 AA"),
    # records §11.4
    (lambda: read_record(1), "00 B2 01 04 00"),
    (lambda: read_record(5, ne=0x14), "00 B2 05 04 14"),
    (lambda: read_record(0x39, mode=RecordMode.ID_FIRST, ne=5), "00 B2 39 00 05"),
    (lambda: read_record(0x39, mode=RecordMode.ID_NEXT, ne=5), "00 B2 39 02 05"),
    (lambda: read_record(0x39, mode=RecordMode.ID_LAST, ne=5), "00 B2 39 01 05"),
    (lambda: read_record(0x39, mode=RecordMode.ID_PREVIOUS, ne=5), "00 B2 39 03 05"),
    (lambda: read_record(2, sfi=1, mode=RecordMode.FROM_NUMBER), "00 B2 02 0D 00"),
    (lambda: read_record(3, sfi=30, mode=RecordMode.UP_TO_NUMBER), "00 B2 03 F6 00"),
    (lambda: update_record(1, unhex("0B 02 41 42")), "00 DC 01 04 04 0B 02 41 42"),
    (lambda: update_record(2, b"\x00", sfi=3), "00 DC 02 1C 01 00"),
    (lambda: append_record(bytes(24)), "00 E2 00 00 18" + "00" * 24),
    (lambda: append_record(b"\x01", sfi=8), "00 E2 00 40 01 01"),
    # security §11.5
    (lambda: get_challenge(), "00 84 00 00 08"),
    (lambda: get_challenge(4), "00 84 00 00 04"),
    (lambda: get_challenge(256), "00 84 00 00 00"),
    (
        lambda: external_authenticate(unhex("11" * 8 + "11 22 33 44 55 66 77 88 01"), 0x84),
        "00 82 00 84 11" + "11" * 8 + "11 22 33 44 55 66 77 88 01",
    ),
    (lambda: external_authenticate(b"\x01\x02", 0x04, algorithm=0x02), "00 82 02 04 02 01 02"),
    (lambda: internal_authenticate(bytes(8), 0x01), "00 88 00 01 08 00 00 00 00 00 00 00 00 00"),
    (lambda: internal_authenticate(bytes(8), 0x01, ne=8), "00 88 00 01 08 00 00 00 00 00 00 00 00 08"),
    (lambda: verify(unhex("12 34 56"), 0x00), "00 20 00 00 03 12 34 56"),
    (lambda: verify(None, 0x81), "00 20 00 81"),
    (lambda: change_reference_data(b"\x12\x34", b"\x56\x78", 0x01), "00 24 00 01 04 12 34 56 78"),
    (lambda: change_reference_data(None, b"\x56\x78", 0x01), "00 24 01 01 02 56 78"),
    # transmission and data objects §11.6, §11.7
    (lambda: get_response(0x10), "00 C0 00 00 10"),
    (lambda: get_response(256), "00 C0 00 00 00"),
    (lambda: get_data(0x9F36, ne=2), "00 CA 9F 36 02"),
    (lambda: get_data(0x5A), "00 CA 00 5A 00"),
]


@pytest.mark.parametrize(("build", "wire"), FIXTURES)
def test_builder_exact_bytes(build: Callable[[], CommandApdu], wire: str) -> None:
    command = build()
    assert command.encode() == unhex(wire)
    assert CommandApdu.decode(command.encode()) == command


@pytest.mark.parametrize(
    "build",
    [
        lambda: select_by_fid(0x10000),
        lambda: select_by_fid(b"\x3f"),
        lambda: select_by_fid(0xEF05, p2=SelectResponse.NONE, ne=256),
        lambda: select_by_name(b""),
        lambda: select_by_name(bytes(17)),
        lambda: select_by_path(b""),
        lambda: select_by_path(b"\x3f\x00"),  # only the MF, which the from-MF path omits
        lambda: select_by_path(b"\xdd\xf1\xef"),
        lambda: read_binary(0x8000),
        lambda: read_binary(-1),
        lambda: read_binary(0x100, sfi=1),
        lambda: read_binary(0, sfi=0),
        lambda: read_binary(0, sfi=31),
        lambda: read_binary(0, ne=0),
        lambda: read_binary(0, ne=65537),
        lambda: update_binary(0, b""),
        lambda: update_binary(0, bytes(65536)),
        lambda: read_record(0),  # record 0 with by-number mode
        lambda: read_record(0xFF),
        lambda: read_record(0, mode=RecordMode.FROM_NUMBER),
        lambda: read_record(1, sfi=31),
        lambda: read_record(0x100, mode=RecordMode.ID_FIRST),
        lambda: update_record(1, b""),
        lambda: update_record(1, b"\x00", mode=RecordMode.FROM_NUMBER),
        lambda: append_record(b""),
        lambda: append_record(b"\x00", sfi=0),
        lambda: get_challenge(0),
        lambda: get_challenge(257),
        lambda: external_authenticate(b"", 0x84),
        lambda: external_authenticate(b"\x00", 0x100),
        lambda: internal_authenticate(b"\x00", -1),
        lambda: verify(b"", 0),
        lambda: verify(bytes(256), 0),
        lambda: verify(b"\x12", 0x100),
        lambda: change_reference_data(b"", b"\x01", 0),
        lambda: change_reference_data(b"\x01", b"", 0),
        lambda: get_response(0),
        lambda: get_data(0x10000),
    ],
)
def test_builder_parameter_validation(build: Callable[[], CommandApdu]) -> None:
    with pytest.raises(CodecError):
        build()


def test_verify_query_is_case_1() -> None:
    assert verify(None, 0x81).case.value == "1"
