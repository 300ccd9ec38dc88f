"""Encounter records (EE0n inpatient, ED0n outpatient, facts sheet §2.2 and §3) as
:class:`~._session.HealthCardSession` reads and writes them: their kinds, slot and index files, the
age order of the slot policy, and the signature check.

Signature (conventions table): SM2 ``r ‖ s`` by the SAM over SM3(Z ‖ data part) with the default
user ID; the 190-byte SAM certificate area holds the SAM certificate (DF01/001C of the SAM).

Trust: the key that checks the signature comes from the record's own certificate area, and the
certificate is only self-signed (the SAM PKI is UNKNOWN, facts sheet §9 item 5), so whoever can write
the slot can make a record that verifies. A signature is therefore ``valid`` only when its signer is
trusted — its fingerprint (:func:`signer_fingerprint`: SM3 of the uncompressed public key
``04 ‖ x ‖ y``, upper-case hex) is on the reader's list — and ``valid_untrusted`` when it verifies under
any other key. The fingerprint is shown either way, so an operator can decide and add it.

Nothing here logs.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable
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
from cardservice.keys import Sm2PublicKey, sm3_digest

__all__ = [
    "_AGE_FIELDS",
    "_ENCOUNTERS",
    "Encounter",
    "EncounterKind",
    "SignatureStatus",
    "_EncounterFiles",
    "_check_signature",
    "_sortable",
    "signer_fingerprint",
    "trusted_fingerprints",
]

_SIGNATURE_LENGTH = 64
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{64}")


class EncounterKind(StrEnum):
    INPATIENT = "inpatient"  # EE01-EE03, index DF03/EF05
    OUTPATIENT = "outpatient"  # ED01-ED05, index DF03/EF06


class SignatureStatus(StrEnum):
    VALID = "valid"  # verifies, and the signer's fingerprint is trusted
    VALID_UNTRUSTED = "valid_untrusted"  # verifies under the key in the record's own certificate area only
    INVALID = "invalid"  # present but does not verify (tampered or torn record, wrong key, bad certificate)
    UNSIGNED = "unsigned"  # signature area empty (all 00 / all FF)
    NOT_CHECKED = "not-checked"


def trusted_fingerprints(values: Iterable[str]) -> frozenset[str]:
    """A list of signer fingerprints as the session compares them (upper case). Anything but 64 hex
    digits is refused (CodecError): a typo would silently trust nobody."""
    checked = set()
    for value in values:
        if not isinstance(value, str) or not _FINGERPRINT.fullmatch(value):
            raise CodecError("a trusted signer is an SM3 fingerprint: 64 hex digits")
        checked.add(value.upper())
    return frozenset(checked)


def signer_fingerprint(key: Sm2PublicKey) -> str:
    """SM3 of the uncompressed public key ``04 ‖ x ‖ y``, upper-case hex (64 characters): how a
    trusted signer is named (``trusted_signers``)."""
    return sm3_digest(key.to_bytes()).hex().upper()


@dataclass(frozen=True)
class Encounter:
    """One in-use EE/ED slot. ``signer`` is the public key the signature verified under (the one in
    the record's certificate area); ``None`` unless the signature is valid or valid_untrusted."""

    kind: EncounterKind
    slot: int
    record: InpatientRecord | OutpatientRecord = field(repr=False)  # diagnoses: personal data
    signature: SignatureStatus = SignatureStatus.NOT_CHECKED
    signer: Sm2PublicKey | None = None

    @property
    def signer_fingerprint(self) -> str | None:
        return None if self.signer is None else signer_fingerprint(self.signer)


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


def _check_signature(
    raw: bytes, data_size: int, trusted: Callable[[str], bool] | frozenset[str]
) -> tuple[SignatureStatus, Sm2PublicKey | None]:
    """The signature status of an EE/ED slot's bytes and the key it verified under. *trusted*: the
    trusted fingerprints (upper-case), or a predicate over a fingerprint (asked only for a signature
    that verifies)."""
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
        return SignatureStatus.INVALID, None
    fingerprint = signer_fingerprint(signer)
    is_trusted = trusted(fingerprint) if callable(trusted) else fingerprint in trusted
    return (SignatureStatus.VALID if is_trusted else SignatureStatus.VALID_UNTRUSTED), signer
