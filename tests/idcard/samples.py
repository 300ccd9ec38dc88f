"""Card texts for the tests, built field by field at the offsets of the facts sheet
(/work/shared/spec/idcard-reader-facts.md B3, B4) — not with the codec's own encoder, so that the
decoder is checked against the sheet. Every person is synthetic (测试…, made-up numbers)."""

from __future__ import annotations

from cardservice.healthcard import id_check_character


def ucs2(value: str, size: int) -> bytes:
    """*value* as UCS-2LE in *size* bytes, padded with spaces."""
    encoded = value.encode("utf-16-le")
    assert len(encoded) <= size, value
    return encoded + " ".encode("utf-16-le") * ((size - len(encoded)) // 2)


def text(*fields: tuple[str, int]) -> bytes:
    out = b"".join(ucs2(value, size) for value, size in fields)
    assert len(out) == 256
    return out


def number(first17: str) -> str:
    return first17 + id_check_character(first17)


RESIDENT_NUMBER = number("11010120000101999")
HMT_NUMBER = number("81000019950505998")
FOREIGN_2023_NUMBER = number("91112400010199900")
FOREIGN_OLD_NUMBER = "CAN110080020299"

# B3's table, in its order: name 30, sex 2, ethnicity 4, birth 16, address 70, number 36, authority 30,
# valid from 16, valid to 16, reserved 36 (the type flag ' ' at 248 is one of its spaces).
RESIDENT_TEXT = text(
    ("测试人", 30), ("1", 2), ("01", 4), ("20000101", 16), ("北京市东城区测试路1号测试楼101室", 70),
    (RESIDENT_NUMBER, 36), ("测试市公安局测试分局", 30), ("20200101", 16), ("长期", 16), ("", 36),
)  # fmt: skip

# 'J': the resident layout, no ethnicity, then permit number 18 and issue count 4 from offset 220.
HMT_TEXT = text(
    ("测试港人", 30), ("2", 2), ("", 4), ("19950505", 16), ("广东省深圳市福田区测试路2号", 70),
    (HMT_NUMBER, 36), ("测试市公安局", 30), ("20220601", 16), ("20270601", 16), ("H00000001", 18),
    ("01", 4), ("", 6), ("J", 2), ("", 6),
)  # fmt: skip

# 'I': English name 120, sex 2, number 30, nationality 6, Chinese name 30, valid from / to, birth, version 4,
# authority code 8, the flag.
FOREIGN_OLD_TEXT = text(
    ("TEST, PERSON ONE", 120), ("1", 2), (FOREIGN_OLD_NUMBER, 30), ("CAN", 6), ("测试外人", 30),
    ("20170303", 16), ("20270303", 16), ("19800202", 16), ("01", 4), ("1100", 8), ("I", 2), ("", 6),
)  # fmt: skip

# 'Y': name 30, sex 2, renewal count 4, birth 16, English name 70 (+ 22 after the validity), number 36,
# authority 30, valid from / to, nationality 6, the flag. The English name is cut at 35 characters, where
# a space begins the rest: the join must keep it.
FOREIGN_2023_ENGLISH = "TESTPERSON, SECOND SYNTHETIC SAMPLE NAME"
FOREIGN_2023_TEXT = text(
    ("测试永居", 30), ("2", 2), ("00", 4), ("20000101", 16), (FOREIGN_2023_ENGLISH[:35], 70),
    (FOREIGN_2023_NUMBER, 36), ("国家移民管理局", 30), ("20231201", 16), ("20331201", 16),
    (FOREIGN_2023_ENGLISH[35:], 22), ("CAN", 6), ("Y", 2), ("", 6),
)  # fmt: skip
