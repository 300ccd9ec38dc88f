"""Internal consistency of the file and data-item tables (fact sheet §1, §2.1, §4)."""

from __future__ import annotations

import pytest

from cardservice.errors import CodecError
from cardservice.healthcard import (
    CARD_FILES,
    CODE_TABLES,
    DATA_ITEMS,
    INTERFACE_FUNCTIONS,
    Confidence,
    FileKind,
    Format,
    Kind,
    UpdateSm,
    card_file,
    item_by_abbreviation,
    item_by_tag,
    items_by_abbreviation,
    items_in_file,
)
from cardservice.healthcard._layouts import ALLERGY_LAYOUT, IMMUNISATION_LAYOUT
from tests.conftest import unhex

_KINDS_BY_FORMAT = {
    Format.AN: {Kind.TEXT},
    Format.CN: {Kind.DIGITS, Kind.NUMBER, Kind.DATE, Kind.DATETIME},
    Format.B: {Kind.BYTE, Kind.BYTES},
}


def test_tags_abbreviations_and_names_are_unique() -> None:
    assert len({i.tag for i in DATA_ITEMS}) == len(DATA_ITEMS)
    assert len({i.abbreviation for i in DATA_ITEMS}) == len(DATA_ITEMS)
    assert len({i.name for i in DATA_ITEMS}) == len(DATA_ITEMS)


def test_tlv_items_are_the_national_numbers_1_to_57() -> None:
    """§2.1: tags 1-57 are the TLV items; 58-63 are non-TLV (allergy, immunisation, index)."""
    assert sorted(i.tag for i in DATA_ITEMS) == list(range(1, 58))


def test_every_item_lives_in_an_existing_tlv_file() -> None:
    for item in DATA_ITEMS:
        assert card_file(item.file).kind is FileKind.TLV_RECORDS, item.abbreviation


def test_record_sizes_are_two_plus_item_length() -> None:
    """§2.1: a record is tag ‖ length ‖ value at full length, so its size is 2 + Len."""
    for f in CARD_FILES:
        if f.kind is not FileKind.TLV_RECORDS:
            continue
        items = items_in_file(f.path)
        assert [i.record for i in items] == list(range(1, f.record_count + 1)), f.path
        assert tuple(i.record_size for i in items) == f.record_sizes, f.path


def test_ddf1_ef05_record_sizes_as_the_sheet_lists_them() -> None:
    assert card_file("DDF1/EF05").record_sizes == (3, 6, 32, 13, 182, 6, 20, 5, 12, 5)
    assert item_by_abbreviation("FKJGZS").record_size == 182
    assert item_by_abbreviation("YYCSDM").record == 10


def test_formats_and_kinds_agree() -> None:
    for item in DATA_ITEMS:
        assert item.kind in _KINDS_BY_FORMAT[item.format], item.abbreviation
        if item.kind is Kind.DATE:
            assert item.length == 4
        if item.kind is Kind.BYTE:
            assert item.length == 1


def test_code_table_references_exist() -> None:
    for item in DATA_ITEMS:
        assert item.code_table is None or item.code_table in CODE_TABLES, item.abbreviation


def test_every_file_has_an_existing_parent_df() -> None:
    paths = {f.path for f in CARD_FILES}
    for f in CARD_FILES:
        if f.path != "MF":
            assert f.parent in paths or f.parent == "", f.path
        if f.is_df:
            assert f.record_count == 0
            assert f.size is None
        elif f.kind is FileKind.TRANSPARENT:
            assert f.size is not None
            assert f.record_count == 0
        else:
            assert f.record_count > 0
            assert f.size is None


def test_fids_unique_within_each_df() -> None:
    seen: dict[tuple[str, int], str] = {}
    for f in CARD_FILES:
        key = (f.parent, f.fid)
        assert key not in seen, (f.path, seen.get(key))
        seen[key] = f.path


def test_application_identifiers() -> None:
    """§1: DDF name WS.SYS.DDF01 and AIDs 9156000132 00/01/02."""
    assert card_file("DDF1").df_name == b"WS.SYS.DDF01"
    assert card_file("DF01").df_name == unhex("91 56 00 01 32 00")
    assert card_file("DF02").df_name == unhex("91 56 00 01 32 01")
    assert card_file("DF03").df_name == unhex("91 56 00 01 32 02")
    assert card_file("DDF1/DF03").fid == 0xDF03


