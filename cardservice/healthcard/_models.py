"""Typed models of the health card's files (pydantic v2), converted to and from card bytes by the tables.

* TLV record files (:class:`TlvFileModel`): one model per file; every field is one :class:`DataItem`, found
  through the field's abbreviation (``validation_alias`` and ``serialization_alias``), so models accept
  both ``name=`` and ``XM=`` and :meth:`~TlvFileModel.to_abbreviations` gives the HIS developer's view.
* Fixed layouts (:class:`LayoutModel`): allergy, immunisation, inpatient and outpatient records; repeated
  groups become lists of small models.
* The DF03 index files (:class:`InpatientIndex`, :class:`OutpatientIndex`) and the photo codec.

No model contains per-field byte code: widths, formats and offsets all come from the tables. Building a
model validates every field against its on-card width (pydantic ``ValidationError``, message naming the
abbreviation and Chinese label); ``from_records``/``from_bytes`` raise :class:`CodecError`. Inputs are
hidden from error messages because they are personal data.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cardservice.errors import CodecError
from cardservice.healthcard._dictionary import DataItem, card_file, item_by_abbreviation
from cardservice.healthcard._formats import encode_value
from cardservice.healthcard._identity import mask_id_number, validate_id_number
from cardservice.healthcard._layouts import (
    ALLERGY_LAYOUT,
    IMMUNISATION_LAYOUT,
    INPATIENT_LAYOUT,
    OUTPATIENT_LAYOUT,
    RecordLayout,
)
from cardservice.healthcard._records import decode_record, encode_record

__all__ = [
    "PHOTO_CAPACITY",
    "PHOTO_FILE_SIZE",
    "Addresses",
    "Allergy",
    "CardValidity",
    "Cardholder",
    "ClinicalBasics",
    "Demographics",
    "Documents",
    "EmergencyContacts",
    "EncounterIndex",
    "Immunisation",
    "InpatientDiagnosis",
    "InpatientFee",
    "InpatientIndex",
    "InpatientRecord",
    "IssuerData",
    "LabTest",
    "LayoutModel",
    "Medication",
    "OutpatientDiagnosis",
    "OutpatientFee",
    "OutpatientIndex",
    "OutpatientRecord",
    "Procedure",
    "SpecialInfo",
    "TlvFileModel",
    "Transfusion",
    "decode_photo",
    "encode_photo",
    "models_by_file",
    "to_abbreviations",
]

_CONFIG = ConfigDict(
    frozen=True,
    extra="forbid",
    validate_by_name=True,
    validate_by_alias=True,
    hide_input_in_errors=True,  # never echo names or ID numbers into logs
)


def _item(abbreviation: str) -> Any:
    """Field declaration of a TLV item: absent by default, addressable by its abbreviation."""
    item = item_by_abbreviation(abbreviation)
    return Field(
        default=None,
        validation_alias=abbreviation,
        serialization_alias=abbreviation,
        description=f"{item.label} (tag {item.tag:02X})",
    )


def _summarise(exc: ValidationError) -> str:
    # Only locations and messages: inputs are hidden by the config anyway, this keeps it one line.
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'model'}: {e['msg']}" for e in exc.errors())


# --- TLV record files ------------------------------------------------------------------------


class TlvFileModel(BaseModel):
    """A TLV record file; subclasses set ``FILE`` and declare one field per item with :func:`_item`."""

    model_config = _CONFIG
    FILE: ClassVar[str]
    # Items that hold an ID number (KH = SFZH on real cards; ZJHM often is one): masked in repr/str.
    _MASKED: ClassVar[frozenset[str]] = frozenset({"card_number", "id_number", "document_number"})

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # repr() and str() end up in logs and tracebacks: never the full ID number there.
        for key, value in super().__repr_args__():
            yield key, (mask_id_number(value) if key in self._MASKED and isinstance(value, str) else value)

    @classmethod
    def items(cls) -> dict[str, DataItem]:
        """Field name -> data item, from the fields' abbreviations."""
        return {
            name: item_by_abbreviation(str(info.serialization_alias))
            for name, info in cls.model_fields.items()
        }

    @model_validator(mode="after")
    def _fits_the_card(self) -> Self:
        for name, item in self.items().items():
            encode_value(item, getattr(self, name))  # CodecError is a ValueError: pydantic reports it
        return self

    @classmethod
    def from_records(cls, records: Iterable[bytes]) -> Self:
        """Build from the raw records of the file (any order; empty records mean absent items)."""
        path = card_file(cls.FILE).path
        values: dict[str, object] = {}
        for raw in records:
            decoded = decode_record(raw, file=path)
            if decoded is None:
                continue
            item, value = decoded
            if item.name in values:
                raise CodecError(f"{item.display_name}: item appears in two records of {path}")
            values[item.name] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise CodecError(f"{cls.__name__} ({path}): {_summarise(exc)}") from None

    def to_records(self) -> dict[int, bytes]:
        """Record number -> full on-card record, for every item that has a value."""
        return {
            item.record: encode_record(item, getattr(self, name))
            for name, item in self.items().items()
            if getattr(self, name) is not None
        }

    def to_abbreviations(self) -> dict[str, object]:
        """The values keyed by national abbreviation (``{"XM": ..., "XB": ...}``), absent items included."""
        return self.model_dump(by_alias=True)


