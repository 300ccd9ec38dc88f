"""The file system: file headers, access rules, key records, and where each lives in the NVM.

Personalisation formats (the same bytes are used by CREATE FILE / WRITE KEY and by the declarative
builder in :mod:`._image`, so a profile written as data and a card personalised with APDUs end up
identical):

**File control template** — CREATE FILE (``00|80 E0 00 00 Lc 62 L ...``) data; SELECT with P2=04
answers the same template. BER-TLV, one level, tags in any order:

====  =========  ===================================================================================
tag   length     meaning
====  =========  ===================================================================================
82    1          file descriptor (ISO/IEC 7816-4 Table 12): ``38`` DF, ``01`` transparent EF
82    5          record EF: descriptor, ``21`` (data coding), record length (2 bytes), max records (1).
                 Descriptors: ``02``/``03`` linear fixed, ``04``/``05`` linear variable, ``06``/``07``
                 cyclic; the odd value marks a SIMPLE-TLV record file (record identifier = tag)
83    2          file identifier (mandatory; not 3F00/3FFF/FFFF)
84    1-16       DF name (DFs only; optional)
80    2          transparent EF size in bytes (mandatory for transparent EFs)
88    1          short EF identifier, ISO form ``SFI << 3`` (SFI 1..30); absent = no SFI
86    6 / 12     security attributes, project format below; absent = every operation ALWAYS
8A    1          life cycle status (ISO/IEC 7816-4 §7.4.10): ``03`` initialisation, ``05`` operational
                 (activated); absent = ``05``
====  =========  ===================================================================================

**Life cycle.** A file created with ``8A 01 03`` is in the initialisation state until ACTIVATE FILE
(``00 44 00 00``). While a file or any of its ancestors is in that state its own security attributes
are not in force: every operation on it (read, update, append, erase, create inside it, activate) needs
the *create* right of the nearest operational ancestor DF, and WRITE KEY into it that ancestor's
*write key* right (with the SM that rule names). This is how an issuer writes files that are
read-only or NEVER-update after issuance and then locks them all at once; activation cannot be undone.

**Security attributes (tag 86, project-defined "proprietary format" per ISO/IEC 7816-4 §7.4.3):**
three bytes per operation — ``condition ‖ sm ‖ stk``:

* condition: ``00`` ALWAYS, ``FF`` NEVER, otherwise the key reference that must have been
  authenticated (EXTERNAL AUTHENTICATE or VERIFY) in the current DF;
* sm: ``00`` none, ``01`` command MAC, ``03`` encrypted data + MAC (only for update/append);
* stk: key reference of the secure-messaging key, ``00`` = the DF's lowest-numbered SM key.

EF operations in order: read, update, append, erase (12 bytes). DF operations: create (CREATE FILE
inside the DF), write key (WRITE KEY into the DF) (6 bytes). While a DF holds no key at all, WRITE
KEY into it is allowed regardless (initial key loading, as PBOC/FMCOS cards do).

**Key record** — WRITE KEY (``80 D4 00 <key ref> Lc data``) data:
``usage(1) ‖ algorithm(1) ‖ scheme(1) ‖ max tries(1) ‖ value``

* usage: ``01`` external authentication, ``02`` internal authentication, ``03`` secure messaging
  (STK), ``04`` PIN;
* algorithm: ``01`` SM4 (16-byte key), ``02`` 3DES (16/24), ``03`` DES (8); ignored (write 00) for a PIN;
* scheme (external authentication only, see :mod:`._security`): ``01`` health card, ``02`` plain
  ISO/PBOC; 00 otherwise;
* max tries 1..15; the retry counter starts there;
* value: the key, or the PIN (4..16 bytes, compared byte for byte).

Key references: ``01``..``FE``; bit 8 set = DF-specific (ISO/IEC 7816-4 §7.5.1 P2).

NVM area names (``path`` = FIDs from the MF, e.g. ``3F00/DDF1/EF05``): ``path#h`` header,
``path#d`` transparent contents, ``path#rN`` record N (linear: logical number; cyclic: physical slot
0..max-1), ``path#q`` cyclic state (newest slot, record count), ``path#kXX`` key record,
``path#cXX`` retry counter.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

from cardservice.apdu import decode_ber_tlv, encode_ber_tlv
from cardservice.errors import CodecError
from simulators.cardos._nvm import Nvm
from simulators.cardos._sw import SW_WRONG_DATA, SwError

__all__ = [
    "ALWAYS",
    "MF_FID",
    "NEVER",
    "AccessRule",
    "AuthScheme",
    "FileHeader",
    "FileStructure",
    "FileSystem",
    "KeyAlgorithm",
    "KeyRecord",
    "KeyUsage",
    "Lifecycle",
    "Path",
    "SmMode",
    "after_auth",
    "new_file_areas",
    "path_name",
]

MF_FID = 0x3F00
Path = tuple[int, ...]


def path_name(path: Path) -> str:
    return "/".join(f"{fid:04X}" for fid in path)


class FileStructure(enum.Enum):
    DF = "DF"
    TRANSPARENT = "transparent"
    LINEAR_FIXED = "linear fixed"
    LINEAR_VARIABLE = "linear variable"
    CYCLIC = "cyclic"

    @property
    def is_record(self) -> bool:
        return self in (FileStructure.LINEAR_FIXED, FileStructure.LINEAR_VARIABLE, FileStructure.CYCLIC)


# ISO/IEC 7816-4 Table 12 file descriptor byte: structure, simple-TLV flag.
_DESCRIPTORS: dict[int, tuple[FileStructure, bool]] = {
    0x38: (FileStructure.DF, False),
    0x01: (FileStructure.TRANSPARENT, False),
    0x02: (FileStructure.LINEAR_FIXED, False),
    0x03: (FileStructure.LINEAR_FIXED, True),
    0x04: (FileStructure.LINEAR_VARIABLE, False),
    0x05: (FileStructure.LINEAR_VARIABLE, True),
    0x06: (FileStructure.CYCLIC, False),
    0x07: (FileStructure.CYCLIC, True),
}
_DESCRIPTOR_OF = {value: key for key, value in _DESCRIPTORS.items()}
_DATA_CODING = 0x21


class SmMode(enum.IntEnum):
    """Secure messaging an operation requires (the ``sm`` byte of an access rule)."""

    NONE = 0x00
    MAC = 0x01
    ENCRYPTED_MAC = 0x03


_CONDITION_ALWAYS = 0x00
_CONDITION_NEVER = 0xFF


@dataclass(frozen=True)
class AccessRule:
    """When an operation is allowed: ALWAYS, NEVER, or after authenticating ``key`` in the
    current DF; plus the secure messaging it requires (``stk`` 0 = the DF's SM key)."""

    key: int | None = None
    never: bool = False
    sm: SmMode = SmMode.NONE
    stk: int = 0

    def encode(self) -> bytes:
        condition = _CONDITION_NEVER if self.never else (self.key or _CONDITION_ALWAYS)
        return bytes([condition, int(self.sm), self.stk])

    @classmethod
    def decode(cls, data: bytes) -> AccessRule:
        condition, sm, stk = data
        try:
            mode = SmMode(sm)
        except ValueError:
            raise SwError(SW_WRONG_DATA) from None
        if condition == _CONDITION_NEVER:
            return cls(never=True, sm=mode, stk=stk)
        return cls(key=condition or None, sm=mode, stk=stk)

    def __str__(self) -> str:
        if self.never:
            text = "NEVER"
        elif self.key is None:
            text = "ALWAYS"
        else:
            text = f"key {self.key:02X}"
        if self.sm is not SmMode.NONE:
            text += "+MAC" if self.sm is SmMode.MAC else "+ENC+MAC"
        return text


ALWAYS = AccessRule()
NEVER = AccessRule(never=True)


def after_auth(key: int, sm: SmMode = SmMode.NONE, stk: int = 0) -> AccessRule:
    """The rule "after authentication with key reference *key*" (optionally under SM)."""
    if not 0x01 <= key <= 0xFE:
        raise ValueError("key reference must be 01..FE")
    return AccessRule(key=key, sm=sm, stk=stk)


class Lifecycle(enum.IntEnum):
    """Life cycle status byte (ISO/IEC 7816-4 Table 15): the two states the card OS knows."""

    INITIALISATION = 0x03
    OPERATIONAL = 0x05


EF_OPERATIONS = ("read", "update", "append", "erase")
DF_OPERATIONS = ("create", "write_key")


@dataclass(frozen=True)
class FileHeader:
    """A file's control parameters, as stored in its ``#h`` area (encoded as the ``62`` template)."""

    fid: int
    structure: FileStructure
    simple_tlv: bool = False
    name: bytes = b""
    size: int = 0
    record_length: int = 0
    max_records: int = 0
    sfi: int | None = None
    rules: tuple[AccessRule, ...] = field(default=())
    lifecycle: Lifecycle = Lifecycle.OPERATIONAL

    def rule(self, operation: str) -> AccessRule:
        """The access rule of *operation* (``read``/``update``/``append``/``erase`` or
        ``create``/``write_key``); ALWAYS when the file has no tag 86."""
        names = DF_OPERATIONS if self.structure is FileStructure.DF else EF_OPERATIONS
        index = names.index(operation)
        return self.rules[index] if self.rules else ALWAYS

    @property
    def descriptor(self) -> int:
        return _DESCRIPTOR_OF[(self.structure, self.simple_tlv)]

    def encode(self) -> bytes:
        """The ``62`` file control parameter template (ISO/IEC 7816-4 §7.4.3)."""
        if self.structure.is_record:
            descriptor = bytes([self.descriptor, _DATA_CODING]) + self.record_length.to_bytes(2, "big")
            descriptor += bytes([self.max_records])
            size = self.record_length * self.max_records
        else:
            descriptor, size = bytes([self.descriptor]), self.size
        body = encode_ber_tlv(0x82, descriptor) + encode_ber_tlv(0x83, self.fid.to_bytes(2, "big"))
        if self.structure is FileStructure.DF:
            if self.name:
                body += encode_ber_tlv(0x84, self.name)
        else:
            body += encode_ber_tlv(0x80, size.to_bytes(2, "big"))
        if self.sfi is not None:
            body += encode_ber_tlv(0x88, bytes([self.sfi << 3]))
        if self.rules:
            body += encode_ber_tlv(0x86, b"".join(rule.encode() for rule in self.rules))
        if self.lifecycle is not Lifecycle.OPERATIONAL:  # absent = operational (older images)
            body += encode_ber_tlv(0x8A, bytes([self.lifecycle]))
        return encode_ber_tlv(0x62, body)

    @classmethod
    def decode(cls, template: bytes) -> FileHeader:
        """Parse and validate a CREATE FILE template; any defect is ``SwError(6A80)``."""
        return _decode_header(bytes(template))

    def validate(self) -> None:
        """Re-check an object built in Python (profiles) against the rules of :meth:`decode`."""
        if FileHeader.decode(self.encode()) != self:
            raise ValueError(f"inconsistent file header for {self.fid:04X}")


@functools.lru_cache(maxsize=4096)
def _decode_header(template: bytes) -> FileHeader:
    outer = _parse_tlvs(template)
    if len(outer) != 1 or outer[0][0] != 0x62:
        raise SwError(SW_WRONG_DATA)
    items = dict(_parse_tlvs(outer[0][1]))
    descriptor, fid_bytes = items.get(0x82), items.get(0x83)
    if descriptor is None or fid_bytes is None or len(fid_bytes) != 2 or not descriptor:
        raise SwError(SW_WRONG_DATA)
    kind = _DESCRIPTORS.get(descriptor[0])
    fid = int.from_bytes(fid_bytes, "big")
    if kind is None or fid in (0x3FFF, 0xFFFF):
        raise SwError(SW_WRONG_DATA)
    structure, simple_tlv = kind
    values: dict[str, object] = {"fid": fid, "structure": structure, "simple_tlv": simple_tlv}
    if structure is FileStructure.DF:
        name = items.get(0x84, b"")
        if len(descriptor) != 1 or len(name) > 16 or 0x80 in items or 0x88 in items:
            raise SwError(SW_WRONG_DATA)
        values["name"] = name
    else:
        if 0x84 in items:
            raise SwError(SW_WRONG_DATA)
        if structure is FileStructure.TRANSPARENT:
            size = items.get(0x80)
            if len(descriptor) != 1 or size is None or len(size) != 2:
                raise SwError(SW_WRONG_DATA)
            values["size"] = int.from_bytes(size, "big")
        else:
            if len(descriptor) != 5 or descriptor[1] != _DATA_CODING:
                raise SwError(SW_WRONG_DATA)
            record_length, max_records = int.from_bytes(descriptor[2:4], "big"), descriptor[4]
            if not 1 <= record_length <= 255 or max_records < 1:
                raise SwError(SW_WRONG_DATA)
            values["record_length"], values["max_records"] = record_length, max_records
        sfi = items.get(0x88)
        if sfi is not None:
            if len(sfi) != 1 or sfi[0] & 0x07 or not 1 <= sfi[0] >> 3 <= 30:
                raise SwError(SW_WRONG_DATA)
            values["sfi"] = sfi[0] >> 3
    rules = items.get(0x86)
    if rules is not None:
        expected = 3 * len(DF_OPERATIONS if structure is FileStructure.DF else EF_OPERATIONS)
        if len(rules) != expected:
            raise SwError(SW_WRONG_DATA)
        decoded = tuple(AccessRule.decode(rules[i : i + 3]) for i in range(0, expected, 3))
        if structure is not FileStructure.DF and decoded[0].sm is not SmMode.NONE:
            raise SwError(SW_WRONG_DATA)  # responses are never wrapped: SM on read is meaningless
        values["rules"] = decoded
    lifecycle = items.get(0x8A)
    if lifecycle is not None:
        if len(lifecycle) != 1 or lifecycle[0] not in {int(state) for state in Lifecycle}:
            raise SwError(SW_WRONG_DATA)
        values["lifecycle"] = Lifecycle(lifecycle[0])
    return FileHeader(**values)  # type: ignore[arg-type]


def _parse_tlvs(data: bytes) -> list[tuple[int, bytes]]:
    """One level of a personalisation template: single-byte tags, each at most once; a defect is 6A80."""
    try:
        objects = decode_ber_tlv(data, allow_padding=False)
    except CodecError:
        raise SwError(SW_WRONG_DATA) from None
    tags = [item.tag for item in objects]
    if any(tag > 0xFF for tag in tags) or len(set(tags)) != len(tags):
        raise SwError(SW_WRONG_DATA)
    return [(item.tag, item.value) for item in objects]


class KeyUsage(enum.IntEnum):
    EXTERNAL_AUTH = 0x01
    INTERNAL_AUTH = 0x02
    SECURE_MESSAGING = 0x03
    PIN = 0x04


class AuthScheme(enum.IntEnum):
    """How EXTERNAL AUTHENTICATE data is checked with a key (the rules live in :mod:`._security`)."""

    HEALTH = 0x01
    PLAIN = 0x02


class KeyAlgorithm(enum.IntEnum):
    NONE = 0x00
    SM4 = 0x01
    TDES = 0x02
    DES = 0x03


_KEY_LENGTHS = {KeyAlgorithm.SM4: (16,), KeyAlgorithm.TDES: (16, 24), KeyAlgorithm.DES: (8,)}
_PIN_LENGTHS = range(4, 17)


@dataclass(frozen=True)
class KeyRecord:
    """A key or PIN of a DF (the WRITE KEY data format, see the module docstring)."""

    usage: KeyUsage
    algorithm: KeyAlgorithm
    scheme: int
    max_tries: int
    value: bytes = field(repr=False)

    def encode(self) -> bytes:
        return bytes([self.usage, self.algorithm, self.scheme, self.max_tries]) + self.value

    @classmethod
    def decode(cls, data: bytes) -> KeyRecord:
        """Parse and validate; any defect is ``SwError(6A80)``."""
        return _decode_key(bytes(data))


@functools.lru_cache(maxsize=1024)
def _decode_key(data: bytes) -> KeyRecord:
    if len(data) < 5:
        raise SwError(SW_WRONG_DATA)
    try:
        usage, algorithm = KeyUsage(data[0]), KeyAlgorithm(data[1])
    except ValueError:
        raise SwError(SW_WRONG_DATA) from None
    scheme, max_tries, value = data[2], data[3], data[4:]
    if not 1 <= max_tries <= 15:
        raise SwError(SW_WRONG_DATA)
    if usage is KeyUsage.PIN:
        if algorithm is not KeyAlgorithm.NONE or scheme or len(value) not in _PIN_LENGTHS:
            raise SwError(SW_WRONG_DATA)
    else:
        if algorithm is KeyAlgorithm.NONE or len(value) not in _KEY_LENGTHS[algorithm]:
            raise SwError(SW_WRONG_DATA)
        if (usage is KeyUsage.EXTERNAL_AUTH) != (scheme in set(AuthScheme)):
            raise SwError(SW_WRONG_DATA)
    return KeyRecord(usage, algorithm, scheme, max_tries, value)


class FileSystem:
    """Queries and area names over the NVM. Holds no state of its own."""

    def __init__(self, nvm: Nvm) -> None:
        self.nvm = nvm

    # -- names -----------------------------------------------------------------------------

    @staticmethod
    def header_area(path: Path) -> str:
        return f"{path_name(path)}#h"

    @staticmethod
    def data_area(path: Path) -> str:
        return f"{path_name(path)}#d"

    @staticmethod
    def record_area(path: Path, number: int) -> str:
        return f"{path_name(path)}#r{number}"

    @staticmethod
    def cyclic_area(path: Path) -> str:
        return f"{path_name(path)}#q"

    @staticmethod
    def key_area(df: Path, key: int) -> str:
        return f"{path_name(df)}#k{key:02X}"

    @staticmethod
    def counter_area(df: Path, key: int) -> str:
        return f"{path_name(df)}#c{key:02X}"

    # -- tree ------------------------------------------------------------------------------

    def header(self, path: Path) -> FileHeader | None:
        raw = self.nvm.get(self.header_area(path))
        return None if raw is None else FileHeader.decode(raw)

    def children(self, df: Path) -> Iterator[tuple[Path, FileHeader]]:
        """Children of *df* in creation order."""
        prefix = path_name(df) + "/"
        for name in self.nvm.names():
            if name.startswith(prefix) and name.endswith("#h") and "/" not in name[len(prefix) : -2]:
                path = (*df, int(name[len(prefix) : -2], 16))
                header = self.header(path)
                if header is not None:
                    yield path, header

    def walk(self, df: Path = (MF_FID,)) -> Iterator[tuple[Path, FileHeader]]:
        """Every file under and including *df*, depth first, in creation order."""
        header = self.header(df)
        if header is None:
            return
        yield df, header
        for path, child in self.children(df):
            if child.structure is FileStructure.DF:
                yield from self.walk(path)
            else:
                yield path, child

    # -- contents --------------------------------------------------------------------------

    def records(self, path: Path, header: FileHeader) -> list[bytes]:
        """Records in logical order: record 1 first (for a cyclic file, the newest)."""
        if header.structure is FileStructure.CYCLIC:
            state = self.nvm.get(self.cyclic_area(path)) or b"\x00\x00"
            newest, count = state[0], state[1]
            slots = [(newest - i) % header.max_records for i in range(count)]
            return [self.nvm.get(self.record_area(path, slot)) or b"" for slot in slots]
        records = []
        for number in range(1, header.max_records + 1):
            record = self.nvm.get(self.record_area(path, number))
            if record is None:
                break
            records.append(record)
        return records

    def record_slot(self, path: Path, header: FileHeader, number: int) -> str:
        """Area name of logical record *number* (1-based, must exist)."""
        if header.structure is FileStructure.CYCLIC:
            newest = (self.nvm.get(self.cyclic_area(path)) or b"\x00\x00")[0]
            return self.record_area(path, (newest - (number - 1)) % header.max_records)
        return self.record_area(path, number)

    def keys(self, df: Path) -> Iterator[tuple[int, KeyRecord]]:
        prefix = path_name(df) + "#k"
        for name in self.nvm.names():
            if name.startswith(prefix):
                raw = self.nvm.get(name)
                if raw is not None:
                    yield int(name[len(prefix) :], 16), KeyRecord.decode(raw)

    def key(self, df: Path, key: int) -> KeyRecord | None:
        raw = self.nvm.get(self.key_area(df, key))
        return None if raw is None else KeyRecord.decode(raw)

    def tries_left(self, df: Path, key: int) -> int:
        return (self.nvm.get(self.counter_area(df, key)) or b"\x00")[0]


def new_file_areas(path: Path, header: FileHeader) -> dict[str, bytes | None]:
    """The areas a freshly created file occupies (transparent EFs start zero-filled)."""
    areas: dict[str, bytes | None] = {FileSystem.header_area(path): header.encode()}
    if header.structure is FileStructure.TRANSPARENT:
        areas[FileSystem.data_area(path)] = bytes(header.size)
    elif header.structure is FileStructure.CYCLIC:
        areas[FileSystem.cyclic_area(path)] = b"\x00\x00"
    return areas
