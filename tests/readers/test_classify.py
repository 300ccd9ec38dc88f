"""Library exceptions → the daemon's stable error codes (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cardservice.errors import CardAbsentError, CodecError, VerificationFailedError
from cardservice.healthcard import Allergy
from cardservice.readers import classify


def model_error() -> ValidationError:
    try:
        Allergy.model_validate({"substance": "过敏物质" * 16})
    except ValidationError as exc:
        return exc
    raise AssertionError("the allergy should not fit its record")


@pytest.mark.parametrize(("writing", "code"), [(True, "invalid_data"), (False, "invalid_card_data")])
def test_values_that_do_not_fit_the_card_are_data_errors(writing: bool, code: str) -> None:
    assert classify(model_error(), writing=writing).code == code
    assert classify(CodecError("too long"), writing=writing).code == code


def test_a_card_pulled_during_a_write_says_the_outcome_is_unknown() -> None:
    problem = classify(CardAbsentError("gone"), writing=True)
    assert problem.code == "card_removed"
    assert "may be incomplete" in problem.message


def test_a_refused_key_reports_the_tries_left() -> None:
    problem = classify(VerificationFailedError(0x63C2, b""))
    assert problem.code == "auth_failed"
    assert problem.details == {"tries_left": 2}


def test_anything_else_is_an_internal_error() -> None:
    assert classify(RuntimeError("bug")).code == "internal_error"