class IssuerData(TlvFileModel):
    """DDF1/EF05 发卡机构基本数据 — readable without keys."""

    FILE: ClassVar[str] = "DDF1/EF05"
    card_category: str | None = _item("KLB")
    spec_version: str | None = _item("GFBB")
    issuer_name: str | None = _item("FKJGMC")
    issuer_code: str | None = _item("FKJGDM")
    issuer_certificate: bytes | None = _item("FKJGZS")
    issue_date: _dt.date | None = _item("FKSJ")
    card_number: str | None = _item("KH")
    security_code: str | None = _item("AQM")
    issuance_serial: str | None = _item("XPXLH")
    city_code: str | None = _item("YYCSDM")


class Cardholder(TlvFileModel):
    """DDF1/EF06 持卡人基本信息. The ID number is checked per GB 11643 and against the birth date."""

    FILE: ClassVar[str] = "DDF1/EF06"
    name: str | None = _item("XM")
    sex: int | None = _item("XB")
    ethnicity: str | None = _item("MZ")
    birth_date: _dt.date | None = _item("CSRQ")
    id_number: str | None = _item("SFZH")

    @model_validator(mode="after")
    def _consistent_identity(self) -> Self:
        if self.ethnicity is not None and len(self.ethnicity) != 2:
            raise ValueError("MZ (民族代码): GB 3304 codes have two digits, e.g. '01'")
        if self.id_number is not None:
            checked = validate_id_number(
                self.id_number, birth_date=self.birth_date, field="SFZH (居民身份证号码)"
            )
            if checked != self.id_number:  # normalise a lower-case x
                object.__setattr__(self, "id_number", checked)
        return self


class CardValidity(TlvFileModel):
    """DDF1/EF08: card expiry, own phone numbers, medical payment types."""

    FILE: ClassVar[str] = "DDF1/EF08"
    expiry_date: _dt.date | None = _item("KYXQ")
    phone1: str | None = _item("BRDH1")
    phone2: str | None = _item("BRDH2")
    payment_type1: str | None = _item("YLFYZFFS1")
    payment_type2: str | None = _item("YLFYZFFS2")
    payment_type3: str | None = _item("YLFYZFFS3")


class Addresses(TlvFileModel):
    """DF01/EF05 地址信息."""

    FILE: ClassVar[str] = "DDF1/DF01/EF05"
    address_type1: str | None = _item("DZLB1")
    address1: str | None = _item("DZ1")
    address_type2: str | None = _item("DZLB2")
    address2: str | None = _item("DZ2")


class EmergencyContacts(TlvFileModel):
    """DF01/EF06 联系人信息 (three contacts)."""

    FILE: ClassVar[str] = "DDF1/DF01/EF06"
    contact1_name: str | None = _item("LXRXM1")
    contact1_relation: str | None = _item("LXRGX1")
    contact1_phone: str | None = _item("LXRDH1")
    contact2_name: str | None = _item("LXRXM2")
    contact2_relation: str | None = _item("LXRGX2")
    contact2_phone: str | None = _item("LXRDH2")
    contact3_name: str | None = _item("LXRXM3")
    contact3_relation: str | None = _item("LXRGX3")
    contact3_phone: str | None = _item("LXRDH3")


class Demographics(TlvFileModel):
    """DF01/EF07: education, marital status, occupation."""

    FILE: ClassVar[str] = "DDF1/DF01/EF07"
    education: str | None = _item("WHCD")
    marital_status: str | None = _item("HYZK")
    occupation: str | None = _item("ZY")


