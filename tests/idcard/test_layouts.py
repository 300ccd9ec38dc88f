"""The 256-byte text of the four card types (facts sheet B3, B4), the person and its masked view, the
SW3 table and the read reply's parts."""

from __future__ import annotations

import dataclasses
import datetime as _dt

import pytest

from cardservice.idcard import (
    CARD_TYPES,
    FIND,
    READ,
    SELECT,
    STATUS,
    IdCardNoCard,
    IdCardPerson,
    IdCardProtocolError,
    IdCardReadFailed,
    IdCardSamUnavailable,
    IdCardType,
    IdCardUnsupported,
    Reply,
    check,
    decode_card_data,
    decode_text,
    encode_card_data,
    encode_text,
    fields_of,
)
from tests.idcard.samples import (
    FOREIGN_2023_ENGLISH,
    FOREIGN_2023_NUMBER,
    FOREIGN_2023_TEXT,
    FOREIGN_OLD_NUMBER,
    FOREIGN_OLD_TEXT,
    HMT_NUMBER,
    HMT_TEXT,
    RESIDENT_NUMBER,
    RESIDENT_TEXT,
    ucs2,
)


def test_the_type_flag_sits_at_offset_248() -> None:
    texts = {" ": RESIDENT_TEXT, "J": HMT_TEXT, "I": FOREIGN_OLD_TEXT, "Y": FOREIGN_2023_TEXT}
    for flag, text in texts.items():
        assert text[248:250] == flag.encode("utf-16-le")
        assert CARD_TYPES[flag].layout[-1].offset + CARD_TYPES[flag].layout[-1].size == 256


def test_a_resident_id_card() -> None:
    person = decode_text(RESIDENT_TEXT, photo_wlt=b"W" * 1024)
    assert person.card_type is IdCardType.RESIDENT
    assert (person.name, person.sex_code, person.sex_label) == ("测试人", "1", "男性")
    assert (person.ethnicity_code, person.ethnicity_label) == ("01", "汉族")
    assert person.birth_date == _dt.date(2000, 1, 1)
    assert person.address == "北京市东城区测试路1号测试楼101室"
    assert person.id_number == RESIDENT_NUMBER
    assert person.authority == "测试市公安局测试分局"
    assert person.valid_from == _dt.date(2020, 1, 1)
    assert person.valid_to is None  # 长期
    assert person.valid_to_text == "长期"
    assert person.photo_wlt == b"W" * 1024
    assert person.fingerprint is None
    assert (person.english_name, person.nationality, person.permit_number) == (None, None, None)


def test_a_hong_kong_macao_taiwan_residence_permit() -> None:
    person = decode_text(HMT_TEXT)
    assert person.card_type is IdCardType.HMT_RESIDENCE_PERMIT
    assert (person.name, person.sex_label) == ("测试港人", "女性")
    assert person.ethnicity_code is None
    assert person.id_number == HMT_NUMBER
    assert (person.permit_number, person.issue_count) == ("H00000001", "01")
    assert person.address == "广东省深圳市福田区测试路2号"
    assert person.valid_to == _dt.date(2027, 6, 1)


def test_an_old_foreign_permanent_resident_card() -> None:
    person = decode_text(FOREIGN_OLD_TEXT)
    assert person.card_type is IdCardType.FOREIGN_PERMANENT
    assert (person.english_name, person.name, person.nationality) == ("TEST, PERSON ONE", "测试外人", "CAN")
    assert person.id_number == FOREIGN_OLD_NUMBER
    assert (person.birth_date, person.card_version, person.authority) == (_dt.date(1980, 2, 2), "01", "1100")
    assert (person.valid_from, person.valid_to) == (_dt.date(2017, 3, 3), _dt.date(2027, 3, 3))
    assert person.address is None
    assert person.ethnicity_code is None


def test_a_2023_foreign_permanent_resident_id() -> None:
    person = decode_text(FOREIGN_2023_TEXT)
    assert person.card_type is IdCardType.FOREIGN_PERMANENT_2023
    assert person.english_name == FOREIGN_2023_ENGLISH  # joined across its two fields, the space kept
    assert (person.name, person.sex_code, person.renewal_count) == ("测试永居", "2", "00")
    assert (person.id_number, person.nationality) == (FOREIGN_2023_NUMBER, "CAN")
    assert person.authority == "国家移民管理局"


TEXTS = [RESIDENT_TEXT, HMT_TEXT, FOREIGN_OLD_TEXT, FOREIGN_2023_TEXT]
TYPES = ["resident", "J", "I", "Y"]


@pytest.mark.parametrize("text", TEXTS, ids=TYPES)
def test_encode_gives_the_sheets_bytes_back(text: bytes) -> None:
    assert encode_text(decode_text(text)) == text


def test_each_type_names_its_fields() -> None:
    assert "ethnicity" in fields_of(IdCardType.RESIDENT)
    assert "permit_number" in fields_of(IdCardType.HMT_RESIDENCE_PERMIT)
    assert "english_name" in fields_of(IdCardType.FOREIGN_PERMANENT_2023)
    assert "english_name_more" not in fields_of(IdCardType.FOREIGN_PERMANENT_2023)


