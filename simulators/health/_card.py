"""The ``health`` card profile: a personalised Resident Health Card (WS/T 543) on the card OS.

The whole tree comes from the dictionary (``cardservice.healthcard.CARD_FILES``), the keys from
``HEALTH_KEYS``, the contents from a :class:`~._holder.Holder` through the models' ``to_records()`` /
``to_bytes()``. Nothing about the card layout is written here twice.

* Files: MF (FCI name ``jmjkkyyhj`` 00-padded to 16, facts sheet §1), DDF1 ``WS.SYS.DDF01``, the ADFs
  DF01-DF03 with their AIDs, every EF. TLV record files are linear-variable SIMPLE-TLV files whose
  records are written at full length (absent items = the item's filler); the allergy and
  immunisation cyclic files are filled to capacity (holder entries newest first, then empty records);
  index files hold ``00`` for every EE/ED slot the holder fills and ``FF`` otherwise; EF05-EF08 have
  SFIs 5-8 (no SFI use was seen on real cards, they are a convenience).
* Access (facts sheet §4.1-4.2 as the dictionary states it): read free for DDF1/EF05, otherwise after
  EXTERNAL AUTHENTICATE with the DF's RK; update after the file's UK with the dictionary's secure
  messaging (STK of the DF); DDF1/EF05-EF06 NEVER after issuance; APPEND RECORD only for the cyclic
  files (same rule as update); erase (ERASE RECORD, INS 0C) only for the DF03
  index files, after UK2DF03 with the index's MAC. The DFs allow neither CREATE FILE nor WRITE KEY.
* Keys: ``diversify(master, [card_factor(ATR)] (+ [city_factor(YYCSDM)]))`` per the key's ``levels``;
  the ATR is the one :func:`simulators.cardos.build_atr` makes from the serial. 15 tries each
  (shared/spec/README.md). So the card authenticates against any SAM holding the same master keys.
* Optional PBOC shell: empty DFs ``1PAY.SYS.DDF01`` (FID AF01) and ``2PAY.SYS.DDF01`` (FID AF02) under
  the MF, so SELECT by name behaves like on a dual-application card (their FIDs are project choices).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from cardservice.healthcard import (
    CARD_FILES,
    HEALTH_KEYS,
    Allergy,
    CardFile,
    FileKind,
    HealthKey,
    Immunisation,
    InpatientIndex,
    InpatientRecord,
    KeyRole,
    OutpatientIndex,
    OutpatientRecord,
    UpdateSm,
    card_factor,
    city_factor,
    encode_photo,
    encode_record,
    items_in_file,
)
from cardservice.keys import (
    BlockCipher,
    KeyStore,
    Sm2PrivateKey,
    diversify,
)
from simulators.cardos import (
    ALWAYS,
    NEVER,
    AccessRule,
    CardImage,
    CardOptions,
    DfSpec,
    EfSpec,
    FileStructure,
    KeyAlgorithm,
    KeySpec,
    KeyUsage,
    SmMode,
    after_auth,
    build_atr,
    create_image,
    register_profile,
)
from simulators.health._certs import issuer_certificate, sam_certificate
from simulators.health._holder import (
    ALLERGY_FILE,
    IMMUNISATION_FILE,
    INPATIENT_FILES,
    OUTPATIENT_FILES,
    PHOTO_FILE,
    Holder,
    HolderError,
    load_holder,
)
from simulators.health._keys import MasterKey, demo_sm2_private_key, master_keys, open_keystore

__all__ = ["HEALTH_PROFILE", "PERSONALISATION_SAM_SERIAL", "create_health_card", "health_profile"]

HEALTH_PROFILE = "health"

#: SAM number written into the certificate area of encounter records signed at personalisation.
PERSONALISATION_SAM_SERIAL = bytes(10)

_MF_NAME = b"jmjkkyyhj".ljust(16, b"\x00")
_PBOC_SHELL = ((0xAF01, b"1PAY.SYS.DDF01"), (0xAF02, b"2PAY.SYS.DDF01"))
_SM_MODES = {UpdateSm.MAC: SmMode.MAC, UpdateSm.ENC_MAC: SmMode.ENCRYPTED_MAC}
_USAGES = {
    KeyRole.READ: KeyUsage.EXTERNAL_AUTH,
    KeyRole.UPDATE: KeyUsage.EXTERNAL_AUTH,
    KeyRole.SECURE_MESSAGING: KeyUsage.SECURE_MESSAGING,
    KeyRole.INTERNAL_AUTH: KeyUsage.INTERNAL_AUTH,
}
_ALGORITHMS = {
    BlockCipher.SM4: KeyAlgorithm.SM4,
    BlockCipher.TDES: KeyAlgorithm.TDES,
    BlockCipher.DES: KeyAlgorithm.DES,
}
SW_WRONG_P1P2, SW_WRONG_LENGTH, SW_CONDITIONS, SW_SM_INCORRECT = 0x6A86, 0x6700, 0x6985, 0x6988
_MAC_LENGTH = 4
_KEY_TRIES = 15  # shared/spec/README.md conventions: 15 tries per key


def create_health_card(
    path: str | os.PathLike[str],
    *,
    holder: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    keystore: KeyStore | None = None,
    serial: bytes | None = None,
    overwrite: bool = False,
    protocols: str = "T=1",
) -> None:
    """Write a personalised health card image. ``holder``: a holder JSON path or mapping (default:
    the demo holder); ``keystore``: the issuer master keys (default: the DEMO set); ``serial``: 8
    bytes (default random). Raises :class:`HolderError` for a bad holder, ``FileExistsError``."""
    create_image(
        path,
        HEALTH_PROFILE,
        serial=serial,
        overwrite=overwrite,
        protocols=protocols,
        holder=holder,
        keystore=keystore,
    )


def health_profile(
    *,
    serial: bytes,
    options: CardOptions,
    holder: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    keys: str | os.PathLike[str] | None = None,
    passphrase: str | None = None,
    keystore: KeyStore | None = None,
) -> CardImage:
    """Profile factory (``create_image(path, "health", holder=PATH, keys=PATH, passphrase=STR)``)."""
    keystore = open_keystore(keys, passphrase, keystore)
    data = load_holder(holder)
    masters = master_keys(keystore)
    sm2 = keystore.sm2_private_key if keystore is not None else demo_sm2_private_key()
    atr = build_atr(serial, options.protocols)
    city = data.issuer.city_code
    if city is None:
        raise HolderError("holder DDF1/EF05: city_code (YYCSDM) is required: level-2 keys derive from it")
    factors = (card_factor(atr), city_factor(city))
    mf = _mf(_issuer_certificate_item(data, sm2), masters, factors, sm2)
    return CardImage.build(mf, serial=serial, profile=HEALTH_PROFILE, options=options)


# -- tree ---------------------------------------------------------------------------------------


def _mf(
    data: Holder, masters: Mapping[str, MasterKey], factors: tuple[bytes, bytes], sm2: Sm2PrivateKey | None
) -> DfSpec:
    children: dict[str, list[DfSpec | EfSpec]] = {}
    dfs = [f for f in CARD_FILES if f.is_df]
    for file in CARD_FILES:
        if not file.is_df:
            children.setdefault(file.parent, []).append(_ef(file, data, sm2))

    def build(file: CardFile) -> DfSpec:
        subs: list[DfSpec | EfSpec] = [build(d) for d in dfs if d.parent == file.path and file.path != "MF"]
        if file.kind is FileKind.MF:
            subs = [build(d) for d in dfs if d.kind is FileKind.DDF]
            subs += [DfSpec(fid, name=name, create=NEVER, write_key=NEVER) for fid, name in _PBOC_SHELL]
        return DfSpec(
            fid=file.fid,
            name=_MF_NAME if file.kind is FileKind.MF else (file.df_name or b""),
            children=(*children.get(file.path, ()), *subs),
            keys=_keys(file.path.rpartition("/")[2], masters, factors),
            create=NEVER,
            write_key=NEVER,
        )

    return build(next(f for f in dfs if f.kind is FileKind.MF))


def _df_keys(df: str) -> list[HealthKey]:
    return [key for key in HEALTH_KEYS if key.df == df]


def _keys(df: str, masters: Mapping[str, MasterKey], factors: tuple[bytes, bytes]) -> tuple[KeySpec, ...]:
    specs = []
    for key in _df_keys(df):
        master = masters[key.name]
        value = diversify(master.value, factors[: key.levels], cipher=master.algorithm)
        specs.append(
            KeySpec(
                key.card_ref,
                value,
                usage=_USAGES[key.role],
                algorithm=_ALGORITHMS[master.algorithm],
                max_tries=_KEY_TRIES,
            )
        )
    return tuple(specs)


def _ref(name: str | None) -> int:
    return next(key.card_ref for key in HEALTH_KEYS if key.name == name)


def _stk(df: str) -> int:
    return next(key.card_ref for key in _df_keys(df) if key.role is KeyRole.SECURE_MESSAGING)


def _df_of(file: CardFile) -> str:
    return file.parent.rpartition("/")[2]


def _rules(file: CardFile) -> tuple[AccessRule, AccessRule, AccessRule, AccessRule]:
    """read, update, append, erase from the dictionary's keys and SM modes (facts sheet §4.2)."""
    read = ALWAYS if file.read_key is None else after_auth(_ref(file.read_key))
    sm = _SM_MODES.get(file.update_sm, SmMode.NONE)
    if file.update_sm is UpdateSm.PROHIBITED or file.update_key is None:
        update = NEVER
    else:
        update = after_auth(_ref(file.update_key), sm, _stk(_df_of(file)) if sm else 0)
    append = update if file.kind is FileKind.CYCLIC else NEVER
    erase = NEVER
    if file.erase_key is not None:
        erase = after_auth(_ref(file.erase_key), sm, _stk(_df_of(file)) if sm else 0)
    return read, update, append, erase