class Documents(TlvFileModel):
    """DF01/EF08: identity document, health-record number, NCMS number."""

    FILE: ClassVar[str] = "DDF1/DF01/EF08"
    document_type: str | None = _item("ZJLB")
    document_number: str | None = _item("ZJHM")
    health_record_number: str | None = _item("JKDAH")
    ncms_number: str | None = _item("XNHZH")


class ClinicalBasics(TlvFileModel):
    """DF02/EF05 临床基本数据: blood groups and medical-alert flags (00 = not set)."""

    FILE: ClassVar[str] = "DDF1/DF02/EF05"
    abo_blood_group: int | None = _item("ABOXX")
    rh_negative: str | None = _item("RHXX")
    asthma: int | None = _item("XCBZ")
    heart_disease: int | None = _item("XZBBZ")
    cardiovascular_disease: int | None = _item("XNXGBBZ")
    epilepsy: int | None = _item("DXBBZ")
    coagulation_disorder: int | None = _item("NXWLBZ")
    diabetes: int | None = _item("TNBBZ")
    glaucoma: int | None = _item("QGYBZ")
    dialysis: int | None = _item("TXBZ")
    organ_transplant: int | None = _item("QGYZBZ")
    missing_organ: int | None = _item("QGQSBZ")
    removable_prosthesis: int | None = _item("KZXYZBZ")
    pacemaker: int | None = _item("XZQBQBZ")
    other_medical_alert: str | None = _item("QTYXJSMC")


class SpecialInfo(TlvFileModel):
    """DF02/EF06 特殊信息数据 (own update key UK2DF02)."""

    FILE: ClassVar[str] = "DDF1/DF02/EF06"
    psychiatric_illness: int | None = _item("JSBBZ")


# --- fixed layouts ---------------------------------------------------------------------------


class _Part(BaseModel):
    """A repeated group inside a fixed layout (all fields optional)."""

    model_config = _CONFIG

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)


class LayoutModel(BaseModel):
    """A fixed-offset record; subclasses set ``LAYOUT``. Field names equal the layout's field names."""

    model_config = _CONFIG
    LAYOUT: ClassVar[RecordLayout]

    @model_validator(mode="after")
    def _fits_the_card(self) -> Self:
        self.LAYOUT.encode(self._flat(), full=True)
        return self

    def _flat(self) -> dict[str, object]:
        flat: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, list | tuple):
                for index, part in enumerate(value, start=1):
                    for sub in type(part).model_fields:
                        flat[f"{name}[{index}].{sub}"] = getattr(part, sub)
            else:
                flat[name] = value
        return flat

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        """Decode the data part or the whole record; trailing empty groups are dropped."""
        data: dict[str, Any] = {}
        flat = cls.LAYOUT.decode(raw)
        groups: dict[str, list[dict[str, object]]] = {}
        for field in cls.LAYOUT.fields:
            if field.key not in flat:
                continue
            if field.group is None:
                data[field.name] = flat[field.key]
                continue
            slots = groups.setdefault(field.group, [])
            while len(slots) < (field.index or 0):
                slots.append({})
            slots[(field.index or 1) - 1][field.name] = flat[field.key]
        for group, slots in groups.items():
            while slots and all(v is None for v in slots[-1].values()):
                slots.pop()
            data[group] = slots
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise CodecError(f"{cls.__name__}: {_summarise(exc)}") from None

    def to_bytes(self, *, full: bool = False) -> bytes:
        """The data part (what UPDATE BINARY writes before signing), or the whole record if ``full``."""
        return self.LAYOUT.encode(self._flat(), full=full)

    def to_abbreviations(self) -> dict[str, object]:
        """Values keyed by abbreviation, or by the national item number where the item has none."""
        flat = self._flat()
        return {f.abbreviation or str(f.item): flat.get(f.key) for f in self.LAYOUT.fields}


def _layout_item(abbreviation: str) -> Any:
    return Field(default=None, validation_alias=abbreviation, serialization_alias=abbreviation)


class Allergy(LayoutModel):
    """DF02/EF07 过敏 record (120 bytes, cyclic file of 3; newest = record 1)."""

    LAYOUT: ClassVar[RecordLayout] = ALLERGY_LAYOUT
    substance: str | None = _layout_item("GMWZMC")
    reaction: str | None = _layout_item("GMFY")


