"""Card operations of a health-card terminal: :class:`HealthCardSession` over a user-card
:class:`~cardservice.transport.Transport` and a :class:`~cardservice.keys.Sam`.

Facts sheet §4.9 (minimal read sequence), §4.2 (access rules), §2.2 (index files and slot policy),
§3 (EE/ED records). How the session spends as few APDUs as the card allows (current DF and EF,
rights, READ RECORD(S), the city code) is its base class :class:`~._card_access._CardAccess`; the
encounter types, slot files, age order and signature check are in :mod:`._encounters`.

Encounter slots (EE0n inpatient, ED0n outpatient): :meth:`write_encounter` takes the first free
slot (index ``FF``); when all are in use it overwrites the *oldest* by the record's own date —
inpatient: earliest admission date, ties broken by the earliest discharge date; outpatient: earliest
visit date-time; a slot whose date is empty or unreadable counts as oldest (the slot policy of one
vendor DLL, facts sheet §2.2). The record is written data part ‖ signature ‖ SAM certificate in one
pass and the index set to ``00`` afterwards. Overwriting an in-use slot is not atomic; a torn record
then fails its signature check on reading (:class:`SignatureStatus`).

Genuineness: :meth:`authenticate_card` makes the card prove it holds its issuer-diversified IRK
(INTERNAL AUTHENTICATE, checked by the SAM; :mod:`._flows`). The reader manager runs it at insertion,
before the identity is believed; key reference and algorithm are session options (card profiles).

Signature trust: *trusted_signers* lists the SM3 fingerprints whose signatures are ``valid``; without a
list (``None``, the command line's case) the key of the SAM in use is the one trusted signer.

Nothing here logs. Errors carry status words, never names, ID numbers, PINs or keys.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cardservice.apdu import CommandApdu, RecordMode, append_record, read_binary, update_record
from cardservice.errors import CardError, CodecError, CryptoError
from cardservice.healthcard._card_access import _CardAccess
from cardservice.healthcard._dictionary import CARD_FILES, UpdateSm, card_file
from cardservice.healthcard._encounters import (
    _AGE_FIELDS,
    _ENCOUNTERS,
    Encounter,
    EncounterKind,
    SignatureStatus,
    _check_signature,
    _EncounterFiles,
    _sortable,
    signer_fingerprint,
)
from cardservice.healthcard._flows import INTERNAL_AUTH_ALGORITHMS, internal_authenticate, run, update_command
from cardservice.healthcard._formats import decode_value
from cardservice.healthcard._keys import health_key
from cardservice.healthcard._models import (
    Allergy,
    Cardholder,
    CardValidity,
    EncounterIndex,
    Immunisation,
    InpatientRecord,
    IssuerData,
    LayoutModel,
    OutpatientRecord,
    decode_photo,
    models_by_file,
)
from cardservice.healthcard._psam import SAM_CERTIFICATE_SIZE, encode_sam_certificate
from cardservice.keys import random_bytes

__all__ = ["HealthCardSession", "Identity"]

_IN_USE = b"\x00"
_CLA_PROPRIETARY = 0x80  # 80 | SM bit = 84, as vendor A sends the index commands (facts sheet §2.2)
_INS_ERASE_RECORD = 0x0C  # ISO/IEC 7816-4 ERASE RECORD(S)


@dataclass(frozen=True)
class Identity:
    """DDF1/EF05 + EF06 + EF08 (+ the EF07 photo on request). ``repr`` shows no personal data."""

    issuer: IssuerData
    cardholder: Cardholder
    validity: CardValidity
    photo: bytes | None = None

    def __repr__(self) -> str:
        photo = "none" if self.photo is None else f"{len(self.photo)} bytes"
        return f"Identity(<personal data hidden>, photo={photo})"


class HealthCardSession(_CardAccess):
    """Operations on one inserted health card with one SAM (facts sheet §4.9).

    *terminal_data* is the 8 bytes sent with each read-key EXTERNAL AUTHENTICATE (facts §4.5).
    *binary_chunk* is the READ BINARY size (256 = ``Le 00``; vendor code uses 128).
    *internal_auth_key_ref* / *internal_auth_algorithm*: how :meth:`authenticate_card` asks the card
    (default: IRKDDF1's reference in HEALTH_KEYS, ``ecb-16``). *trusted_signers*: see the module.
    The constructor, the card state and the raw reads and writes are :class:`_CardAccess`'s.
    """

    def __repr__(self) -> str:
        return f"HealthCardSession(df={self._df!r}, rights={sorted(self._rights)})"

    # -- reading --------------------------------------------------------------------------------

    def read_issuer_data(self) -> IssuerData:
        """DDF1/EF05 发卡机构基本数据, free read. Also teaches the session YYCSDM."""
        issuer: IssuerData = self._tlv(IssuerData)
        self._yycsdm, self._yycsdm_known = issuer.city_code or None, True
        return issuer

    def read_photo(self) -> bytes | None:
        """DDF1/EF07: reads the length prefix's worth of image only (RK1DDF1)."""
        file = self._open("DDF1/EF07", "RK1DDF1")
        head = self._send(read_binary(0, min(self._chunk, file.size or 0))).data
        if len(head) < 2:
            raise CodecError("ZHAOPIAN (照片): no length prefix")
        length = int.from_bytes(head[:2], "big")
        if length in (0, 0xFFFF):
            return None
        total = min(2 + length, file.size or 0)
        rest = self._read_binary(total - len(head), len(head)) if total > len(head) else b""
        return decode_photo((head + rest)[:total])

    def authenticate_card(self, challenge: bytes | None = None) -> None:
        """Make the card prove it is genuine before anything it says is believed: INTERNAL
        AUTHENTICATE with IRKDDF1 in DDF1, its answer checked by the SAM (:mod:`._flows`). Raises
        :class:`~._flows.CardNotGenuineError`. *challenge*: tests only — by default fresh random
        bytes of the algorithm's length. One SELECT DDF1 (which a read of DDF1 needs anyway) and one
        INTERNAL AUTHENTICATE; no read right, no try of the card's keys is spent."""
        key = health_key("IRKDDF1")
        self._prepare(key)
        scheme = INTERNAL_AUTH_ALGORITHMS[self._irk_algorithm]
        challenge = random_bytes(scheme.challenge_length) if challenge is None else challenge
        flow = internal_authenticate(
            key, self._factors(key), challenge, algorithm=self._irk_algorithm, card_ref=self._irk_ref
        )
        self._select("DDF1")
        run(flow, self._exchange, self._sam)

    def read_identity(self, photo: bool = False) -> Identity:
        """EF05 + EF06 + EF08 of DDF1 (and the EF07 photo on request): one RK1DDF1 authentication."""
        issuer = self.read_issuer_data()
        cardholder: Cardholder = self._tlv(Cardholder)
        validity: CardValidity = self._tlv(CardValidity)
        image = self.read_photo() if photo else None
        return Identity(issuer, cardholder, validity, image)

    def read_allergies(self) -> list[Allergy]:
        """DF02/EF07, newest first; empty records skipped."""
        return self._layout_records("DDF1/DF02/EF07", Allergy)

    def read_immunisations(self) -> list[Immunisation]:
        return self._layout_records("DDF1/DF02/EF08", Immunisation)

    def _layout_records(self, path: str, model: type[Any]) -> list[Any]:
        records = self.read_file(path)
        assert isinstance(records, list)
        entries = [model.from_bytes(raw) for raw in records]
        # Unused slots of a cyclic file decode to an entry with every field absent.
        return [entry for entry in entries if any(v is not None for v in entry.model_dump().values())]

    def read_index(self, kind: EncounterKind | str) -> EncounterIndex:
        files = _ENCOUNTERS[EncounterKind(kind)]
        records = self.read_file(files.index)
        assert isinstance(records, list)
        return files.index_model.from_records(records)

    def read_encounters(self, kind: EncounterKind | str, *, verify: bool = True) -> list[Encounter]:
        """Every in-use slot of *kind*, decoded; with *verify* the SM2 signature over the data part
        is checked against the public key in the record's own SAM certificate area, and is ``valid``
        only for a trusted signer (*trusted_signers*; without a list, the key of the SAM in use)."""
        kind = EncounterKind(kind)
        files = _ENCOUNTERS[kind]
        index = self.read_index(kind)
        encounters = []
        for slot, used in enumerate(index.in_use, start=1):
            if used:
                encounters.append(self._read_encounter(kind, files, slot, verify))
        return encounters

    def _read_encounter(
        self, kind: EncounterKind, files: _EncounterFiles, slot: int, verify: bool
    ) -> Encounter:
        raw = self.read_file(files.slot_path(slot))
        assert isinstance(raw, bytes)
        layout = files.model.LAYOUT
        record = files.model.from_bytes(raw)
        if not verify:
            return Encounter(kind, slot, record, SignatureStatus.NOT_CHECKED)
        trusted = self._is_own_sam if self._trusted is None else self._trusted
        status, signer = _check_signature(raw, layout.data_size, trusted)
        return Encounter(kind, slot, record, status, signer)

    def _is_own_sam(self, fingerprint: str) -> bool:
        """No trusted list was given: the signer is trusted if it is the SAM this session uses."""
        try:
            return signer_fingerprint(self._sam.sm2_public_key()) == fingerprint
        except (CardError, CryptoError):
            return False  # a SAM without an SM2 key trusts nobody

    def read_all(self) -> dict[str, object]:
        """Every file, decoded through the dictionary models and layouts, keyed by file path: TLV
        models, the photo (bytes or None), allergy/immunisation lists, index models and, for each
        in-use EE/ED slot, an :class:`Encounter` (signature checked). DFs in dictionary order, so
        each read right is obtained once."""
        out: dict[str, object] = {}
        tlv_models = models_by_file()
        for file in CARD_FILES:
            if file.is_df or file.path.rsplit("/", 1)[-1][:2] in ("EE", "ED"):
                continue
            if file.path in tlv_models:
                out[file.path] = self._tlv(tlv_models[file.path])
                if file.path == "DDF1/EF05":
                    issuer = out[file.path]
                    assert isinstance(issuer, IssuerData)
                    self._yycsdm, self._yycsdm_known = issuer.city_code or None, True
            elif file.path == "DDF1/EF07":
                out[file.path] = self.read_photo()
            elif file.path == "DDF1/DF02/EF07":
                out[file.path] = self.read_allergies()
            elif file.path == "DDF1/DF02/EF08":
                out[file.path] = self.read_immunisations()
        for kind, files in _ENCOUNTERS.items():
            index = self.read_index(kind)
            out[files.index] = index
            for slot, used in enumerate(index.in_use, start=1):
                if used:
                    out[files.slot_path(slot)] = self._read_encounter(kind, files, slot, True)
        return out

    # -- updating -------------------------------------------------------------------------------

    def update_items(self, path: str, **fields: object) -> None:
        """Update items of a TLV file (DDF1/EF08, DF01/EF05-EF08, DF02/EF05-EF06) by model field
        name or abbreviation, with the file's update key and secure messaging (dictionary)."""
        file = card_file(path)
        model = models_by_file().get(file.path)
        if model is None or file.update_key is None or file.update_sm is UpdateSm.PROHIBITED:
            raise CodecError(f"{file.path} cannot be updated by a terminal")
        try:
            value = model.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise CodecError(f"{model.__name__}: {problems}") from None
        records = value.to_records()
        if not records:
            raise CodecError("no items to update")
        self._open(file.path, file.update_key)
        for number, record in sorted(records.items()):
            run(update_command(file, update_record(number, record), self._factors), self._exchange, self._sam)

    def _append(self, path: str, record: LayoutModel) -> None:
        file = card_file(path)
        assert file.update_key is not None
        self._open(path, file.update_key)
        run(update_command(file, append_record(record.to_bytes()), self._factors), self._exchange, self._sam)

    def append_allergy(self, substance: str, reaction: str | None = None) -> None:
        """DF02/EF07 (cyclic, UK3DF02): APPEND RECORD, the new entry becomes record 1 (facts §2.2)."""
        self._append("DDF1/DF02/EF07", Allergy(substance=substance, reaction=reaction))

    def append_immunisation(self, vaccine: str, date: _dt.date | None = None) -> None:
        """DF02/EF08 (cyclic, UK3DF02): APPEND RECORD."""
        self._append("DDF1/DF02/EF08", Immunisation(vaccine=vaccine, date=date))

    # -- encounters -----------------------------------------------------------------------------

    def verify_sam_pin(self, pin: str) -> None:
        """Unlock the SAM for signing (facts §4.8); 63Cx / 6983 surface as errors."""
        self._sam.verify_pin(pin)

    def _sam_certificate(self) -> bytes:
        certificate = getattr(self._sam, "certificate", None)
        if callable(certificate):
            raw = certificate()
            if isinstance(raw, bytes) and len(raw) == SAM_CERTIFICATE_SIZE:
                return raw
        return encode_sam_certificate(self._sam.sm2_public_key(), self._sam.sm2_sign)

    def _signature_area(self, data_part: bytes) -> bytes:
        return self._sam.sm2_sign(data_part) + self._sam_certificate()

    def write_encounter(
        self, kind: EncounterKind | str, record: InpatientRecord | OutpatientRecord, *, sign: bool = True
    ) -> int:
        """Write *record* to a free slot (else the oldest), then mark its index ``00``; returns the
        slot number. With *sign* (default) the SAM signs first — the SAM PIN must be verified — so a
        refused signature writes nothing. Without, the signature area is cleared to ``00``."""
        kind = EncounterKind(kind)
        files = _ENCOUNTERS[kind]
        if not isinstance(record, files.model):
            raise CodecError(f"a {kind.value} encounter needs a {files.model.__name__}")
        layout = files.model.LAYOUT
        data = record.to_bytes()
        tail = self._signature_area(data) if sign else bytes(layout.size - layout.data_size)
        index = self.read_index(kind)
        slot = index.first_free_slot() or self._oldest_slot(kind, files, len(index.in_use))
        target = card_file(files.slot_path(slot))
        self._open(target.path, target.update_key)
        self._write_binary(target, 0, data + tail)
        self._set_index(files, slot, _IN_USE, target.update_key)
        return slot

    def _oldest_slot(self, kind: EncounterKind, files: _EncounterFiles, slots: int) -> int:
        layout = files.model.LAYOUT
        ages: list[tuple[tuple[object, ...], int]] = []
        for slot in range(1, slots + 1):
            self._open(files.slot_path(slot), card_file(files.slot_path(slot)).read_key)
            key: list[object] = []
            for name in _AGE_FIELDS[kind]:
                age_field = layout.field(name)
                raw = self._send(read_binary(age_field.offset, age_field.length)).data
                try:
                    value = decode_value(age_field, raw)
                except CodecError:
                    value = None  # unreadable date: treated as oldest
                key.append(_sortable(value))
            ages.append((tuple(key), slot))
        return min(ages)[1]

    def _set_index(self, files: _EncounterFiles, slot: int, flag: bytes, key_name: str | None) -> None:
        index_file = self._open(files.index, key_name)
        run(update_command(index_file, update_record(slot, flag), self._factors), self._exchange, self._sam)

    def erase_encounter(self, kind: EncounterKind | str, slot: int) -> None:
        """Mark *slot* empty (index ``FF``) with the erase right UK2DF03 (facts sheet §4.2):
        ERASE RECORD ``84 0C <slot> 04 04 MAC`` — vendor A's command, with the MAC the spec asks for
        (the index files' SM is MAC). The record's bytes stay; only the index says "empty"."""
        files = _ENCOUNTERS[EncounterKind(kind)]
        index_file = card_file(files.index)
        if not 1 <= slot <= index_file.record_count:
            raise CodecError(f"{files.index} has no slot {slot}")
        self._open(files.index, index_file.erase_key)
        erase = CommandApdu(_CLA_PROPRIETARY, _INS_ERASE_RECORD, slot, RecordMode.NUMBER)
        run(update_command(index_file, erase, self._factors), self._exchange, self._sam)

    def sign_encounter(self, kind: EncounterKind | str, slot: int) -> None:
        """(Re-)sign the record in *slot*: read its data part, sign with the SAM (PIN first), write
        signature ‖ SAM certificate after it."""
        files = _ENCOUNTERS[EncounterKind(kind)]
        if not 1 <= slot <= card_file(files.index).record_count:
            raise CodecError(f"no {EncounterKind(kind).value} slot {slot}")
        target = card_file(files.slot_path(slot))
        layout = files.model.LAYOUT
        self._open(target.path, target.read_key)
        data = self._read_binary(layout.data_size)
        tail = self._signature_area(data)
        self._open(target.path, target.update_key)
        self._write_binary(target, layout.data_size, tail)
