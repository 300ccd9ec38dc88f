"""Citizen ID numbers per GB 11643-1999 and their masked form."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.errors import CodecError
from cardservice.healthcard import (
    id_birth_date,
    id_check_character,
    id_sex_code,
    mask_id_number,
    validate_id_number,
)
from cardservice.healthcard._identity import ID_WEIGHTS


def test_weights_are_those_printed_in_the_standard() -> None:
    assert ID_WEIGHTS == (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@pytest.mark.parametrize(
    ("number", "born", "sex"),
    [
        ("11010519491231002X", dt.date(1949, 12, 31), 2),  # GB 11643-1999 example (Beijing, Chaoyang)
        ("440524188001010014", dt.date(1880, 1, 1), 1),  # GB 11643-1999 example (Guangdong, Shantou)
    ],
)
def test_published_examples(number: str, born: dt.date, sex: int) -> None:
    assert id_check_character(number[:17]) == number[17]
    assert validate_id_number(number, birth_date=born) == number
    assert id_birth_date(number) == born
    assert id_sex_code(number) == sex


def test_lower_case_x_is_normalised() -> None:
    assert validate_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("110105194912310021", "check character"),
        ("11010519491231002", "18 characters"),
        ("1101051949123100XX", "17 digits"),
        ("99010519491231002X", "address code"),
        ("110000194912310020", "address code"),
        ("110105194902300021", "not a valid date"),
        ("110105170001010020", "out of range"),
    ],
)
def test_invalid_numbers_are_rejected_without_echoing_them(number: str, message: str) -> None:
    with pytest.raises(CodecError, match=message) as info:
        validate_id_number(number, field="SFZH (居民身份证号码)")
    assert "SFZH (居民身份证号码)" in str(info.value)
    assert number not in str(info.value)


def test_birth_date_must_match_csrq_and_not_be_in_the_future() -> None:
    with pytest.raises(CodecError, match="differs from the birth date"):
        validate_id_number("11010519491231002X", birth_date=dt.date(1949, 12, 30))
    with pytest.raises(CodecError, match="out of range"):
        validate_id_number("11010519491231002X", today=dt.date(1949, 12, 30))


def test_residence_permit_province_level_codes_are_plausible() -> None:
    body = "81000019900101001"
    number = body + id_check_character(body)
    assert validate_id_number(number) == number


@given(
    st.sampled_from(["110105", "440524", "130185", "210102", "650102"]),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2024, 12, 31)),
    st.integers(min_value=0, max_value=999),
)
def test_generated_numbers_validate_and_any_single_digit_change_is_caught(
    region: str, born: dt.date, sequence: int
) -> None:
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    number = body + id_check_character(body)
    assert validate_id_number(number, birth_date=born) == number
    # MOD 11-2 detects every single-digit substitution.
    for position in (0, 9, 16):
        wrong = str((int(body[position]) + 1) % 10)
        altered = body[:position] + wrong + body[position + 1 :] + number[17]
        assert id_check_character(altered[:17]) != number[17]


def test_mask_keeps_four_leading_and_two_trailing_characters() -> None:
    assert mask_id_number("11010519491231002X") == "1101************2X"
    assert len(mask_id_number("440524188001010014")) == 18
    assert mask_id_number("1234567") == "*******"
    assert "19491231" not in mask_id_number("11010519491231002X")