class Immunisation(LayoutModel):
    """DF02/EF08 免疫 record (24 bytes, cyclic file of 10; newest = record 1)."""

    LAYOUT: ClassVar[RecordLayout] = IMMUNISATION_LAYOUT
    vaccine: str | None = _layout_item("MYJZMC")
    date: _dt.date | None = _layout_item("MYJZSJ")


class InpatientDiagnosis(_Part):
    """One of the three diagnosis groups of an inpatient record (items 73-88, 89-104, 105-120)."""

    serology_test_code: str | None = None
    serology_result_code: str | None = None
    diagnosis_name: str | None = None
    diagnosis_code: str | None = None
    diagnosis_date: _dt.date | None = None
    agreement_description: str | None = None
    agreement_code: str | None = None
    diagnosis_type_detail: str | None = None
    diagnosis_type_code: str | None = None
    treatment_result_code: str | None = None
    procedure_name: str | None = None
    procedure_code: str | None = None
    procedure_date: _dt.date | None = None
    anaesthesia_method: str | None = None
    anaesthesia_method_code: str | None = None
    incision_healing_code: str | None = None


class Transfusion(_Part):
    product_code: str | None = None
    volume: int | None = None
    unit: str | None = None


class InpatientFee(_Part):
    category_name: str | None = None
    category_code: str | None = None
    amount: int | None = None  # unit (yuan or fen) UNKNOWN: raw CN value


class InpatientRecord(LayoutModel):
    """EE0n 住院信息 (fact sheet §3.1): 1639-byte data part, then signature (64) and SAM certificate (190)."""

    LAYOUT: ClassVar[RecordLayout] = INPATIENT_LAYOUT
    institution_name: str | None = None
    institution_code: str | None = None
    admission_date: _dt.date | None = None
    admission_count: int | None = None
    case_number: str | None = None
    admission_department: str | None = None
    admission_condition_code: str | None = None
    hospital_infection: str | None = None
    injury_external_cause: str | None = None
    diagnoses: list[InpatientDiagnosis] = Field(default_factory=list, max_length=3)
    transfusions: list[Transfusion] = Field(default_factory=list, max_length=4)
    rescue_count: int | None = None
    rescue_success_count: int | None = None
    discharge_date: _dt.date | None = None
    discharge_department: str | None = None
    length_of_stay_days: int | None = None
    autopsy_flag: int | None = None
    follow_up_flag: int | None = None
    payment_type: str | None = None
    fees: list[InpatientFee] = Field(default_factory=list, max_length=20)
    total_fee: int | None = None
    bed_fee: int | None = None
    nursing_fee: int | None = None
    western_medicine_fee: int | None = None
    chinese_medicine_fee: int | None = None
    laboratory_fee: int | None = None
    treatment_fee: int | None = None
    surgery_fee: int | None = None
    examination_fee: int | None = None
    other_fee: int | None = None
    signature: bytes | None = None
    sam_certificate: bytes | None = None


class OutpatientDiagnosis(_Part):
    symptom_name: str | None = None
    symptom_code: str | None = None
    diagnosis_date: _dt.date | None = None
    diagnosis_name: str | None = None
    diagnosis_code: str | None = None
    onset_time: _dt.datetime | None = None
    symptom_duration: str | None = None


class LabTest(_Part):
    name: str | None = None
    result_code: str | None = None
    quantitative_result: str | None = None
    unit: str | None = None
    code: str | None = None


class Medication(_Part):
    name: str | None = None
    dosage_form_code: str | None = None
    days: int | None = None
    frequency: str | None = None
    dose_unit: str | None = None
    single_dose: str | None = None
    total_dose: str | None = None
    route_code: str | None = None


class Procedure(_Part):
    name: str | None = None
    code: str | None = None
    date: _dt.date | None = None


class OutpatientFee(_Part):
    category_name: str | None = None
    category_code: str | None = None
    amount: int | None = None  # unit (yuan or fen) UNKNOWN: raw CN value


class OutpatientRecord(LayoutModel):
    """ED0n 门诊信息 (fact sheet §3.2): 3013-byte data part, then signature (64) and SAM certificate (190)."""

    LAYOUT: ClassVar[RecordLayout] = OUTPATIENT_LAYOUT
    institution_name: str | None = None
    institution_code: str | None = None
    visit_time: _dt.datetime | None = None
    outpatient_number: str | None = None
    department: str | None = None
    payment_type: str | None = None
    diagnoses: list[OutpatientDiagnosis] = Field(default_factory=list, max_length=5)
    lab_tests: list[LabTest] = Field(default_factory=list, max_length=10)
    medications: list[Medication] = Field(default_factory=list, max_length=5)
    procedures: list[Procedure] = Field(default_factory=list, max_length=3)
    fees: list[OutpatientFee] = Field(default_factory=list, max_length=10)
    signature: bytes | None = None
    sam_certificate: bytes | None = None


