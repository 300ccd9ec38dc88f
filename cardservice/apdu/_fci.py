"""File control information returned by SELECT (ISO/IEC 7816-4 §7.4: FCP '62', FMD '64', FCI '6F')."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cardservice.apdu._tlv import Tlv, decode_ber_tlv
from cardservice.errors import CodecError

__all__ = ["Fci", "FileDescriptor", "FileType", "LifeCycle", "decode_fci"]

_FCP = 0x62
_FMD = 0x64
_FCI = 0x6F
_TEMPLATES = (_FCP, _FMD, _FCI)


class FileType(enum.Enum):
    """File structure from the file descriptor byte (ISO/IEC 7816-4 §7.4.5, Table 14, b6-b1)."""

    DF = "DF"
    TRANSPARENT = "transparent"
    LINEAR_FIXED = "linear fixed"
    LINEAR_VARIABLE = "linear variable"
    CYCLIC = "cyclic"
    DATA_OBJECT = "data object"  # b8=1: BER-TLV / SIMPLE-TLV data object EF
    UNKNOWN = "unknown"


# b3-b1 of a working/internal EF descriptor byte -> (structure, records hold SIMPLE-TLV)
_EF_STRUCTURE: dict[int, tuple[FileType, bool]] = {
    0b000: (FileType.UNKNOWN, False),  # no information given
    0b001: (FileType.TRANSPARENT, False),
    0b010: (FileType.LINEAR_FIXED, False),
    0b011: (FileType.LINEAR_FIXED, True),
    0b100: (FileType.LINEAR_VARIABLE, False),
    0b101: (FileType.LINEAR_VARIABLE, True),
    0b110: (FileType.CYCLIC, False),
    0b111: (FileType.CYCLIC, True),
}


@dataclass(frozen=True)
class FileDescriptor:
    """Tag '82' (ISO/IEC 7816-4 §7.4.5): descriptor byte, optional data coding byte, optional
    maximum record size and number of records.

    Lengths: 1 = descriptor; 2 = + data coding; 3 = + record size (1 byte); 4 = + record size
    (2 bytes); 5 = + record size (2) + record count (1); 6 = + record size (2) + record count (2).
    """

    descriptor: int
    data_coding: int | None = None
    record_size: int | None = None
    record_count: int | None = None

    @classmethod
    def decode(cls, value: bytes) -> FileDescriptor:
        n = len(value)
        if not 1 <= n <= 6:
            raise CodecError(f"file descriptor '82' must be 1..6 bytes, got {n}")
        record_size: int | None = None
        record_count: int | None = None
        if n == 3:
            record_size = value[2]
        elif n >= 4:
            record_size = int.from_bytes(value[2:4], "big")
        if n >= 5:
            record_count = int.from_bytes(value[4:], "big")
        return cls(value[0], value[1] if n >= 2 else None, record_size, record_count)

    @property
    def shareable(self) -> bool:
        return not self.descriptor & 0x80 and bool(self.descriptor & 0x40)

    @property
    def file_type(self) -> FileType:
        byte = self.descriptor
        if byte & 0x80:
            return FileType.DATA_OBJECT
        category = (byte >> 3) & 0b111
        if category == 0b111:
            return FileType.DF if byte & 0b111 == 0 else FileType.UNKNOWN
        if category in (0b000, 0b001):  # working EF, internal EF
            return _EF_STRUCTURE[byte & 0b111][0]
        return FileType.UNKNOWN  # 010..110: proprietary EF categories

    @property
    def is_internal(self) -> bool:
        """An internal EF (keys, PIN files: data not readable by commands), b6-b4 = 001."""
        return not self.descriptor & 0x80 and (self.descriptor >> 3) & 0b111 == 0b001

    @property
    def tlv_records(self) -> bool:
        """Records are SIMPLE-TLV coded (b3-b1 = 011, 101 or 111 for an EF)."""
        if self.descriptor & 0x80 or (self.descriptor >> 3) & 0b111 not in (0b000, 0b001):
            return False
        return _EF_STRUCTURE[self.descriptor & 0b111][1]


class LifeCycle(enum.Enum):
    """Life cycle status byte '8A' (ISO/IEC 7816-4 §7.4.10, Table 15)."""

    NO_INFORMATION = "no information given"
    CREATION = "creation"
    INITIALISATION = "initialisation"
    ACTIVATED = "operational, activated"
    DEACTIVATED = "operational, deactivated"
    TERMINATED = "termination"
    PROPRIETARY = "proprietary"


def _life_cycle(byte: int) -> LifeCycle:
    if byte == 0x00:
        return LifeCycle.NO_INFORMATION
    if byte == 0x01:
        return LifeCycle.CREATION
    if byte == 0x03:
        return LifeCycle.INITIALISATION
    if byte & 0xFC == 0x0C:
        return LifeCycle.TERMINATED
    if byte & 0xFD == 0x05:
        return LifeCycle.ACTIVATED
    if byte & 0xFD == 0x04:
        return LifeCycle.DEACTIVATED
    return LifeCycle.PROPRIETARY


def _uint(tlv: Tlv, name: str) -> int:
    if not 1 <= len(tlv.value) <= 4:
        raise CodecError(f"{name} must be 1..4 bytes, got {len(tlv.value)}")
    return int.from_bytes(tlv.value, "big")


@dataclass(frozen=True)
class Fci:
    """What SELECT told about the selected file. Absent items are ``None``.

    ``template`` is 6F, 62 or 64 (``None`` for an empty response: the health card's EFs answer a
    plain 9000). ``sfi`` follows ISO (§7.4.4: b8-b4 of the '88' byte; an empty '88' gives 0 = "no
    SFI"). ``proprietary`` is the raw value of 'A5' (FCI) or '85' (FCP); ``objects`` keeps every
    data object of the template for anything not decoded here.
    """

    template: int | None = None
    df_name: bytes | None = None
    fid: int | None = None
    sfi: int | None = None
    file_size: int | None = None
    total_size: int | None = None
    descriptor: FileDescriptor | None = None
    life_cycle_byte: int | None = None
    proprietary: bytes | None = None
    objects: tuple[Tlv, ...] = ()

    @property
    def file_type(self) -> FileType | None:
        return None if self.descriptor is None else self.descriptor.file_type

    @property
    def life_cycle(self) -> LifeCycle | None:
        return None if self.life_cycle_byte is None else _life_cycle(self.life_cycle_byte)

    @property
    def is_df(self) -> bool:
        """True when the descriptor says DF, or (no descriptor) a DF name is present."""
        if self.descriptor is not None:
            return self.descriptor.file_type is FileType.DF
        return self.df_name is not None


def decode_fci(data: bytes) -> Fci:
    """Parse the response data of SELECT: an FCI ('6F'), FCP ('62') or FMD ('64') template.

    An FCP or FMD nested inside an FCI is merged into it (the first occurrence of each tag wins).
    Empty data give an empty :class:`Fci`. Trailing ``00``/``FF`` padding is tolerated.
    Tolerates the health card's ``6F 10 84 0C 'WS.SYS.DDF01' A5 00`` and ``6F 08 84 06 91 56 00 01 32 00``.
    """
    top = decode_ber_tlv(data)
    if not top:
        return Fci()
    outer = top[0]
    if outer.tag not in _TEMPLATES:
        raise CodecError(f"SELECT response is not an FCI/FCP/FMD template: tag {outer.tag:X}")
    if len(top) > 1:
        raise CodecError(f"{len(top) - 1} unexpected data object(s) after the {outer.tag:X} template")
    objects = outer.children
    flat: list[Tlv] = []
    for item in objects:
        flat.extend(item.children if outer.tag == _FCI and item.tag in (_FCP, _FMD) else [item])
    first: dict[int, Tlv] = {}
    for item in flat:
        first.setdefault(item.tag, item)

    def value(tag: int) -> bytes | None:
        item = first.get(tag)
        return None if item is None else item.value

    fid: int | None = None
    if (fid_item := first.get(0x83)) is not None:
        if len(fid_item.value) != 2:
            raise CodecError(f"file identifier '83' must be 2 bytes, got {len(fid_item.value)}")
        fid = int.from_bytes(fid_item.value, "big")
    sfi: int | None = None
    if (sfi_item := first.get(0x88)) is not None:
        if len(sfi_item.value) > 1:
            raise CodecError(f"short EF identifier '88' must be 0 or 1 byte, got {len(sfi_item.value)}")
        sfi = sfi_item.value[0] >> 3 if sfi_item.value else 0
    life: int | None = None
    if (life_item := first.get(0x8A)) is not None:
        if len(life_item.value) != 1:
            raise CodecError(f"life cycle status '8A' must be 1 byte, got {len(life_item.value)}")
        life = life_item.value[0]
    descriptor_value = value(0x82)
    size = first.get(0x80)
    total = first.get(0x81)
    df_name = value(0x84)
    if df_name is not None and len(df_name) > 16:
        raise CodecError(f"DF name '84' longer than 16 bytes: {len(df_name)}")
    proprietary = value(0xA5)
    if proprietary is None:
        proprietary = value(0x85)
    return Fci(
        template=outer.tag,
        df_name=df_name,
        fid=fid,
        sfi=sfi,
        file_size=None if size is None else _uint(size, "file size '80'"),
        total_size=None if total is None else _uint(total, "total size '81'"),
        descriptor=None if descriptor_value is None else FileDescriptor.decode(descriptor_value),
        life_cycle_byte=life,
        proprietary=proprietary,
        objects=tuple(objects),
    )
