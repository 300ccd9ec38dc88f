"""Citizen identity numbers (公民身份号码) per GB 11643-1999, and their masked form for logs.

Structure (GB 11643-1999 §4): 6-digit address code (GB/T 2260 division) ‖ 8-digit birth date YYYYMMDD ‖
3-digit sequence code (odd for men, even for women) ‖ check character. The check character is ISO 7064
MOD 11-2: sum of digit × weight (weights 2^(17-i) mod 11 = 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2), mod 11,
mapped through ``10X98765432``.

Address-code plausibility is deliberately shallow: six digits whose first two are a province-level code of
GB/T 2260 (11-15, 21-23, 31-37, 41-46, 50-54, 61-65) or 71/81/82/83 (Taiwan, Hong Kong, Macao, and the
residence permits for their residents). Full GB/T 2260 validation is impossible offline: old cards keep
abolished county codes forever.

Errors never quote the number: it is personal data.
"""

from __future__ import annotations

import datetime as _dt

from cardservice.errors import CodecError

__all__ = [
    "ID_CHECK_CHARACTERS",
    "ID_WEIGHTS",
    "id_birth_date",
    "id_check_character",
    "id_sex_code",
    "mask_id_number",
    "validate_id_number",
]

ID_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
ID_CHECK_CHARACTERS = "10X98765432"

_PROVINCE_CODES = frozenset(
    {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46}
    | {50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}
)
# GB 11643's own example (440524188001010014) is born in 1880, so the floor is generous.
_EARLIEST_BIRTH = _dt.date(1850, 1, 1)


def id_check_character(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise CodecError("ID number: the check character needs exactly 17 ASCII digits")
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[total % 11]


def validate_id_number(
    number: str,
    *,
    birth_date: _dt.date | None = None,
    today: _dt.date | None = None,
    field: str = "ID number",
) -> str:
    """Validate an 18-character citizen ID number and return it normalised (upper-case ``X``).

    Checks: form (17 digits + digit/X), address-code plausibility, a valid embedded birth date (not before
    1850, not after ``today`` when given), the check character, and — when ``birth_date`` (CSRQ) is given —
    that the embedded date equals it. Raises :class:`CodecError` naming ``field``.
    """
    value = number.strip().upper()
    if len(value) != 18:
        raise CodecError(f"{field}: must be 18 characters, got {len(value)}")
    body, check = value[:17], value[17]
    if not (body.isascii() and body.isdigit()) or check not in "0123456789X":
        raise CodecError(f"{field}: must be 17 digits followed by a digit or X")
    # A province-level code ("xx0000") is only valid for the Taiwan/Hong Kong/Macao residence permits.
    province_only = body[2:6] == "0000" and body[:2] not in {"71", "81", "82", "83"}
    if int(body[:2]) not in _PROVINCE_CODES or province_only:
        raise CodecError(f"{field}: address code is not a plausible GB/T 2260 division")
    born = id_birth_date(value, field=field)
    if born < _EARLIEST_BIRTH or (today is not None and born > today):
        raise CodecError(f"{field}: embedded birth date is out of range")
    if id_check_character(body) != check:
        raise CodecError(f"{field}: check character does not match (GB 11643 MOD 11-2)")
    if birth_date is not None and born != birth_date:
        raise CodecError(f"{field}: embedded birth date differs from the birth date (CSRQ)")
    return value


def id_birth_date(number: str, *, field: str = "ID number") -> _dt.date:
    """The birth date embedded at positions 7-14 of an 18-character ID number."""
    digits = number[6:14]
    if len(digits) != 8 or not (digits.isascii() and digits.isdigit()):
        raise CodecError(f"{field}: no birth date at positions 7-14")
    try:
        return _dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise CodecError(f"{field}: embedded birth date is not a valid date") from None


def id_sex_code(number: str) -> int:
    """GB/T 2261.1 sex code implied by the sequence code: odd -> 1 (male), even -> 2 (female)."""
    digit = number[16:17]
    if not (digit.isascii() and digit.isdigit()):
        raise CodecError("ID number: no sequence code at position 17")
    return 1 if int(digit) % 2 else 2


def mask_id_number(number: str) -> str:
    """The form of an ID number that may appear in logs: first 4 and last 2 characters kept.

    ``11010519491231002X`` -> ``1101************2X``: province + city (not identifying on their own) and
    two trailing characters so operators can tell two cards apart; birth date and sequence are hidden.
    Anything shorter than 8 characters is masked completely. Length is preserved.
    """
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 6) + number[-2:]