def test_non_tlv_file_shapes() -> None:
    assert card_file("DDF1/EF07").size == 3074
    allergy, immunisation = card_file("DF02/EF07"), card_file("DF02/EF08")
    assert (allergy.kind, allergy.record_sizes) == (FileKind.CYCLIC, (120,) * 3)
    assert (immunisation.kind, immunisation.record_sizes) == (FileKind.CYCLIC, (24,) * 10)
    assert allergy.record_sizes[0] == ALLERGY_LAYOUT.size
    assert immunisation.record_sizes[0] == IMMUNISATION_LAYOUT.size
    assert card_file("DF03/EF05").record_sizes == (1, 1, 1)
    assert card_file("DF03/EF06").record_sizes == (1,) * 5
    assert [card_file(f"DF03/EE0{n}").size for n in (1, 2, 3)] == [1893] * 3
    assert [card_file(f"DF03/ED0{n}").size for n in range(1, 6)] == [3267] * 5


def test_keys_and_secure_messaging_per_file() -> None:
    """§4.1/§4.2 key table and access rules."""
    assert card_file("DDF1/EF05").read_key is None  # free read
    assert card_file("DDF1/EF05").update_sm is UpdateSm.PROHIBITED
    assert card_file("DDF1/EF06").read_key == "RK1DDF1"
    assert card_file("DF01/EF06").update_key == "UK1DF01"
    assert card_file("DF01/EF06").update_sm is UpdateSm.ENC_MAC
    assert card_file("DF02/EF06").update_key == "UK2DF02"
    assert card_file("DF02/EF08").update_key == "UK3DF02"
    assert (card_file("DF03/EF05").update_key, card_file("DF03/EF05").erase_key) == ("UK1DF03", "UK2DF03")
    assert card_file("DF03/ED05").update_sm is UpdateSm.PLAIN
    for f in CARD_FILES:
        if f.read_key is not None:
            assert f.read_key == f"RK1{f.parent.split('/')[-1]}", f.path


def test_lookups() -> None:
    assert item_by_tag(0x0B).abbreviation == "XM"
    assert item_by_abbreviation("xm").label == "姓名"
    assert item_by_abbreviation("JKDABH") is item_by_abbreviation("JKDAH")
    assert "JKDABH" not in items_by_abbreviation()
    assert items_by_abbreviation()["SFZH"].tag == 15
    assert [i.abbreviation for i in items_in_file("DDF1/EF06")] == ["XM", "XB", "MZ", "CSRQ", "SFZH"]
    with pytest.raises(CodecError, match="3A"):
        item_by_tag(0x3A)
    with pytest.raises(CodecError):
        item_by_abbreviation("NOPE")
    with pytest.raises(CodecError):
        card_file("DDF1/EF09")


def test_uncertain_rows_say_so() -> None:
    """Rows built on a choice carry a lower confidence or a note naming the unknown."""
    assert card_file("MF").confidence is Confidence.LOW
    for abbreviation in ("KLB", "DZLB1", "LXRGX1", "ZJLB", "XCBZ"):
        assert "UNKNOWN" in item_by_abbreviation(abbreviation).note


def test_interface_functions_reference_real_items_and_files() -> None:
    layout_abbreviations = {f.abbreviation for f in ALLERGY_LAYOUT.fields + IMMUNISATION_LAYOUT.fields}
    extra = {"ZHAOPIAN"} | {f"ZYJLBS{n}" for n in (1, 2, 3)} | {f"MZJLBS{n}" for n in range(1, 6)}
    known = set(items_by_abbreviation()) | layout_abbreviations | extra
    for function in INTERFACE_FUNCTIONS:
        card_file(function.file)
        assert set(function.parameters) <= known, function.name
    ef06 = next(f for f in INTERFACE_FUNCTIONS if f.name == "iR_DDF1EF06Info")
    assert ef06.parameters == ("XM", "XB", "MZ", "CSRQ", "SFZH")
    # every TLV item is reachable through exactly one read function
    read_params = [p for f in INTERFACE_FUNCTIONS if f.name.startswith("iR_") for p in f.parameters]
    assert sorted(p for p in read_params if p in items_by_abbreviation()) == sorted(items_by_abbreviation())
