"""What goes on a health card: one document validated by the dictionary models, and the bytes of
every file it yields. The issuer writes these bytes with APDUs; the simulator builds a card image
from the same bytes; so an issued card and a simulated one cannot drift apart.

Format ``cardservice.health-holder/1`` (UTF-8 JSON object). Top-level keys are card file paths as in
``cardservice.healthcard.CARD_FILES``; each value uses the **English field names** of that file's model
(``Cardholder.name``, ``IssuerData.city_code``, ...). Every group is optional; absent items are written
as empty records at full length (the card's filler)::

    {
      "format": "cardservice.health-holder/1",
      "DDF1/EF05": {IssuerData fields},          "DDF1/EF06": {Cardholder fields},
      "DDF1/EF07": {"image_base64": "..."},      "DDF1/EF08": {CardValidity fields},
      "DDF1/DF01/EF05": {Addresses}, "DDF1/DF01/EF06": {EmergencyContacts},
      "DDF1/DF01/EF07": {Demographics}, "DDF1/DF01/EF08": {Documents},
      "DDF1/DF02/EF05": {ClinicalBasics}, "DDF1/DF02/EF06": {SpecialInfo},
      "DDF1/DF02/EF07": [{Allergy}, ...],        newest first, at most 3
      "DDF1/DF02/EF08": [{Immunisation}, ...],   newest first, at most 10
      "DDF1/DF03/EE01".."EE03": {InpatientRecord},  "DDF1/DF03/ED01".."ED05": {OutpatientRecord}
    }

Values are JSON scalars: dates ``"YYYY-MM-DD"``, date-times ISO 8601, bytes items (e.g. the issuer
certificate) as hex strings. Keys starting with ``_`` (comments) are ignored. The DF03 index files are
derived: a slot is in use (``00``) exactly when its EE/ED group is present. An encounter record's
``signature``/``sam_certificate`` are filled when the card is created (signed by the key store's SM2
key) unless given.

Errors are :class:`HolderError` naming the group and the item's abbreviation (e.g. ``SFZH``), never the
value: holder files hold personal data.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cardservice.healthcard._certs import issuer_certificate, sam_certificate
from cardservice.healthcard._dictionary import CARD_FILES, CardFile, FileKind, card_file, items_in_file
from cardservice.healthcard._formats import Kind
from cardservice.healthcard._models import (
    Addresses,
    Allergy,
    Cardholder,
    CardValidity,
    ClinicalBasics,
    Demographics,
    Documents,
    EmergencyContacts,
    Immunisation,
    InpatientIndex,
    InpatientRecord,
    IssuerData,
    LayoutModel,
    OutpatientIndex,
    OutpatientRecord,
    SpecialInfo,
    TlvFileModel,
    encode_photo,
)
from cardservice.healthcard._records import encode_record
from cardservice.keys import Sm2PrivateKey

__all__ = [
    "ALLERGY_FILE",
    "HOLDER_FORMAT",
    "IMMUNISATION_FILE",
    "INPATIENT_FILES",
    "OUTPATIENT_FILES",
    "PERSONALISATION_SAM_SERIAL",
    "PHOTO_FILE",
    "TLV_MODELS",
    "FileContent",
    "Holder",
    "HolderError",
    "file_contents",
    "load_holder",
    "seal_document",
]

HOLDER_FORMAT = "cardservice.health-holder/1"
_M = TypeVar("_M", bound=BaseModel)

#: TLV record files and their models.
TLV_MODELS: Mapping[str, type[TlvFileModel]] = {
    model.FILE: model
    for model in (
        IssuerData,
        Cardholder,
        CardValidity,
        Addresses,
        EmergencyContacts,
        Demographics,
        Documents,
        ClinicalBasics,
        SpecialInfo,
    )
}
#: SAM number written into the certificate area of encounter records signed at personalisation.
PERSONALISATION_SAM_SERIAL = bytes(10)

ALLERGY_FILE, IMMUNISATION_FILE, PHOTO_FILE = "DDF1/DF02/EF07", "DDF1/DF02/EF08", "DDF1/EF07"
INPATIENT_FILES = tuple(f"DDF1/DF03/EE0{n}" for n in range(1, 4))
OUTPATIENT_FILES = tuple(f"DDF1/DF03/ED0{n}" for n in range(1, 6))
_LIST_GROUPS: Mapping[str, tuple[type[LayoutModel], int]] = {
    ALLERGY_FILE: (Allergy, card_file(ALLERGY_FILE).record_count),
    IMMUNISATION_FILE: (Immunisation, card_file(IMMUNISATION_FILE).record_count),
}


class HolderError(ValueError):
    """A holder document is malformed or an item does not fit the card (message names the item)."""


@dataclass(frozen=True)
class Holder:
    """A validated cardholder: one model per file (absent groups = empty models / lists)."""

    files: Mapping[str, TlvFileModel] = field(default_factory=dict)
    allergies: tuple[Allergy, ...] = ()
    immunisations: tuple[Immunisation, ...] = ()
    photo: bytes | None = field(default=None, repr=False)
    inpatient: Mapping[str, InpatientRecord] = field(default_factory=dict)
    outpatient: Mapping[str, OutpatientRecord] = field(default_factory=dict)

    def model(self, path: str) -> TlvFileModel:
        """The model of TLV file *path* (an empty one when the holder gives none)."""
        return self.files.get(path) or TLV_MODELS[path]()

    @property
    def issuer(self) -> IssuerData:
        model = self.model(IssuerData.FILE)
        assert isinstance(model, IssuerData)
        return model

    @property
    def cardholder(self) -> Cardholder:
        model = self.model(Cardholder.FILE)
        assert isinstance(model, Cardholder)
        return model

    def __repr__(self) -> str:  # personal data: show the shape only
        return f"Holder(files={sorted(self.files)}, encounters={len(self.inpatient) + len(self.outpatient)})"


def load_holder(source: str | os.PathLike[str] | Mapping[str, Any]) -> Holder:
    """Validate a holder given as a JSON file path or an already-parsed mapping."""
    if isinstance(source, Mapping):
        document: Any = source
    else:
        try:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HolderError(f"{os.fspath(source)}: not a holder JSON document ({exc})") from None
    return _parse(document)


def _parse(document: Any) -> Holder:
    if not isinstance(document, Mapping):
        raise HolderError("holder: top level must be a JSON object")
    if document.get("format", HOLDER_FORMAT) != HOLDER_FORMAT:
        raise HolderError(f"holder: unknown format {document.get('format')!r} (expected {HOLDER_FORMAT!r})")
    files: dict[str, TlvFileModel] = {}
    allergies: tuple[Allergy, ...] = ()
    immunisations: tuple[Immunisation, ...] = ()
    photo: bytes | None = None
    inpatient: dict[str, InpatientRecord] = {}
    outpatient: dict[str, OutpatientRecord] = {}
    for group, value in document.items():
        if group == "format" or group.startswith("_"):
            continue
        if group in TLV_MODELS:
            model = TLV_MODELS[group]
            files[group] = _validate(group, model, _hex_items(group, model, _object(group, value)))
        elif group in _LIST_GROUPS:
            layout, capacity = _LIST_GROUPS[group]
            if not isinstance(value, list) or len(value) > capacity:
                raise HolderError(f"holder {group}: expected a list of at most {capacity} entries")
            entries = tuple(
                _validate(f"{group}[{n}]", layout, _object(group, v)) for n, v in enumerate(value)
            )
            if group == ALLERGY_FILE:
                allergies = tuple(e for e in entries if isinstance(e, Allergy))
            else:
                immunisations = tuple(e for e in entries if isinstance(e, Immunisation))
        elif group == PHOTO_FILE:
            photo = _photo(_object(group, value))
        elif group in INPATIENT_FILES:
            inpatient[group] = _validate(group, InpatientRecord, _hex_fields(_object(group, value)))
        elif group in OUTPATIENT_FILES:
            outpatient[group] = _validate(group, OutpatientRecord, _hex_fields(_object(group, value)))
        else:
            raise HolderError(f"holder: unknown group {group!r} (keys are card file paths, e.g. 'DDF1/EF06')")
    return Holder(files, allergies, immunisations, photo, inpatient, outpatient)


def _object(group: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HolderError(f"holder {group}: expected an object of field names")
    return dict(value)


def _validate(group: str, model: type[_M], values: dict[str, Any]) -> _M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise HolderError(f"holder {group}: {_summary(model, exc)}") from None


def _summary(model: type[BaseModel], exc: ValidationError) -> str:
    """One line per error: the field (with its abbreviation when it is a TLV item) and the message.
    Inputs are hidden by the models' config; nothing here echoes a value."""
    items = model.items() if issubclass(model, TlvFileModel) else {}
    parts = []
    for error in exc.errors():
        location = ".".join(str(p) for p in error["loc"])
        item = items.get(str(error["loc"][0])) if error["loc"] else None
        label = f"{location} ({item.abbreviation} {item.label})" if item else location or "record"
        parts.append(f"{label}: {error['msg']}")
    return "; ".join(parts)


