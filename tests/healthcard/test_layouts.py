"""Fixed layouts: allergy/immunisation records (§2.2) and the EE0n/ED0n encounter records (§3.1, §3.2)."""

from __future__ import annotations

import pytest

from cardservice.errors import CodecError
from cardservice.healthcard import (
    ALLERGY_LAYOUT,
    IMMUNISATION_LAYOUT,
    INPATIENT_LAYOUT,
    OUTPATIENT_LAYOUT,
    Format,
    Kind,
    RecordLayout,
)

LAYOUTS = [ALLERGY_LAYOUT, IMMUNISATION_LAYOUT, INPATIENT_LAYOUT, OUTPATIENT_LAYOUT]
_KINDS_BY_FORMAT = {
    Format.AN: {Kind.TEXT},
    Format.CN: {Kind.DIGITS, Kind.NUMBER, Kind.DATE, Kind.DATETIME},
    Format.B: {Kind.BYTE, Kind.BYTES},
}


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_offsets_are_contiguous_and_cover_the_record(layout: RecordLayout) -> None:
    position = 0
    for field in layout.fields:
        assert field.offset == position, field.key
        position = field.end
    assert position == layout.size


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_fields_are_well_formed(layout: RecordLayout) -> None:
    keys = [f.key for f in layout.fields]
    assert len(set(keys)) == len(keys)
    items = [f.item for f in layout.fields]
    assert items == list(range(items[0], items[0] + len(items)))  # item numbers are consecutive
    for field in layout.fields:
        assert field.kind in _KINDS_BY_FORMAT[field.format], field.key
        assert (field.group is None) == (field.index is None), field.key
        if field.kind is Kind.DATE:
            assert field.length == 4
        if field.kind is Kind.DATETIME:
            assert field.length == 7


def test_inpatient_sizes() -> None:
    """§3.1: 1639 data + 64 signature + 190 SAM certificate = 1893; items 64-212."""
    data = [f for f in INPATIENT_LAYOUT.fields if f.end <= INPATIENT_LAYOUT.data_size]
    assert sum(f.length for f in data) == 1639 == INPATIENT_LAYOUT.data_size
    assert (data[0].item, data[-1].item) == (64, 210)
    signature, certificate = INPATIENT_LAYOUT.fields[-2:]
    assert (signature.item, signature.offset, signature.length) == (211, 1639, 64)
    assert (certificate.item, certificate.offset, certificate.length) == (212, 1703, 190)
    assert 1639 + 64 + 190 == INPATIENT_LAYOUT.size == 1893


def test_outpatient_sizes() -> None:
    """§3.2: 3013 data + 64 signature + 190 SAM certificate = 3267; items 213-384."""
    data = [f for f in OUTPATIENT_LAYOUT.fields if f.end <= OUTPATIENT_LAYOUT.data_size]
    assert sum(f.length for f in data) == 3013 == OUTPATIENT_LAYOUT.data_size
    assert (data[0].item, data[-1].item) == (213, 382)
    assert [(f.item, f.offset) for f in OUTPATIENT_LAYOUT.fields[-2:]] == [(383, 3013), (384, 3077)]
    assert OUTPATIENT_LAYOUT.size == 3267


@pytest.mark.parametrize(
    ("layout", "group", "count", "per_group"),
    [
        (INPATIENT_LAYOUT, "diagnoses", 3, 16),
        (INPATIENT_LAYOUT, "transfusions", 4, 3),
        (INPATIENT_LAYOUT, "fees", 20, 3),
        (OUTPATIENT_LAYOUT, "diagnoses", 5, 7),
        (OUTPATIENT_LAYOUT, "lab_tests", 10, 5),
        (OUTPATIENT_LAYOUT, "medications", 5, 8),
        (OUTPATIENT_LAYOUT, "procedures", 3, 3),
        (OUTPATIENT_LAYOUT, "fees", 10, 3),
    ],
)
def test_group_structure(layout: RecordLayout, group: str, count: int, per_group: int) -> None:
    """§3 'group structure' paragraphs; every repetition has the same names, lengths and formats."""
    fields = [f for f in layout.fields if f.group == group]
    assert len(fields) == count * per_group
    shapes = {
        index: [(f.name, f.length, f.format, f.kind) for f in fields if f.index == index]
        for index in range(1, count + 1)
    }
    assert all(shape == shapes[1] for shape in shapes.values())
    assert len(shapes[1]) == per_group


def test_spot_checks_against_the_sheet() -> None:
    assert INPATIENT_LAYOUT.field("admission_date").offset == 80
    assert INPATIENT_LAYOUT.field("diagnoses[2].diagnosis_name").offset == 461
    assert INPATIENT_LAYOUT.field("fees[20].amount").offset == 1584
    assert INPATIENT_LAYOUT.field("autopsy_flag").format is Format.B
    assert OUTPATIENT_LAYOUT.field("visit_time").kind is Kind.DATETIME
    assert OUTPATIENT_LAYOUT.field("lab_tests[10].code").offset == 2021
    assert OUTPATIENT_LAYOUT.field("medications[1].total_dose").length == 6
    # the two tables differ here, as in the sheet: inpatient fee category code AN 1, outpatient CN 1
    assert INPATIENT_LAYOUT.field("fees[1].category_code").format is Format.AN
    assert OUTPATIENT_LAYOUT.field("fees[1].category_code").format is Format.CN
    with pytest.raises(CodecError):
        INPATIENT_LAYOUT.field("nope")


def test_layout_encode_decode_and_errors() -> None:
    empty = INPATIENT_LAYOUT.encode({})
    assert len(empty) == 1639
    assert all(v is None for v in INPATIENT_LAYOUT.decode(empty).values())
    assert len(INPATIENT_LAYOUT.encode({}, full=True)) == 1893
    with pytest.raises(CodecError, match="unknown field"):
        INPATIENT_LAYOUT.encode({"nope": 1})
    with pytest.raises(CodecError, match="full=True"):
        INPATIENT_LAYOUT.encode({"signature": bytes(64)})
    with pytest.raises(CodecError, match="expected 1639 or 1893"):
        INPATIENT_LAYOUT.decode(bytes(1640))
    with pytest.raises(CodecError, match=r"#64 住院机构名称"):
        INPATIENT_LAYOUT.encode({"institution_name": "院" * 36})
