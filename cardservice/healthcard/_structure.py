"""The shape and access rules of every EF of the health card, derived from the dictionary.

One home for what both sides of personalisation need: the issuer creates files with these shapes
and rules (:mod:`cardservice.issuance`), the simulator builds its card image from them
(``simulators.health``). Facts sheet §4.1-4.2 as the dictionary states them: read free for
DDF1/EF05, otherwise after EXTERNAL AUTHENTICATE with the DF's RK; update after the file's UK with
the dictionary's secure messaging (STK of the DF); DDF1/EF05-EF06 NEVER after issuance; APPEND
RECORD only for the cyclic files (same rule as update); erase only for the DF03 index files.
Project choices: TLV files are linear-variable SIMPLE-TLV files; EF05-EF08 carry SFIs 5-8 (no
SFI use was seen on real cards; they are a convenience); the index files are linear fixed with
1-byte records.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from cardservice.healthcard._dictionary import CardFile, FileKind, UpdateSm
from cardservice.healthcard._keys import HEALTH_KEYS, HealthKey, KeyRole

__all__ = ["Access", "EfShape", "EfStructure", "SmLevel", "df_keys", "ef_shape"]


class SmLevel(enum.IntEnum):
    NONE = 0x00
    MAC = 0x01
    ENCRYPTED_MAC = 0x03


class EfStructure(enum.StrEnum):
    TRANSPARENT = "transparent"
    LINEAR_FIXED = "linear-fixed"
    LINEAR_VARIABLE = "linear-variable"
    CYCLIC = "cyclic"


@dataclass(frozen=True)
class Access:
    """When an operation is allowed: always (``key`` None), never, or after authenticating card
    key reference ``key``; with the secure messaging ``sm`` under the SM key ``stk``."""

    key: int | None = None
    never: bool = False
    sm: SmLevel = SmLevel.NONE
    stk: int = 0


ALWAYS = Access()
NEVER = Access(never=True)


@dataclass(frozen=True)
class EfShape:
    fid: int
    structure: EfStructure
    size: int = 0  # transparent
    record_length: int = 0  # record files (the longest record for linear-variable files)
    max_records: int = 0
    simple_tlv: bool = False
    sfi: int | None = None
    read: Access = ALWAYS
    update: Access = NEVER
    append: Access = NEVER
    erase: Access = NEVER


def df_keys(df: str) -> list[HealthKey]:
    """The keys that live in DF *df* (``"DDF1"``, ``"DF01"``...), in table order."""
    return [key for key in HEALTH_KEYS if key.df == df]


def _ref(name: str) -> int:
    return next(key.card_ref for key in HEALTH_KEYS if key.name == name)


def _stk(df: str) -> int:
    return next(key.card_ref for key in df_keys(df) if key.role is KeyRole.SECURE_MESSAGING)


_SM = {UpdateSm.MAC: SmLevel.MAC, UpdateSm.ENC_MAC: SmLevel.ENCRYPTED_MAC}


def ef_shape(file: CardFile) -> EfShape:
    """Shape and rules of EF *file* (not a DF)."""
    if file.is_df:
        raise ValueError(f"{file.path} is a DF")
    df = file.parent.rpartition("/")[2]
    read = ALWAYS if file.read_key is None else Access(_ref(file.read_key))
    sm = _SM.get(file.update_sm, SmLevel.NONE)
    stk = _stk(df) if sm else 0
    update = NEVER
    if file.update_sm is not UpdateSm.PROHIBITED and file.update_key is not None:
        update = Access(_ref(file.update_key), sm=sm, stk=stk)
    append = update if file.kind is FileKind.CYCLIC else NEVER
    erase = NEVER if file.erase_key is None else Access(_ref(file.erase_key), sm=sm, stk=stk)
    sfi = file.fid & 0x1F if file.fid in (0xEF05, 0xEF06, 0xEF07, 0xEF08) else None
    shape = EfShape(
        file.fid, EfStructure.TRANSPARENT, sfi=sfi, read=read, update=update, append=append, erase=erase
    )
    if file.kind is FileKind.TLV_RECORDS:
        return dataclasses.replace(
            shape,
            structure=EfStructure.LINEAR_VARIABLE,
            simple_tlv=True,
            record_length=max(file.record_sizes),
            max_records=file.record_count,
        )
    if file.kind is FileKind.CYCLIC:
        return dataclasses.replace(
            shape,
            structure=EfStructure.CYCLIC,
            record_length=file.record_sizes[0],
            max_records=file.record_count,
        )
    if file.kind is FileKind.LINEAR_FIXED:
        return dataclasses.replace(
            shape, structure=EfStructure.LINEAR_FIXED, record_length=1, max_records=file.record_count
        )
    assert file.size is not None
    return dataclasses.replace(shape, size=file.size)
