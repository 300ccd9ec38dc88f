"""The connector's values (frozen dataclasses) and its interface, :class:`HisConnector`."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import re
from typing import Literal, Protocol

from cardservice.errors import CodecError
from cardservice.healthcard import mask_id_number, validate_id_number

__all__ = [
    "ABNORMAL_HIGH",
    "ABNORMAL_LOW",
    "ABNORMAL_TEXT",
    "CHINA_TZ",
    "Bill",
    "BillItem",
    "BirthRecord",
    "Department",
    "Doctor",
    "HisConnector",
    "LabItem",
    "LabReport",
    "Patient",
    "Registration",
    "Slot",
    "abnormal_flag",
]

#: Hospital time: China Standard Time has no daylight saving, so a fixed offset is exact.
CHINA_TZ = _dt.timezone(_dt.timedelta(hours=8), "CST")

_BIRTH_CERTIFICATE = re.compile(r"[A-Z][0-9]{9}")  # 出生医学证明编号

ABNORMAL_HIGH = "↑"
ABNORMAL_LOW = "↓"
ABNORMAL_TEXT = "*"  # a qualitative result that is not the expected one (阳性 where 阴性 is normal)


@dataclasses.dataclass(frozen=True)
class Patient:
    """The patient as the daemon read them from the inserted card: card number (KH: the 18-character ID
    number, or a child's birth certificate number — one letter, nine digits — on a card issued before the
    child had an ID number) and name (XM). Never built from a number typed on a kiosk. ``repr`` masks
    the number."""

    card_number: str
    name: str

    def __post_init__(self) -> None:
        try:
            if _BIRTH_CERTIFICATE.fullmatch(self.card_number):
                normalised = self.card_number
            else:
                normalised = validate_id_number(self.card_number, field="card number")
        except CodecError as exc:
            raise ValueError(str(exc)) from None
        if normalised != self.card_number:
            raise ValueError("card number: give it normalised (upper-case X, no spaces)")
        if not self.name.strip() or len(self.name) > 64:
            raise ValueError("name: 1 to 64 characters")

    def __repr__(self) -> str:
        return f"Patient(card_number={mask_id_number(self.card_number)!r})"


@dataclasses.dataclass(frozen=True)
class Department:
    id: str
    name: str  # 内科
    location: str  # 门诊楼2层A区


@dataclasses.dataclass(frozen=True)
class Doctor:
    id: str
    department_id: str
    name: str
    title: str  # 主任医师 / 副主任医师 / 主治医师
    specialty: str | None = None


@dataclasses.dataclass(frozen=True)
class Slot:
    """A bookable slot (号源). ``doctor_id`` is None for a department's general clinic (普通门诊)."""

    id: str
    department_id: str
    doctor_id: str | None
    doctor_name: str | None
    doctor_title: str | None
    start: _dt.datetime
    end: _dt.datetime
    session: str  # 上午 / 下午
    fee_fen: int
    capacity: int
    remaining: int


@dataclasses.dataclass(frozen=True)
class Registration:
    """A booked place (挂号): ``queue_number`` is the 就诊序号; ``status`` booked / cancelled;
    ``bill_id`` the registration-fee (挂号费) bill."""

    id: str
    queue_number: int
    slot_id: str
    department_id: str
    department_name: str
    doctor_id: str | None
    doctor_name: str | None
    start: _dt.datetime
    end: _dt.datetime
    fee_fen: int
    status: str
    bill_id: str


@dataclasses.dataclass(frozen=True)
class BillItem:
    name: str
    unit: str | None  # 盒, 次, 项
    quantity: int
    unit_price_fen: int
    amount_fen: int


@dataclasses.dataclass(frozen=True)
class Bill:
    """A bill (收费单): ``status`` outstanding / settled / cancelled."""

    id: str
    title: str  # 挂号费, 药费, 检查费
    department: str | None
    items: tuple[BillItem, ...]
    total_fen: int
    status: str
    created_at: _dt.datetime
    settled_at: _dt.datetime | None = None
    payment_reference: str | None = None


def abnormal_flag(result: str, low: str | None, high: str | None, text: str | None) -> str:
    """``↑`` above the range, ``↓`` below it, ``*`` a qualitative result that is not the expected text,
    ``""`` normal or not comparable (a result like ``<0.5`` or an unparsable bound is never flagged)."""
    try:
        value = decimal.Decimal(result.strip())
        if not value.is_finite():
            return ""
        if high is not None and value > decimal.Decimal(high):
            return ABNORMAL_HIGH
        if low is not None and value < decimal.Decimal(low):
            return ABNORMAL_LOW
        return ""
    except decimal.InvalidOperation:
        if low is None and high is None and text is not None and result.strip() != text.strip():
            return ABNORMAL_TEXT
        return ""


