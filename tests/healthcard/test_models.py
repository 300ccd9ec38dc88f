"""Typed models: conversion through the tables, validation, the abbreviation view."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from cardservice.errors import CodecError
from cardservice.healthcard import (
    CARD_FILES,
    PHOTO_FILE_SIZE,
    Addresses,
    Allergy,
    Cardholder,
    CardValidity,
    ClinicalBasics,
    FileKind,
    Immunisation,
    InpatientDiagnosis,
    InpatientFee,
    InpatientIndex,
    InpatientRecord,
    IssuerData,
    LabTest,
    OutpatientDiagnosis,
    OutpatientIndex,
    OutpatientRecord,
    Transfusion,
    decode_photo,
    encode_photo,
    items_in_file,
    models_by_file,
    to_abbreviations,
)
from tests.conftest import unhex

ID = "11010519491231002X"  # the GB 11643 example number
BORN = dt.date(1949, 12, 31)


def test_every_tlv_file_has_a_model_whose_fields_are_its_items() -> None:
    models = models_by_file()
    assert set(models) == {f.path for f in CARD_FILES if f.kind is FileKind.TLV_RECORDS}
    for path, model in models.items():
        items = model.items()
        assert [i.abbreviation for i in items.values()] == [i.abbreviation for i in items_in_file(path)]
        assert all(name == item.name for name, item in items.items()), path


def test_cardholder_records_byte_for_byte() -> None:
    holder = Cardholder(name="张三", sex=1, ethnicity="01", birth_date=BORN, id_number=ID)
    records = holder.to_records()
    assert records == {
        1: unhex("0B 1E D5 C5 C8 FD") + bytes(26),
        2: unhex("0C 01 01"),
        3: unhex("0D 01 01"),
        4: unhex("0E 04 19 49 12 31"),
        5: unhex("0F 12") + ID.encode(),
    }
    assert Cardholder.from_records(records.values()) == holder


def test_from_records_accepts_any_order_and_empty_slots() -> None:
    records = [
        unhex("0E 04 19 49 12 31"),
        b"\xff" * 32,
        unhex("0B 1E") + "古丽·买买提".encode("gb18030").ljust(30, b"\0"),
    ]
    holder = Cardholder.from_records(records)
    assert (holder.name, holder.birth_date, holder.sex) == ("古丽·买买提", BORN, None)


def test_issuer_data_from_observed_values() -> None:
    """DDF1/EF05 as read with 00 B2 nn 04 00 from the traced Hebei card (values per §2.1 / §8)."""
    records = [
        unhex("01 01 31"),
        unhex("02 04 56 31 2E 31"),
        unhex("03 1E") + "石家庄市卫生局".encode("gb18030").ljust(30, b"\0"),
        unhex("04 0B 00 02 24 83 AF FF FF FF FF FF FF"),
        unhex("05 B4 23 00 00 00 01 02") + bytes(174),
        unhex("06 04 20 13 09 13"),
        unhex("08 12") + ID.encode(),
        unhex("09 03 30 30 30"),
        unhex("0A 0A 31 33 30 39 31 33 33 36 34 36"),
        unhex("39 03 13 01 85"),
    ]
    issuer = IssuerData.from_records(records)
    assert issuer.issuer_name == "石家庄市卫生局"
    assert issuer.issuer_code == "00022483A"
    assert issuer.city_code == "130185"
    assert issuer.issue_date == dt.date(2013, 9, 13)
    assert issuer.issuer_certificate is not None
    assert issuer.issuer_certificate[:6] == unhex("23 00 00 00 01 02")
    assert list(issuer.to_records().values()) == records
    assert "1101************2X" in repr(issuer)
    assert ID not in repr(issuer)
    assert ID not in str(issuer)


def test_cardholder_validates_the_id_number_against_the_birth_date() -> None:
    with pytest.raises(
        ValidationError, match=r"SFZH \(居民身份证号码\): embedded birth date differs"
    ) as info:
        Cardholder(id_number=ID, birth_date=dt.date(1950, 1, 1))
    assert ID not in str(info.value)  # pydantic must not echo the input
    with pytest.raises(ValidationError, match="check character"):
        Cardholder(id_number="110105194912310021")
    assert Cardholder(id_number=ID.lower()).id_number == ID


def test_from_records_raises_codec_error_naming_the_field_without_the_value() -> None:
    bad = unhex("0F 12") + b"110105194912310021"
    with pytest.raises(CodecError, match="SFZH") as info:
        Cardholder.from_records([bad])
    assert "110105194912310021" not in str(info.value)
    with pytest.raises(CodecError, match="two records"):
        Cardholder.from_records([unhex("0C 01 01"), unhex("0C 01 02")])
    with pytest.raises(CodecError, match="does not belong"):
        Cardholder.from_records([unhex("39 03 13 01 85")])


def test_ethnicity_needs_the_two_digit_gb3304_code() -> None:
    with pytest.raises(ValidationError, match="MZ"):
        Cardholder(ethnicity="1")


def test_width_errors_name_abbreviation_and_label() -> None:
    with pytest.raises(ValidationError, match=r"DZ1 \(地址1\): text needs 102 bytes"):
        Addresses(address1="街" * 51)
    with pytest.raises(ValidationError, match=r"YLFYZFFS1 \(医疗费用支付方式1\)"):
        CardValidity(payment_type1="123")


def test_abbreviation_view_both_ways() -> None:
    holder = Cardholder.model_validate({"XM": "李四", "XB": 2, "CSRQ": "1949-12-31"})
    assert holder.name == "李四"
    assert holder.birth_date == BORN
    view = to_abbreviations(holder)
    assert view == {"XM": "李四", "XB": 2, "MZ": None, "CSRQ": BORN, "SFZH": None}
    clinical = ClinicalBasics(abo_blood_group=4, asthma=0)
    assert to_abbreviations(clinical)["ABOXX"] == 4
    assert clinical.to_records() == {1: unhex("29 01 04"), 3: unhex("2B 01 00")}


def test_allergy_and_immunisation_records() -> None:
    allergy = Allergy(substance="青霉素", reaction="皮疹")
    raw = allergy.to_bytes()
    assert len(raw) == 120
    assert raw[:6] == "青霉素".encode("gb18030")
    assert raw[20:24] == "皮疹".encode("gb18030")
    assert Allergy.from_bytes(raw) == allergy
    assert to_abbreviations(allergy) == {"GMWZMC": "青霉素", "GMFY": "皮疹"}
    shot = Immunisation.model_validate({"MYJZMC": "乙肝疫苗", "MYJZSJ": "2015-11-03"})
    assert shot.to_bytes()[20:] == unhex("20 15 11 03")
    assert Immunisation.from_bytes(shot.to_bytes()) == shot
    assert Immunisation.from_bytes(b"\xff" * 24) == Immunisation()


def _inpatient() -> InpatientRecord:
    return InpatientRecord(
        institution_name="河北医科大学第二医院",
        institution_code="40178385X",
        admission_date=dt.date(2015, 11, 1),
        admission_count=2,
        diagnoses=[
            InpatientDiagnosis(
                diagnosis_name="社区获得性肺炎", diagnosis_code="J18.901", diagnosis_date=dt.date(2015, 11, 2)
            ),
            InpatientDiagnosis(diagnosis_name="高血压", procedure_date=dt.date(2015, 11, 3)),
        ],
        transfusions=[Transfusion(product_code="1", volume=400, unit="ml")],
        discharge_date=dt.date(2015, 11, 9),
        length_of_stay_days=8,
        autopsy_flag=0,
        payment_type="1",
        fees=[InpatientFee(category_name="床位费", category_code="1", amount=48000)],
        total_fee=1234567,
    )


def test_inpatient_record_round_trip_and_offsets() -> None:
    record = _inpatient()
    raw = record.to_bytes()
    assert len(raw) == 1639
    assert raw[80:84] == unhex("20 15 11 01")  # 入院日期 at offset 80
    assert raw[84:86] == unhex("2F FF")  # 住院次数 CN 2, left-aligned
    assert raw[1066:1067] == b"\x00"  # 尸检标志 B
    assert raw[1589:1594] == unhex("12 34 56 7F FF")  # 住院总费用 CN 5
    assert InpatientRecord.from_bytes(raw) == record
    full = record.to_bytes(full=True)
    assert len(full) == 1893
    assert full[1639:] == b"\xff" * 254
    assert InpatientRecord.from_bytes(full) == record


def test_signature_area_is_carried_when_present() -> None:
    signed = _inpatient().model_copy(update={"signature": bytes(range(64)), "sam_certificate": b"\x01" * 190})
    full = signed.to_bytes(full=True)
    assert full[1639:1703] == bytes(range(64))
    assert InpatientRecord.from_bytes(full).signature == bytes(range(64))
    with pytest.raises(CodecError, match="full=True"):
        signed.to_bytes()


def test_group_limits_and_field_errors() -> None:
    with pytest.raises(ValidationError, match="at most 3"):
        InpatientRecord(diagnoses=[InpatientDiagnosis()] * 4)
    with pytest.raises(ValidationError, match=r"diagnoses\[1\]\.diagnosis_name \(#75 疾病诊断名称 1\)"):
        InpatientRecord(diagnoses=[InpatientDiagnosis(diagnosis_name="病" * 26)])


def test_outpatient_record_round_trip() -> None:
    visit = OutpatientRecord(
        institution_name="石家庄市第一医院",
        visit_time=dt.datetime(2015, 11, 3, 9, 30, 0),
        outpatient_number="MZ20151103001",
        payment_type="3",
        diagnoses=[OutpatientDiagnosis(symptom_name="发热", onset_time=dt.datetime(2015, 11, 2, 20, 0, 0))],
        lab_tests=[LabTest(), LabTest(name="血常规", result_code="1", quantitative_result="12")],
    )
    raw = visit.to_bytes()
    assert len(raw) == 3013
    assert raw[80:87] == unhex("20 15 11 03 09 30 00")
    decoded = OutpatientRecord.from_bytes(raw)
    assert decoded == visit  # the empty first lab test keeps its position
    assert to_abbreviations(decoded)["215"] == dt.datetime(2015, 11, 3, 9, 30, 0)


def test_trailing_empty_groups_are_dropped() -> None:
    visit = OutpatientRecord(lab_tests=[LabTest(name="尿常规"), LabTest()])
    assert OutpatientRecord.from_bytes(visit.to_bytes()).lab_tests == [LabTest(name="尿常规")]


def test_corrupt_record_bytes_raise_codec_error() -> None:
    raw = bytearray(_inpatient().to_bytes())
    raw[80:84] = unhex("20 15 13 01")  # month 13
    with pytest.raises(CodecError, match="入院日期"):
        InpatientRecord.from_bytes(bytes(raw))


def test_index_files() -> None:
    """§2.2: 00 = slot in use, FF = empty."""
    index = InpatientIndex.from_records([b"\x00", b"\xff", b"\x00"])
    assert index.in_use == (True, False, True)
    assert index.first_free_slot() == 2
    assert index.to_records() == {1: b"\x00", 2: b"\xff", 3: b"\x00"}
    assert to_abbreviations(index) == {"ZYJLBS1": True, "ZYJLBS2": False, "ZYJLBS3": True}
    assert OutpatientIndex.from_records([b"\x00"] * 5).first_free_slot() is None
    with pytest.raises(CodecError, match="MZJLBS2"):
        OutpatientIndex.from_records([b"\x00", b"\x01"])
    with pytest.raises(CodecError, match="5 slots"):
        OutpatientIndex.from_records([b"\xff"] * 3)


def test_photo() -> None:
    jpeg = unhex("FF D8 FF E0") + bytes(100) + unhex("FF D9")
    content = encode_photo(jpeg)
    assert len(content) == PHOTO_FILE_SIZE
    assert content[:2] == unhex("00 6A")
    assert decode_photo(content) == jpeg
    assert decode_photo(b"\xff" * PHOTO_FILE_SIZE) is None
    assert decode_photo(bytes(PHOTO_FILE_SIZE)) is None
    assert len(encode_photo(b"\x01" * 3072)) == 3074
    with pytest.raises(CodecError, match="exceed"):
        encode_photo(b"\x01" * 3073)
    with pytest.raises(CodecError, match="length prefix"):
        decode_photo(unhex("0C 01") + bytes(3072))