def _hex_items(group: str, model: type[TlvFileModel], values: dict[str, Any]) -> dict[str, Any]:
    """Bytes items (format B, kind BYTES) arrive as hex strings in JSON."""
    for name, item in model.items().items():
        raw = values.get(name, values.get(item.abbreviation))
        if item.kind is Kind.BYTES and isinstance(raw, str):
            try:
                values[name if name in values else item.abbreviation] = bytes.fromhex(raw)
            except ValueError:
                raise HolderError(f"holder {group}: {name} ({item.abbreviation}) must be hex") from None
    return values


def _hex_fields(values: dict[str, Any]) -> dict[str, Any]:
    for name in ("signature", "sam_certificate"):
        if isinstance(values.get(name), str):
            try:
                values[name] = bytes.fromhex(values[name])
            except ValueError:
                raise HolderError(f"holder: {name} must be hex") from None
    return values


def _photo(value: dict[str, Any]) -> bytes | None:
    text = value.get("image_base64")
    if text is None:
        return None
    if not isinstance(text, str) or set(value) != {"image_base64"}:
        raise HolderError(f"holder {PHOTO_FILE}: expected {{'image_base64': '<base64>'}}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HolderError(f"holder {PHOTO_FILE}: image_base64 is not base64") from None


# -- file contents ---------------------------------------------------------------------------

#: A file's contents: the records of a record file (in order), or a transparent file's bytes.
FileContent = tuple[bytes, ...] | bytes


def file_contents(data: Holder, sm2: Sm2PrivateKey | None = None) -> dict[str, FileContent]:
    """The bytes of every EF of :data:`CARD_FILES` for *data*, keyed by path.

    TLV record files hold every item's record at full length (absent items = the item's filler);
    the allergy and immunisation cyclic files are filled to capacity (entries newest first, then
    empty records); index files hold ``00`` for every EE/ED slot in use and ``FF`` otherwise. With
    *sm2*, FKJGZS gets the issuer certificate when *data* gives none, and encounter records are
    signed (shared/spec/README.md: SM2 over SM3(Z ‖ data part), default user ID).
    """
    data = _with_issuer_certificate(data, sm2)
    contents: dict[str, FileContent] = {}
    for file in CARD_FILES:
        if file.is_df:
            continue
        if file.kind is FileKind.TLV_RECORDS:
            contents[file.path] = _tlv_records(file, data)
        elif file.kind is FileKind.CYCLIC:
            contents[file.path] = _cyclic_records(file, data)
        elif file.kind is FileKind.LINEAR_FIXED:
            contents[file.path] = _index_records(file, data)
        else:
            contents[file.path] = _transparent(file, data, sm2)
    return contents


def _tlv_records(file: CardFile, data: Holder) -> tuple[bytes, ...]:
    model = data.model(file.path)
    given = model.to_records()
    records = tuple(given.get(item.record) or encode_record(item, None) for item in items_in_file(file.path))
    if tuple(len(r) for r in records) != file.record_sizes:  # the dictionary contradicts itself
        raise AssertionError(f"{file.path}: records do not match the dictionary's record sizes")
    return records


def _cyclic_records(file: CardFile, data: Holder) -> tuple[bytes, ...]:
    entries: tuple[Allergy, ...] | tuple[Immunisation, ...]
    if file.path == ALLERGY_FILE:
        entries, empty = data.allergies, Allergy().to_bytes(full=True)
    elif file.path == IMMUNISATION_FILE:
        entries, empty = data.immunisations, Immunisation().to_bytes(full=True)
    else:
        raise AssertionError(f"no holder data for cyclic file {file.path}")
    records = [entry.to_bytes(full=True) for entry in entries]
    return tuple(records + [empty] * (file.record_count - len(records)))


def _index_records(file: CardFile, data: Holder) -> tuple[bytes, ...]:
    index: InpatientIndex | OutpatientIndex
    if file.path == InpatientIndex.FILE:
        index = InpatientIndex(in_use=tuple(path in data.inpatient for path in INPATIENT_FILES))
    elif file.path == OutpatientIndex.FILE:
        index = OutpatientIndex(in_use=tuple(path in data.outpatient for path in OUTPATIENT_FILES))
    else:
        raise AssertionError(f"no index for {file.path}")
    return tuple(index.to_records().values())


def _transparent(file: CardFile, data: Holder, sm2: Sm2PrivateKey | None) -> bytes:
    if file.path == PHOTO_FILE:
        return encode_photo(data.photo) if data.photo else b""
    record: InpatientRecord | OutpatientRecord
    if file.path in INPATIENT_FILES:
        record = data.inpatient.get(file.path) or InpatientRecord()
    elif file.path in OUTPATIENT_FILES:
        record = data.outpatient.get(file.path) or OutpatientRecord()
    else:
        raise AssertionError(f"no content for transparent file {file.path}")
    present = file.path in data.inpatient or file.path in data.outpatient
    if present and sm2 is not None and record.signature is None:
        record = record.model_copy(
            update={
                "signature": sm2.sign(record.to_bytes()),
                "sam_certificate": record.sam_certificate or sam_certificate(sm2, PERSONALISATION_SAM_SERIAL),
            }
        )
    return record.to_bytes(full=True)


def _with_issuer_certificate(data: Holder, sm2: Sm2PrivateKey | None) -> Holder:
    """Fill FKJGZS (DDF1/EF05) with the issuer certificate when the document gives none."""
    issuer = data.issuer
    if issuer.issuer_certificate is not None or sm2 is None:
        return data
    files = dict(data.files)
    files[issuer.FILE] = issuer.model_copy(update={"issuer_certificate": issuer_certificate(sm2)})
    return Holder(files, data.allergies, data.immunisations, data.photo, data.inpatient, data.outpatient)


def seal_document(document: Mapping[str, Any], sm2: Sm2PrivateKey | None) -> dict[str, Any]:
    """*document* with what :func:`file_contents` would sign filled in (the issuer certificate, each
    encounter record's signature and SAM certificate, as hex). SM2 signatures are randomised: only
    a sealed document yields the same bytes twice, so it is what an issuer journals and verifies."""
    sealed: dict[str, Any] = json.loads(json.dumps(dict(document)))
    if sm2 is None:
        return sealed
    holder = _parse(sealed)
    issuer = sealed.setdefault(IssuerData.FILE, {})
    if issuer.get("issuer_certificate") is None:
        issuer["issuer_certificate"] = issuer_certificate(sm2).hex()
    records: dict[str, InpatientRecord | OutpatientRecord] = {**holder.inpatient, **holder.outpatient}
    for path, record in records.items():
        if record.signature is None:
            sealed[path]["signature"] = sm2.sign(record.to_bytes()).hex()
            certificate = record.sam_certificate or sam_certificate(sm2, PERSONALISATION_SAM_SERIAL)
            sealed[path]["sam_certificate"] = certificate.hex()
    return sealed
