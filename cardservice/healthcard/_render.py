"""JSON-able views of what was read from a health card, shared by the command line and the API.

Files are keyed by path; each file's data by the standard's abbreviations (encounter records by national
item number where the layout has no abbreviation); dates in ISO 8601, bytes as upper-case hex.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator, Mapping
from enum import Enum

from cardservice.healthcard._encounters import Encounter
from cardservice.healthcard._layouts import LayoutField
from cardservice.healthcard._models import EncounterIndex, LayoutModel, TlvFileModel
from cardservice.healthcard._session import Identity

__all__ = ["file_data", "identity_files", "plain", "present_fields"]


def plain(value: object) -> object:
    """A JSON-able form: ISO 8601 dates, upper-case hex bytes."""
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex().upper()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


_SIGNATURE_AREA = ("signature", "sam_certificate")


def present_fields(record: LayoutModel) -> Iterator[tuple[LayoutField, object]]:
    """(field, value) of every non-empty field of *record* but the signature area, in layout order."""
    values = record.to_abbreviations()  # keyed by abbreviation, or national item number where none
    for field in record.LAYOUT.fields:
        value = values.get(field.abbreviation or str(field.item))
        if value is not None and field.key not in _SIGNATURE_AREA:
            yield field, value


def _encounter_items(record: LayoutModel) -> dict[str, object]:
    """Items of an EE/ED record by national item number, empty ones and the signature area left out."""
    return {field.abbreviation or str(field.item): value for field, value in present_fields(record)}


def file_data(value: object, photo_file: str | None = None) -> object:
    """The JSON-able data of one file as read (model, record list, encounter, photo)."""
    if isinstance(value, TlvFileModel | LayoutModel | EncounterIndex):
        return value.to_abbreviations()
    if isinstance(value, Encounter):
        return {
            "kind": value.kind.value,
            "slot": value.slot,
            "signature": value.signature.value,
            "signer": value.signer_fingerprint,
            "items": _encounter_items(value.record),
        }
    if isinstance(value, list):
        return [file_data(v, photo_file) for v in value]
    if isinstance(value, bytes):  # the photo
        return {"length": len(value), "file": photo_file}
    return value


def identity_files(identity: Identity) -> dict[str, object]:
    """An :class:`Identity` keyed by file path, as :meth:`HealthCardSession.read_all` keys files."""
    files: dict[str, object] = {
        "DDF1/EF05": identity.issuer,
        "DDF1/EF06": identity.cardholder,
        "DDF1/EF08": identity.validity,
    }
    if identity.photo is not None:
        files["DDF1/EF07"] = identity.photo
    return files