def test_an_unknown_type_flag_is_unsupported() -> None:
    text = RESIDENT_TEXT[:248] + ucs2("Z", 2) + RESIDENT_TEXT[250:]
    with pytest.raises(IdCardUnsupported) as error:
        decode_text(text)
    assert error.value.details == {"type_flag": "Z"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (RESIDENT_TEXT[:36] + ucs2("2000011", 16) + RESIDENT_TEXT[52:], "birth is not a date"),
        (RESIDENT_TEXT[:36] + ucs2("20000231", 16) + RESIDENT_TEXT[52:], "birth is not a valid date"),
        (RESIDENT_TEXT[:122] + ucs2("", 36) + RESIDENT_TEXT[158:], "no number"),
        (RESIDENT_TEXT[:-2], "254 bytes"),
        (b"\x00\xd8" + RESIDENT_TEXT[2:], "name is not UCS-2"),
    ],
    ids=["short date", "bad date", "no number", "short text", "lone surrogate"],
)
def test_text_that_does_not_decode_is_a_protocol_error(text: bytes, problem: str) -> None:
    with pytest.raises(IdCardProtocolError, match=problem) as error:
        decode_text(text)
    assert RESIDENT_NUMBER not in str(error.value)


def test_a_value_too_long_for_its_field_is_refused() -> None:
    person = dataclasses.replace(decode_text(RESIDENT_TEXT), name="测" * 16)
    with pytest.raises(IdCardProtocolError, match="name is longer than its 30 bytes"):
        encode_text(person)


# -- the person and what a kiosk sees ----------------------------------------------------------------------


def test_the_masked_view() -> None:
    person = decode_text(RESIDENT_TEXT, photo_wlt=b"W" * 1024, fingerprint=b"F" * 512)
    masked = person.masked()
    assert masked.id_number == "1101************98"
    assert masked.id_number == person.masked_number
    assert masked.address == "北京市东城区***"
    assert masked.birth_year == 2000
    assert masked.name == "测试人"
    assert masked.ethnicity_label == "汉族"
    assert not any(isinstance(value, bytes) for value in dataclasses.asdict(masked).values())
    assert not hasattr(masked, "birth_date")


def test_a_permits_number_is_masked_too() -> None:
    masked = decode_text(HMT_TEXT).masked()
    assert masked.permit_number == "H000***01"
    assert masked.id_number == "8100************83"


@pytest.mark.parametrize("text", TEXTS, ids=TYPES)
def test_no_repr_shows_a_full_number_or_a_name(text: bytes) -> None:
    person = decode_text(text, photo_wlt=b"W" * 1024)
    for shown in (repr(person), str(person), repr(person.masked()), f"{person!r} {[person]}"):
        assert person.id_number not in shown
        assert person.masked_number in shown
        assert person.name not in shown


def test_the_photo_does_not_make_two_persons_different() -> None:
    assert decode_text(RESIDENT_TEXT, photo_wlt=b"A") == decode_text(RESIDENT_TEXT, photo_wlt=b"B")
    assert isinstance(decode_text(RESIDENT_TEXT), IdCardPerson)


# -- SW3 and the read reply --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sw3", "error", "code"),
    [
        (0x80, IdCardNoCard, "idcard_no_card"),
        (0x81, IdCardReadFailed, "idcard_read_failed"),
        (0x41, IdCardReadFailed, "idcard_read_failed"),
        (0x40, IdCardUnsupported, "idcard_unsupported"),
        (0x60, IdCardSamUnavailable, "idcard_sam_unavailable"),
        (0x66, IdCardSamUnavailable, "idcard_sam_unavailable"),
        (0x10, IdCardProtocolError, "idcard_protocol"),
        (0x21, IdCardProtocolError, "idcard_protocol"),
        (0x9F, IdCardProtocolError, "idcard_protocol"),  # find's success, but not select's
        (0x55, IdCardProtocolError, "idcard_protocol"),  # not in the table
    ],
)
def test_each_sw3_is_one_error(sw3: int, error: type[Exception], code: str) -> None:
    with pytest.raises(error) as raised:
        check(SELECT, Reply(sw3))
    assert raised.value.code == code  # type: ignore[attr-defined]
    assert raised.value.details["sw3"] == f"{sw3:02X}"  # type: ignore[attr-defined]


def test_success_is_the_commands_own() -> None:
    assert check(FIND, Reply(0x9F)) == Reply(0x9F)
    assert check(READ, Reply(0x90, b"x")).data == b"x"
    with pytest.raises(IdCardNoCard, match="find card: SW3 80 find failed"):
        check(FIND, Reply(0x80))


def test_every_sw3_of_the_sheet_is_in_the_table() -> None:
    sheet = {0x90, 0x91, 0x9F, 0x10, 0x11, 0x21, 0x23, 0x31, 0x32, 0x33, 0x40, 0x41, 0x47, 0x60, 0x66}
    sheet |= {0x80, 0x81}
    assert set(STATUS) == sheet
    assert all(row.meaning and row.meaning_zh for row in STATUS.values())


def test_the_read_replys_parts() -> None:
    data = decode_card_data(encode_card_data(RESIDENT_TEXT, b"P" * 1024), with_fingerprint=False)
    assert (data.text, data.photo, data.fingerprint) == (RESIDENT_TEXT, b"P" * 1024, None)
    data = decode_card_data(encode_card_data(RESIDENT_TEXT, b"P" * 1024, b"F" * 512), with_fingerprint=True)
    assert data.fingerprint == b"F" * 512
    assert "P" not in repr(data)


@pytest.mark.parametrize(
    "data",
    [
        b"\x01",
        encode_card_data(RESIDENT_TEXT[:200], b"P" * 1024),
        encode_card_data(RESIDENT_TEXT, b"P" * 1024)[:-1],
        encode_card_data(RESIDENT_TEXT, b"P" * 1025),
    ],
    ids=["no lengths", "short text", "short photo", "long photo"],
)
def test_a_read_reply_that_does_not_add_up(data: bytes) -> None:
    with pytest.raises(IdCardProtocolError):
        decode_card_data(data, with_fingerprint=False)


def test_a_fingerprint_length_not_of_the_protocol() -> None:
    with pytest.raises(IdCardProtocolError):
        decode_card_data(encode_card_data(RESIDENT_TEXT, b"P" * 1024, b"F" * 100), with_fingerprint=True)
