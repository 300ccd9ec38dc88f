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
* The bank application (PBOC 3.0 debit, :mod:`simulators.pboc`): the PSE ``1PAY.SYS.DDF01`` (FID AF01), the
  PPSE ``2PAY.SYS.DDF01`` (AF02, empty) and the debit ADF under the MF, personalised for ``bank`` (a
  :class:`~cardservice.pboc._profile.BankAccount`; default the DEMO account, keys diversified from the DEMO
  bank keys). ``bank=False`` leaves the two DDFs empty, as on a health-only card (their FIDs are project
  choices). The bank application's commands are in the profile's INS table (:data:`PBOC_INSTRUCTIONS`).
  With a key store holding the bank issuer's keys (``PBOC-IMK-*``), the card keys come from those.
  The same commands run on ``blank`` cards that card-issuer gave the application (:mod:`simulators.pboc`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from cardservice.healthcard import (
    CARD_FILES,
    Access,
    CardFile,
    EfStructure,
    FileContent,
    FileKind,
    HolderError,
    KeyRole,
    card_factor,
    city_factor,
    df_keys,
    ef_shape,
    file_contents,
    load_holder,
)
from cardservice.keys import BlockCipher, KeyStore, diversify
from cardservice.pboc import AcScheme
from cardservice.pboc._issuing import KEYSTORE_KEY_NAMES
from cardservice.pboc._profile import DEMO_ACCOUNT, BankAccount
from simulators.cardos import (
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
    build_atr,
    create_image,
    register_profile,
)
from simulators.health._demo import DEMO_HOLDER_PATH
from simulators.health._keys import MasterKey, demo_sm2_private_key, master_keys, open_keystore
from simulators.pboc import PBOC_INSTRUCTIONS, payment_dfs, payment_shell

__all__ = ["HEALTH_PROFILE", "create_health_card", "health_profile"]

HEALTH_PROFILE = "health"

_MF_NAME = b"jmjkkyyhj".ljust(16, b"\x00")
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
    bank: BankAccount | bool = True,
) -> None:
    """Write a personalised health card image. ``holder``: a holder JSON path or mapping (default:
    the demo holder); ``keystore``: the issuer master keys (default: the DEMO set); ``serial``: 8
    bytes (default random); ``bank``: the bank application's account (True: the DEMO account, False: no
    bank application). Raises :class:`HolderError` for a bad holder, ``FileExistsError``."""
    create_image(
        path,
        HEALTH_PROFILE,
        serial=serial,
        overwrite=overwrite,
        protocols=protocols,
        holder=holder,
        keystore=keystore,
        bank=bank,
    )


def health_profile(
    *,
    serial: bytes,
    options: CardOptions,
    holder: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    keys: str | os.PathLike[str] | None = None,
    passphrase: str | None = None,
    keystore: KeyStore | None = None,
    bank: BankAccount | bool = True,
) -> CardImage:
    """Profile factory (``create_image(path, "health", holder=PATH, keys=PATH, passphrase=STR)``); ``bank``
    as for :func:`create_health_card`."""
    keystore = open_keystore(keys, passphrase, keystore)
    data = load_holder(DEMO_HOLDER_PATH if holder is None else holder)
    masters = master_keys(keystore)
    sm2 = keystore.sm2_private_key if keystore is not None else demo_sm2_private_key()
    atr = build_atr(serial, options.protocols)
    city = data.issuer.city_code
    if city is None:
        raise HolderError("holder DDF1/EF05: city_code (YYCSDM) is required: level-2 keys derive from it")
    factors = (card_factor(atr), city_factor(city))
    payment = _payment(bank, keystore)
    mf = _mf(file_contents(data, sm2), masters, factors, payment)
    return CardImage.build(mf, serial=serial, profile=HEALTH_PROFILE, options=options)


# -- tree ---------------------------------------------------------------------------------------


def _payment(bank: BankAccount | bool, keystore: KeyStore | None) -> tuple[DfSpec, ...]:
    """The bank application's DFs (PSE, PPSE, ADF), or the two empty DDFs of a health-only card. The issuer
    master keys come from *keystore* when it has them all (the scheme from their algorithm), else DEMO."""
    if bank is False:
        return payment_shell()
    if bank is not True and not isinstance(bank, BankAccount):
        raise ValueError("bank: a BankAccount, True (the DEMO account) or False (no bank application)")
    account = DEMO_ACCOUNT if bank is True else bank
    stored = KEYSTORE_KEY_NAMES.values()
    if keystore is None or not all(name in keystore for name in stored):
        return payment_dfs(account)
    entries = {name: keystore.get_entry(key) for name, key in KEYSTORE_KEY_NAMES.items()}
    sm4 = all(entry.algorithm is BlockCipher.SM4 for entry in entries.values())
    scheme = AcScheme.PBOC_SM4 if sm4 else AcScheme.PBOC_TDES
    return payment_dfs(
        account, issuer_keys={name: entry.key for name, entry in entries.items()}, scheme=scheme
    )


def _mf(
    contents: Mapping[str, FileContent],
    masters: Mapping[str, MasterKey],
    factors: tuple[bytes, bytes],
    payment: tuple[DfSpec, ...],
) -> DfSpec:
    children: dict[str, list[DfSpec | EfSpec]] = {}
    dfs = [f for f in CARD_FILES if f.is_df]
    for file in CARD_FILES:
        if not file.is_df:
            children.setdefault(file.parent, []).append(_ef(file, contents[file.path]))

    def build(file: CardFile) -> DfSpec:
        subs: list[DfSpec | EfSpec] = [build(d) for d in dfs if d.parent == file.path and file.path != "MF"]
        if file.kind is FileKind.MF:
            subs = [build(d) for d in dfs if d.kind is FileKind.DDF]
            subs += payment
        return DfSpec(
            fid=file.fid,
            name=_MF_NAME if file.kind is FileKind.MF else (file.df_name or b""),
            children=(*children.get(file.path, ()), *subs),
            keys=_keys(file.path.rpartition("/")[2], masters, factors),
            create=NEVER,
            write_key=NEVER,
        )

    return build(next(f for f in dfs if f.kind is FileKind.MF))


def _keys(df: str, masters: Mapping[str, MasterKey], factors: tuple[bytes, bytes]) -> tuple[KeySpec, ...]:
    specs = []
    for key in df_keys(df):
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


def _rule(access: Access) -> AccessRule:
    return AccessRule(key=access.key, never=access.never, sm=SmMode(int(access.sm)), stk=access.stk)


_STRUCTURES = {
    EfStructure.TRANSPARENT: FileStructure.TRANSPARENT,
    EfStructure.LINEAR_FIXED: FileStructure.LINEAR_FIXED,
    EfStructure.LINEAR_VARIABLE: FileStructure.LINEAR_VARIABLE,
    EfStructure.CYCLIC: FileStructure.CYCLIC,
}


def _ef(file: CardFile, content: FileContent) -> EfSpec:
    shape = ef_shape(file)
    return EfSpec(
        shape.fid,
        _STRUCTURES[shape.structure],
        size=shape.size,
        record_length=shape.record_length,
        max_records=shape.max_records,
        simple_tlv=shape.simple_tlv,
        sfi=shape.sfi,
        content=content,
        read=_rule(shape.read),
        update=_rule(shape.update),
        append=_rule(shape.append),
        erase=_rule(shape.erase),
    )


register_profile(HEALTH_PROFILE, health_profile, instructions=PBOC_INSTRUCTIONS)
