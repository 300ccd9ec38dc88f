"""Hostile input to every decoder of the health-card layer: only the project's CodecError comes out.

The card is not trusted: a damaged chip, a card of another application or a tampered image can hand
the terminal any bytes. Round trips live next to each codec's tests; this file is the fuzzing side.
"""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from cardservice.errors import CodecError
from cardservice.healthcard import (
    ALLERGY_LAYOUT,
    IMMUNISATION_LAYOUT,
    INPATIENT_LAYOUT,
    OUTPATIENT_LAYOUT,
    Allergy,
    Immunisation,
    InpatientIndex,
    InpatientRecord,
    OutpatientIndex,
    OutpatientRecord,
    card_factor,
    city_factor,
    decode_an,
    decode_cn,
    decode_photo,
    models_by_file,
    validate_id_number,
)

LAYOUTS = (ALLERGY_LAYOUT, IMMUNISATION_LAYOUT, INPATIENT_LAYOUT, OUTPATIENT_LAYOUT)
LAYOUT_MODELS = (Allergy, Immunisation, InpatientRecord, OutpatientRecord)
TLV_MODELS = tuple(models_by_file().values())


@given(st.binary(max_size=64))
def test_text_and_digit_fields(raw: bytes) -> None:
    for decode in (decode_an, decode_cn):
        with contextlib.suppress(CodecError):
            assert isinstance(decode(raw, field="XM"), str)


@given(st.binary(max_size=3200))
def test_photo(raw: bytes) -> None:
    with contextlib.suppress(CodecError):
        image = decode_photo(raw)
        assert image is None or len(image) <= len(raw)


@given(st.sampled_from(range(len(LAYOUTS))), st.data())
def test_fixed_layouts_and_their_models(index: int, data: st.DataObject) -> None:
    layout, model = LAYOUTS[index], LAYOUT_MODELS[index]
    size = data.draw(st.sampled_from([0, 1, layout.data_size - 1, layout.data_size, layout.size]))
    raw = data.draw(st.one_of(st.binary(min_size=size, max_size=size), st.just(b"\xff" * size)))
    with contextlib.suppress(CodecError):
        assert isinstance(layout.decode(raw), dict)
    with contextlib.suppress(CodecError):
        assert isinstance(model.from_bytes(raw), model)


@given(st.sampled_from(TLV_MODELS), st.lists(st.binary(max_size=200), max_size=16))
def test_tlv_file_models(model: type, records: list[bytes]) -> None:
    with contextlib.suppress(CodecError):
        assert isinstance(model.from_records(records), model)  # type: ignore[attr-defined]


@given(st.lists(st.binary(max_size=3), max_size=7))
def test_index_files(records: list[bytes]) -> None:
    for index in (InpatientIndex, OutpatientIndex):
        with contextlib.suppress(CodecError):
            assert len(index.from_records(records).in_use) == index.SLOTS


@given(st.text(max_size=24))
def test_id_numbers(text: str) -> None:
    with contextlib.suppress(CodecError):
        assert len(validate_id_number(text)) == 18


@given(st.binary(max_size=40), st.text(max_size=8))
def test_diversification_inputs(atr: bytes, city: str) -> None:
    with contextlib.suppress(CodecError):
        assert len(card_factor(atr)) == 8
    with contextlib.suppress(CodecError):
        assert len(city_factor(city)) == 8