def _ef(file: CardFile, data: Holder, sm2: Sm2PrivateKey | None) -> EfSpec:
    read, update, append, erase = _rules(file)
    spec = _ef_shape(file, data, sm2)
    return dataclasses.replace(spec, read=read, update=update, append=append, erase=erase)


def _ef_shape(file: CardFile, data: Holder, sm2: Sm2PrivateKey | None) -> EfSpec:
    sfi = file.fid & 0x1F if file.fid in (0xEF05, 0xEF06, 0xEF07, 0xEF08) else None
    if file.kind is FileKind.TLV_RECORDS:
        return EfSpec(
            file.fid,
            FileStructure.LINEAR_VARIABLE,
            record_length=max(file.record_sizes),
            max_records=file.record_count,
            simple_tlv=True,
            sfi=sfi,
            content=_tlv_records(file, data),
        )
    if file.kind is FileKind.CYCLIC:
        return EfSpec(
            file.fid,
            FileStructure.CYCLIC,
            record_length=file.record_sizes[0],
            max_records=file.record_count,
            sfi=sfi,
            content=_cyclic_records(file, data),
        )
    if file.kind is FileKind.LINEAR_FIXED:
        return EfSpec(
            file.fid,
            FileStructure.LINEAR_FIXED,
            record_length=1,
            max_records=file.record_count,
            sfi=sfi,
            content=_index_records(file, data),
        )
    assert file.size is not None
    return EfSpec(file.fid, size=file.size, sfi=sfi, content=_transparent(file, data, sm2))


def _tlv_records(file: CardFile, data: Holder) -> tuple[bytes, ...]:
    """Every record at full length: the holder's value, or the item's filler."""
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
        # shared/spec/README.md: signature = SM2 over SM3(Z ‖ data part), default user ID.
        record = record.model_copy(
            update={
                "signature": sm2.sign(record.to_bytes()),
                "sam_certificate": record.sam_certificate or sam_certificate(sm2, PERSONALISATION_SAM_SERIAL),
            }
        )
    return record.to_bytes(full=True)


def _issuer_certificate_item(data: Holder, sm2: Sm2PrivateKey | None) -> Holder:
    """Fill FKJGZS (DDF1/EF05) with the issuer certificate when the holder gives none."""
    issuer = data.issuer
    if issuer.issuer_certificate is not None or sm2 is None:
        return data
    files = dict(data.files)
    files[issuer.FILE] = issuer.model_copy(update={"issuer_certificate": issuer_certificate(sm2)})
    return Holder(files, data.allergies, data.immunisations, data.photo, data.inpatient, data.outpatient)


register_profile(HEALTH_PROFILE, health_profile)
