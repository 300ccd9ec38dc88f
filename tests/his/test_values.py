"""Connector values: the patient comes from a card (validated, masked in repr); the abnormal flag is
computed from the reference range; one error tree with stable codes."""

from __future__ import annotations

import pytest

from cardservice.his import (
    ABNORMAL_HIGH,
    ABNORMAL_LOW,
    ABNORMAL_TEXT,
    AlreadySettled,
    AmountMismatch,
    HisError,
    HisRejected,
    HisTimeout,
    HisUnavailable,
    LabItem,
    NotFound,
    Patient,
    SlotFull,
    abnormal_flag,
    error_for_code,
)
from tests.his.conftest import make_patient


def test_a_patient_is_a_valid_card_number_and_a_name_and_its_repr_masks_the_number() -> None:
    patient = make_patient(123)
    assert patient.card_number[:17] == "11010519900101123"
    assert len(patient.card_number) == 18
    assert patient.card_number not in repr(patient)
    assert "1101************" in repr(patient)
    assert "张三" not in repr(patient)


@pytest.mark.parametrize(
    ("number", "name"),
    [
        ("110105199001011230", "张三"),  # wrong check character
        ("11010519900101123", "张三"),  # 17 characters
        ("11010519900101123x", "张三"),  # lower-case x: the card gives upper case
        ("110105198503071230", ""),
        ("110105198503071230", "名" * 65),
    ],
)
def test_a_malformed_patient_is_refused(number: str, name: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is the validator's
        Patient(number, name)


@pytest.mark.parametrize(
    ("result", "low", "high", "text", "flag"),
    [
        ("10.8", "3.5", "9.5", None, ABNORMAL_HIGH),
        ("9.5", "3.5", "9.5", None, ""),  # the bounds are inside the range
        ("3.5", "3.5", "9.5", None, ""),
        ("3.49", "3.5", "9.5", None, ABNORMAL_LOW),
        ("7.2", None, "6.8", None, ABNORMAL_HIGH),
        ("0.1", "0.5", None, None, ABNORMAL_LOW),
        ("<0.5", "0", "1", None, ""),  # not a number: never flagged
        ("阴性", None, None, "阴性", ""),
        ("弱阳性(±)", None, None, "阴性", ABNORMAL_TEXT),
        ("1.6", None, None, None, ""),
        ("NaN", "1", "2", None, ""),
    ],
)
def test_the_abnormal_flag_comes_from_the_range(
    result: str, low: str | None, high: str | None, text: str | None, flag: str
) -> None:
    assert abnormal_flag(result, low, high, text) == flag
    assert LabItem("X", "x", result, None, low, high, text).abnormal == flag


def test_a_reference_range_prints_as_on_a_report() -> None:
    assert LabItem("WBC", "白细胞计数", "5", "10^9/L", "3.5", "9.5").reference_range == "3.5-9.5"
    assert LabItem("DBIL", "直接胆红素", "4", "μmol/L", None, "6.8").reference_range == "<6.8"
    assert LabItem("A", "a", "4", None, "1.0", None).reference_range == ">1.0"
    assert LabItem("PRO", "尿蛋白", "阴性", None, reference_text="阴性").reference_range == "阴性"


def test_the_error_tree_has_stable_codes_and_chinese_messages() -> None:
    assert issubclass(HisTimeout, HisUnavailable)
    assert issubclass(SlotFull, HisRejected)
    assert issubclass(NotFound, HisError)
    error = AmountMismatch("x", details={"expected_fen": 100})
    assert (error.code, error.message_zh, error.details) == (
        "amount_mismatch",
        "缴费金额与账单金额不符",
        {"expected_fen": 100},
    )
    assert error_for_code("already_settled") is AlreadySettled
    assert error_for_code("something_new") is HisRejected
    assert HisTimeout("t", message_zh="超时").message_zh == "超时"
