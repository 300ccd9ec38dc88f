"""Card operations of a health-card terminal: :class:`HealthCardSession` over a user-card
:class:`~cardservice.transport.Transport` and a :class:`~cardservice.keys.Sam`.

Facts sheet §4.9 (minimal read sequence), §4.2 (access rules), §2.2 (index files and slot policy),
§3 (EE/ED records). The session spends as few APDUs as the card allows:

* it tracks the current DF and EF and never re-selects them;
* it tracks the rights obtained by EXTERNAL AUTHENTICATE in the current DF and authenticates once
  per DF and right; a DF change forgets them (the card clears its security state then — facts
  sheet §1 notes: "assume not"), a :class:`~cardservice.errors.TransportError` (card reset, card
  pulled) forgets everything;
* it reads record files with READ RECORD(S) "all from P1" (P2 mode ``101``) and falls back to one
  READ RECORD per record when a card answers ``6A86``/``6A81`` (remembered for the session);
* it learns YYCSDM (the city code: level-2 diversification factor) before entering a DF whose keys
  need it, so no DF is left and re-entered for it. A missing or malformed YYCSDM stops the
  operation before any EXTERNAL AUTHENTICATE (a wrong factor burns the card's tries).

Encounter slots (EE0n inpatient, ED0n outpatient): :meth:`write_encounter` takes the first free
slot (index ``FF``); when all are in use it overwrites the *oldest* by the record's own date —
inpatient: earliest admission date, ties broken by the earliest discharge date; outpatient: earliest
visit date-time; a slot whose date is empty or unreadable counts as oldest (the slot policy of one
vendor DLL, facts sheet §2.2). The record is written data part ‖ signature ‖ SAM certificate in one
pass and the index set to ``00`` afterwards. Overwriting an in-use slot is not atomic; a torn record
then fails its signature check on reading (:class:`SignatureStatus`).

Signature (conventions table): SM2 ``r ‖ s`` by the SAM over SM3(Z ‖ data part) with the default
user ID; the 190-byte SAM certificate area holds the SAM certificate (DF01/001C of the SAM).

Nothing here logs. Errors carry status words, never names, ID numbers, PINs or keys.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any, ClassVar

from pydantic import ValidationError

from cardservice.apdu import (
    ApduTracer,
    CommandApdu,
    RecordMode,
    ResponseApdu,
    append_record,
    read_binary,
    read_record,
    select_by_fid,
    transceive,
    update_binary,
    update_record,
)
from cardservice.errors import CodecError, CryptoError, NotFoundError, TransportError, WrongParametersError
from cardservice.healthcard._dictionary import CARD_FILES, CardFile, FileKind, UpdateSm, card_file
from cardservice.healthcard._flows import (
    DEFAULT_TERMINAL_DATA,
    external_authenticate,
    run,
    stk_for,
    update_command,
)
from cardservice.healthcard._formats import decode_value
from cardservice.healthcard._keys import (
    CardFactorSource,
    HealthKey,
    KeyRole,
    card_factor,
    city_factor,
    health_key,
)
from cardservice.healthcard._models import (
    Allergy,
    Cardholder,
    CardValidity,
    EncounterIndex,
    Immunisation,
    InpatientIndex,
    InpatientRecord,
    IssuerData,
    LayoutModel,
    OutpatientIndex,
    OutpatientRecord,
    TlvFileModel,
    decode_photo,
    models_by_file,
)
from cardservice.healthcard._psam import (
    SAM_CERTIFICATE_SIZE,
    encode_sam_certificate,
    sam_certificate_public_key,
)
from cardservice.healthcard._records import decode_record
from cardservice.keys import Sam, Sm2PublicKey

__all__ = [
    "Encounter",
    "EncounterKind",
    "HealthCardSession",
    "Identity",
    "SignatureStatus",
]

_SW_FUNCTION_NOT_SUPPORTED = 0x6A81
_SW_WRONG_P1P2 = 0x6A86
_YYCSDM_TAG = 0x39
_SIGNATURE_LENGTH = 64
_MAX_SHORT_LC = 0xFF
_IN_USE = b"\x00"
_CLA_PROPRIETARY = 0x80  # 80 | SM bit = 84, as vendor A sends the index commands (facts sheet §2.2)
_INS_ERASE_RECORD = 0x0C  # ISO/IEC 7816-4 ERASE RECORD(S)


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
class Identity:
    """DDF1/EF05 + EF06 + EF08 (+ the EF07 photo on request). ``repr`` shows no personal data."""

    issuer: IssuerData
    cardholder: Cardholder
    validity: CardValidity
    photo: bytes | None = None

    def __repr__(self) -> str:
        photo = "none" if self.photo is None else f"{len(self.photo)} bytes"
        return f"Identity(<personal data hidden>, photo={photo})"


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


def _df_path(file: CardFile) -> str:
    return file.path if file.is_df else file.parent


class HealthCardSession:
    """Operations on one inserted health card with one SAM (facts sheet §4.9).

    *terminal_data* is the 8 bytes sent with each read-key EXTERNAL AUTHENTICATE (facts §4.5).
    *binary_chunk* is the READ BINARY size (256 = ``Le 00``; vendor code uses 128).
    """

    READ_ALL_RECORDS: ClassVar[RecordMode] = RecordMode.FROM_NUMBER

    def __init__(
        self,
        card: Any,
        sam: Sam,
        *,
        terminal_data: bytes = DEFAULT_TERMINAL_DATA,
        tracer: ApduTracer | None = None,
        card_factor_source: CardFactorSource = CardFactorSource.LAST_8,
        binary_chunk: int = 256,
        read_all_records: bool = True,
    ) -> None:
        if len(terminal_data) != 8:
            raise CodecError("terminal data must be 8 bytes")
        if not 1 <= binary_chunk <= 256:
            raise CodecError("binary_chunk must be 1..256")
        self._card = card
        self._sam = sam
        self._terminal_data = bytes(terminal_data)
        self._card_exchange: Callable[[CommandApdu], ResponseApdu] = partial(
            transceive, card.transmit, tracer=tracer
        )
        self._factor_source = card_factor_source
        self._chunk = binary_chunk
        self._read_all: bool | None = None if read_all_records else False
        self._df: str | None = None
        self._ef: str | None = None
        self._rights: set[str] = set()
        self._yycsdm: str | None = None
        self._yycsdm_known = False

    def __repr__(self) -> str:
        return f"HealthCardSession(df={self._df!r}, rights={sorted(self._rights)})"

    # -- state ------------------------------------------------------------------------------

    @property
    def current_df(self) -> str | None:
        return self._df

    @property
    def rights(self) -> frozenset[str]:
        """Key names whose right is held in the current DF."""
        return frozenset(self._rights)

    def forget_card_state(self) -> None:
        """The card was reset (or replaced): current DF/EF and every right are gone."""
        self._df = None
        self._ef = None
        self._rights.clear()

    def _exchange(self, command: CommandApdu) -> ResponseApdu:
        try:
            return self._card_exchange(command)
        except TransportError:
            self.forget_card_state()  # CardResetError and friends: the card's RAM state is lost
            raise

    def _send(self, command: CommandApdu) -> ResponseApdu:
        return self._exchange(command).check()

    # -- selection and rights ---------------------------------------------------------------------

    def _enter_df(self, target: str) -> None:
        chain = target.split("/")  # e.g. ["DDF1", "DF01"]
        paths = ["/".join(chain[: i + 1]) for i in range(len(chain))]
        current = self._df
        if current is not None and (
            target.startswith(current + "/")
            or current.startswith(target + "/")
            or target.rpartition("/")[0] == current.rpartition("/")[0]
        ):
            # ISO/IEC 7816-4 selection by FID reaches a child, the parent, and the parent's children.
            steps = [target] if not target.startswith(current + "/") else paths[paths.index(current) + 1 :]
        else:
            steps = paths  # unknown position: DDF1 is reachable from the MF and from inside the tree
        for step in steps:
            self._send(select_by_fid(card_file(step).fid))
            self._df, self._ef = step, None
            self._rights.clear()

    def _select(self, path: str) -> CardFile:
        file = card_file(path)
        target = _df_path(file)
        if self._df != target:
            self._enter_df(target)
        if not file.is_df and self._ef != file.path:
            self._send(select_by_fid(file.fid))
            self._ef = file.path
        return file

    def _factors(self, key: HealthKey) -> list[bytes]:
        factors = [card_factor(self._card.atr, self._factor_source)]
        if key.levels == 2:
            if self._yycsdm is None:
                raise CodecError(f"{key.name} needs the city factor, but YYCSDM (city code) is missing")
            factors.append(city_factor(self._yycsdm))
        return factors

    def _prepare(self, *keys: HealthKey) -> None:
        """Before entering a DF: learn YYCSDM if one of *keys* needs it, and check the factors."""
        if any(key.levels == 2 for key in keys) and not self._yycsdm_known:
            self._load_city_code()
        for key in keys:
            self._factors(key)  # refuses a missing or malformed city code before any APDU to the DF

    def _authorize(self, key_name: str) -> None:
        if key_name in self._rights:
            return
        key = health_key(key_name)
        run(external_authenticate(key, self._factors(key), self._terminal_data), self._exchange, self._sam)
        self._rights.add(key_name)

    def _open(self, path: str, *key_names: str | None) -> CardFile:
        """Select *path* holding the rights of *key_names* (factors checked before any SELECT)."""
        keys = [health_key(name) for name in key_names if name]
        file = card_file(path)
        updating = any(key.role is KeyRole.UPDATE for key in keys)
        secured = file.update_sm in (UpdateSm.MAC, UpdateSm.ENC_MAC)
        stk = [stk_for(_df_path(file).rpartition("/")[2])] if updating and secured else []
        self._prepare(*keys, *stk)
        self._select(path)
        for key in keys:
            self._authorize(key.name)
        return file

    # -- raw reads ------------------------------------------------------------------------------

    def _load_city_code(self) -> None:
        """YYCSDM from DDF1/EF05 (free read): READ RECORD by record identifier = tag 39 (facts §2.1)."""
        file = self._select("DDF1/EF05")
        size = 2 + 3
        try:
            raw = self._send(read_record(_YYCSDM_TAG, mode=RecordMode.ID_FIRST, ne=size)).data
        except WrongParametersError as exc:
            if exc.sw not in (_SW_WRONG_P1P2, _SW_FUNCTION_NOT_SUPPORTED):
                raise
            raw = self._send(read_record(10, ne=file.record_sizes[9])).data
        decoded = decode_record(raw, file=file.path)
        value = None if decoded is None else decoded[1]
        self._yycsdm = value if isinstance(value, str) and value else None
        self._yycsdm_known = True

    def _read_records(self, file: CardFile) -> list[bytes]:
        if self._read_all is not False:
            try:
                records = self._read_records_at_once(file)
            except WrongParametersError as exc:
                if exc.sw not in (_SW_WRONG_P1P2, _SW_FUNCTION_NOT_SUPPORTED):
                    raise
                self._read_all = False
            else:
                self._read_all = True
                return records
        records = []
        for number, size in enumerate(file.record_sizes, start=1):
            try:
                records.append(self._send(read_record(number, ne=size)).data)
            except NotFoundError:
                break  # a cyclic file holds fewer records than its capacity
        return records

    def _read_records_at_once(self, file: CardFile) -> list[bytes]:
        """READ RECORD(S) P2 mode 101 (records P1..last): the card returns whole records, as many
        as fit in Le; split them with the dictionary's record sizes and continue after the last."""
        sizes = file.record_sizes
        records: list[bytes] = []
        while len(records) < len(sizes):
            number = len(records) + 1
            try:
                data = self._send(read_record(number, mode=self.READ_ALL_RECORDS, ne=256)).data
            except NotFoundError:
                break
            taken = 0
            for size in sizes[len(records) :]:
                if len(data) - taken < size:
                    break
                records.append(data[taken : taken + size])
                taken += size
            if taken == 0 or taken != len(data):
                raise CodecError(f"{file.path}: READ RECORD(S) answer does not split into its records")
        return records

    def _read_binary(self, length: int, offset: int = 0) -> bytes:
        out = bytearray()
        while len(out) < length:
            want = min(self._chunk, length - len(out))
            chunk = self._send(read_binary(offset + len(out), want)).data
            if not chunk:
                raise CodecError("READ BINARY returned no data")
            out += chunk
        return bytes(out[:length])

    def _write_binary(self, file: CardFile, offset: int, data: bytes) -> None:
        for start in range(0, len(data), _MAX_SHORT_LC):
            command = update_binary(offset + start, data[start : start + _MAX_SHORT_LC])
            run(update_command(file, command, self._factors), self._exchange, self._sam)

    def read_file(self, path: str) -> list[bytes] | bytes:
        """The raw content of *path*: its records, or a transparent file's bytes."""
        file = card_file(path)
        self._open(path, file.read_key)
        if file.kind is FileKind.TRANSPARENT:
            return self._read_binary(file.size or 0)
        return self._read_records(file)

    def _tlv(self, model: type[TlvFileModel]) -> Any:
        records = self.read_file(model.FILE)
        assert isinstance(records, list)
        return model.from_records(records)

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
        is checked against the public key in the record's own SAM certificate area."""
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
        status, signer = _check_signature(raw, layout.data_size)
        return Encounter(kind, slot, record, status, signer)

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