# --- DF03 index files ------------------------------------------------------------------------

_IN_USE, _EMPTY = b"\x00", b"\xff"


class EncounterIndex(BaseModel):
    """A DF03 index file: one byte per EE/ED slot, ``00`` = in use, ``FF`` = empty (fact sheet §2.2)."""

    model_config = _CONFIG
    FILE: ClassVar[str]
    SLOTS: ClassVar[int]
    ABBREVIATION: ClassVar[str]
    in_use: tuple[bool, ...]

    @model_validator(mode="after")
    def _slot_count(self) -> Self:
        if len(self.in_use) != self.SLOTS:
            count = len(self.in_use)
            raise ValueError(f"{self.ABBREVIATION}: {self.FILE} has {self.SLOTS} slots, not {count}")
        return self

    @classmethod
    def from_records(cls, records: Sequence[bytes]) -> Self:
        flags: list[bool] = []
        for number, raw in enumerate(records, start=1):
            if bytes(raw) not in (_IN_USE, _EMPTY):
                raise CodecError(f"{cls.ABBREVIATION}{number}: index byte must be 00 or FF")
            flags.append(raw == _IN_USE)
        try:
            return cls(in_use=tuple(flags))
        except ValidationError as exc:
            raise CodecError(_summarise(exc)) from None

    def to_records(self) -> dict[int, bytes]:
        return {n: _IN_USE if used else _EMPTY for n, used in enumerate(self.in_use, start=1)}

    def first_free_slot(self) -> int | None:
        """1-based number of the first empty slot, or ``None`` when all are in use."""
        return next((n for n, used in enumerate(self.in_use, start=1) if not used), None)

    def to_abbreviations(self) -> dict[str, object]:
        return {f"{self.ABBREVIATION}{n}": used for n, used in enumerate(self.in_use, start=1)}


class InpatientIndex(EncounterIndex):
    FILE: ClassVar[str] = "DDF1/DF03/EF05"
    SLOTS: ClassVar[int] = 3
    ABBREVIATION: ClassVar[str] = "ZYJLBS"


class OutpatientIndex(EncounterIndex):
    FILE: ClassVar[str] = "DDF1/DF03/EF06"
    SLOTS: ClassVar[int] = 5
    ABBREVIATION: ClassVar[str] = "MZJLBS"


# --- photo -----------------------------------------------------------------------------------

PHOTO_FILE_SIZE = 3074
PHOTO_CAPACITY = PHOTO_FILE_SIZE - 2


def encode_photo(image: bytes) -> bytes:
    """DDF1/EF07 content: 2-byte big-endian length ‖ image ‖ 00 padding to 3074 bytes (vendor A, medium)."""
    if not image:
        raise CodecError("ZHAOPIAN (照片): empty image")
    if len(image) > PHOTO_CAPACITY:
        raise CodecError(f"ZHAOPIAN (照片): {len(image)} bytes exceed the {PHOTO_CAPACITY}-byte photo file")
    return (len(image).to_bytes(2, "big") + image).ljust(PHOTO_FILE_SIZE, b"\x00")


def decode_photo(content: bytes) -> bytes | None:
    """The image in DDF1/EF07 content (at least the length prefix and the image); ``None`` if empty."""
    if len(content) < 2:
        raise CodecError("ZHAOPIAN (照片): no length prefix")
    length = int.from_bytes(content[:2], "big")
    if length in (0, 0xFFFF):
        return None
    if length > PHOTO_CAPACITY or length > len(content) - 2:
        raise CodecError(f"ZHAOPIAN (照片): length prefix {length} exceeds the data")
    return bytes(content[2 : 2 + length])


def to_abbreviations(model: TlvFileModel | LayoutModel | EncounterIndex) -> dict[str, object]:
    """Any model as a dict keyed by national abbreviations (item numbers where none exists)."""
    return model.to_abbreviations()


def models_by_file() -> Mapping[str, type[TlvFileModel]]:
    """TLV file path -> its model class."""
    return {cls.FILE: cls for cls in TlvFileModel.__subclasses__()}
