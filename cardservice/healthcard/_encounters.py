"""Encounter records (EE0n inpatient, ED0n outpatient, facts sheet §2.2 and §3) as
:class:`~._session.HealthCardSession` reads and writes them: their kinds, slot and index files, the
age order of the slot policy, and the signature check.

Signature (conventions table): SM2 ``r ‖ s`` by the SAM over SM3(Z ‖ data part) with the default
user ID; the 190-byte SAM certificate area holds the SAM certificate (DF01/001C of the SAM).

Nothing here logs.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from enum import StrEnum

from cardservice.errors import CodecError, CryptoError
from cardservice.healthcard._models import (
    EncounterIndex,
    InpatientIndex,
    InpatientRecord,
    OutpatientIndex,
    OutpatientRecord,
)
from cardservice.healthcard._psam import SAM_CERTIFICATE_SIZE, sam_certificate_public_key
from cardservice.keys import Sm2PublicKey

__all__ = [
    "_AGE_FIELDS",
    "_ENCOUNTERS",
    "Encounter",
    "EncounterKind",
    "SignatureStatus",
    "_EncounterFiles",
    "_check_signature",
    "_sortable",
]

_SIGNATURE_LENGTH = 64


class EncounterKind(StrEnum):
    INPATIENT = "inpatient"  # EE01-EE03, index DF03/EF05
    OUTPATIENT = "outpatient"  # ED01-ED05, index DF03/EF06


class SignatureStatus(StrEnum):
    VALID = "valid"  # verifies under the key in the record's own SAM certificate area
    INVALID = "invalid"  # present but does not verify (tampered or torn record, wrong key)
    UNSIGNED = "unsigned"  # signature area empty (all 00 / all FF)
    NOT_CHECKED = "not checked"


@dataclass(frozen=True)
class Encounter:
    """One in-use EE/ED slot. ``signer`` is the public key from the record's certificate area;
    whether that SAM is trustworthy is the caller's policy (certificate chains are UNKNOWN, §9)."""

    kind: EncounterKind
    slot: int
    record: InpatientRecord | OutpatientRecord = field(repr=False)  # diagnoses: personal data
    signature: SignatureStatus = SignatureStatus.NOT_CHECKED
    signer: Sm2PublicKey | None = None


@dataclass(frozen=True)
class _EncounterFiles:
    index: str
    index_model: type[EncounterIndex]
    slot_prefix: str
    model: type[InpatientRecord] | type[OutpatientRecord]

    def slot_path(self, slot: int) -> str:
        return f"{self.slot_prefix}{slot}"


_ENCOUNTERS: dict[EncounterKind, _EncounterFiles] = {
    EncounterKind.INPATIENT: _EncounterFiles(
        "DDF1/DF03/EF05", InpatientIndex, "DDF1/DF03/EE0", InpatientRecord
    ),
    EncounterKind.OUTPATIENT: _EncounterFiles(
        "DDF1/DF03/EF06", OutpatientIndex, "DDF1/DF03/ED0", OutpatientRecord
    ),
}

#: Fields ordering slots by age (facts sheet §2.2 slot policy): compared in this order.
_AGE_FIELDS: dict[EncounterKind, tuple[str, ...]] = {
    EncounterKind.INPATIENT: ("admission_date", "discharge_date"),
    EncounterKind.OUTPATIENT: ("visit_time",),
}


def _is_filler(data: bytes) -> bool:
    return not data.strip(b"\x00") or not data.strip(b"\xff")


def _sortable(value: object) -> tuple[int, object]:
    """Sort key: empty dates first (treated as oldest), then by date/date-time."""
    if isinstance(value, _dt.datetime):
        return (1, value)
    if isinstance(value, _dt.date):
        return (1, _dt.datetime.combine(value, _dt.time()))
    return (0, _dt.datetime.min)


def _check_signature(raw: bytes, data_size: int) -> tuple[SignatureStatus, Sm2PublicKey | None]:
    signature = raw[data_size : data_size + _SIGNATURE_LENGTH]
    certificate = raw[data_size + _SIGNATURE_LENGTH : data_size + _SIGNATURE_LENGTH + SAM_CERTIFICATE_SIZE]
    if len(signature) != _SIGNATURE_LENGTH or _is_filler(signature):
        return SignatureStatus.UNSIGNED, None
    try:
        signer = sam_certificate_public_key(certificate)
    except CodecError:
        return SignatureStatus.INVALID, None
    try:
        signer.verify(signature, raw[:data_size])
    except CryptoError:
        return SignatureStatus.INVALID, signer
    return SignatureStatus.VALID, signer