@dataclasses.dataclass(frozen=True)
class LabItem:
    """One result. ``reference_low``/``high`` are decimal text as printed; ``reference_text`` the
    expected qualitative result (阴性). :attr:`abnormal` is computed from them."""

    code: str  # WBC
    name: str  # 白细胞计数
    result: str
    unit: str | None
    reference_low: str | None = None
    reference_high: str | None = None
    reference_text: str | None = None

    @property
    def abnormal(self) -> str:
        return abnormal_flag(self.result, self.reference_low, self.reference_high, self.reference_text)

    @property
    def reference_range(self) -> str:
        """The range as a report prints it: ``3.5-9.5``, ``<10``, ``>1.0``, ``阴性`` or ``""``."""
        if self.reference_low is not None and self.reference_high is not None:
            return f"{self.reference_low}-{self.reference_high}"
        if self.reference_high is not None:
            return f"<{self.reference_high}"
        if self.reference_low is not None:
            return f">{self.reference_low}"
        return self.reference_text or ""


@dataclasses.dataclass(frozen=True)
class LabReport:
    id: str
    title: str  # 血常规
    specimen: str  # 全血
    department: str | None
    doctor_name: str | None
    collected_at: _dt.datetime
    reported_at: _dt.datetime
    items: tuple[LabItem, ...]


@dataclasses.dataclass(frozen=True)
class BirthRecord:
    """A child born here, as the 出生医学证明 the hospital issued says; *relation*: what the guardian who
    asked is to the child (51 father, 52 mother: GB/T 4761)."""

    birth_certificate: str
    name: str
    sex: Literal["1", "2"]
    birth_date: _dt.date
    relation: Literal["51", "52"]

    def __repr__(self) -> str:
        return f"BirthRecord({mask_id_number(self.birth_certificate)!r})"


class HisConnector(Protocol):
    """What the daemon needs from a hospital information system. Implementations: :class:`EmbeddedHis`
    (the project database), :class:`HttpHis` (a real HIS over docs/his-contract.md).

    Every method raises :class:`HisError` subclasses only. Mutating calls take an ``idempotency_key``
    (1-128 characters of ``A-Za-z0-9._:-``): repeating a call with the same key and the same arguments
    returns the first call's result and changes nothing; the same key with other arguments is refused.
    Dates are hospital dates (Beijing time); money is integer fen.
    """

    def departments(self) -> list[Department]: ...

    def doctors(self, department_id: str) -> list[Doctor]: ...

    def slots(
        self, department_id: str, *, doctor_id: str | None = None, date_from: _dt.date, date_to: _dt.date
    ) -> list[Slot]: ...

    def book(self, patient: Patient, slot_id: str, *, idempotency_key: str) -> Registration: ...

    def cancel_registration(
        self, patient: Patient, registration_id: str, *, idempotency_key: str
    ) -> Registration: ...

    def registrations(self, patient: Patient) -> list[Registration]:
        """The patient's registrations in every status (booked and cancelled alike), newest visit
        first: to reprint a registration slip after the fact."""
        ...

    def bills(self, patient: Patient) -> list[Bill]:
        """The patient's outstanding bills, oldest first."""
        ...

    def bill(self, patient: Patient, bill_id: str) -> Bill:
        """One of the patient's bills in any status (outstanding, settled, cancelled), with its items,
        ``settled_at`` and ``payment_reference``: to reprint a receipt after the fact. An unknown id and
        another patient's bill are both :class:`NotFound` (never say that someone else's exists)."""
        ...

    def settle_bill(
        self, patient: Patient, bill_id: str, *, payment_reference: str, amount_fen: int, idempotency_key: str
    ) -> Bill: ...

    def lab_reports(self, patient: Patient) -> list[LabReport]:
        """The patient's lab reports, newest first."""
        ...

    def birth_record(self, guardian: Patient, birth_certificate: str) -> BirthRecord:
        """The child of *birth_certificate* born in this hospital, if *guardian* is its mother or father;
        else :class:`NotFound` (an unknown certificate and another family's child alike)."""
        ...
