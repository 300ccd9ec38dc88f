"""Card images: the non-volatile state of one card, its file format, and the declarative builder.

An image file is JSON (UTF-8)::

    {"format": "cardservice.cardos/1", "profile": "blank", "serial": "<16 hex>",
     "options": {"t0_get_response": false, "protocols": "T=1"},
     "nvm": {"areas": {"3F00#h": "<hex>", ...}, "pending": false,
             "backup": [["<area>", "<hex>" | null], ...], "lifetime_writes": 0}}

It is rewritten atomically (temporary file, fsync, rename) after every command that changed
something, so a card keeps its files, keys and retry counters across restarts — and a torn write
leaves ``pending`` set with the backup, for the next power-on to roll back.

Profiles describe cards as data: a tree of :class:`DfSpec` / :class:`EfSpec` with :class:`KeySpec`
entries, turned into an image by :meth:`CardImage.build` through the same header and key-record
encodings CREATE FILE and WRITE KEY use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from simulators.cardos._fs import (
    ALWAYS,
    MF_FID,
    AccessRule,
    AuthScheme,
    FileHeader,
    FileStructure,
    FileSystem,
    KeyAlgorithm,
    KeyRecord,
    KeyUsage,
    new_file_areas,
)
from simulators.cardos._fs import Path as FsPath
from simulators.cardos._nvm import Nvm
from simulators.cardos._sw import SwError

__all__ = ["FORMAT", "CardImage", "CardOptions", "DfSpec", "EfSpec", "ImageError", "KeySpec"]

FORMAT = "cardservice.cardos/1"
SERIAL_LENGTH = 8
_PROTOCOLS = ("T=1", "T=0", "T=0,T=1")


class ImageError(ValueError):
    """A card image file is missing parts, damaged, or of an unknown format."""


@dataclass(frozen=True)
class CardOptions:
    """Card behaviour chosen at creation.

    ``t0_get_response``: answer response data with ``61xx`` and hand it out through GET RESPONSE
    (T=0 cards, the health SAM). ``protocols``: what the ATR offers — ``"T=1"``, ``"T=0"`` or
    ``"T=0,T=1"``.
    """

    t0_get_response: bool = False
    protocols: str = "T=1"

    def __post_init__(self) -> None:
        if not isinstance(self.t0_get_response, bool):
            raise ValueError("t0_get_response must be a bool")
        if self.protocols not in _PROTOCOLS:
            raise ValueError(f"protocols must be one of {', '.join(_PROTOCOLS)}")

    @classmethod
    def from_mapping(cls, options: Mapping[str, object]) -> CardOptions:
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise ValueError(f"unknown card option(s): {', '.join(sorted(unknown))}")
        return cls(**options)  # type: ignore[arg-type]

    def to_mapping(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class KeySpec:
    """A key (or PIN) of a DF. ``scheme`` defaults to HEALTH for external-authentication keys."""

    ref: int
    value: bytes = field(repr=False)
    usage: KeyUsage = KeyUsage.EXTERNAL_AUTH
    algorithm: KeyAlgorithm = KeyAlgorithm.SM4
    scheme: AuthScheme | None = None
    max_tries: int = 15

    def record(self) -> KeyRecord:
        if not 0x01 <= self.ref <= 0xFE:
            raise ValueError("key reference must be 01..FE")
        scheme = int(self.scheme or AuthScheme.HEALTH) if self.usage is KeyUsage.EXTERNAL_AUTH else 0
        algorithm = KeyAlgorithm.NONE if self.usage is KeyUsage.PIN else self.algorithm
        raw = KeyRecord(self.usage, algorithm, scheme, self.max_tries, bytes(self.value)).encode()
        try:
            return KeyRecord.decode(raw)
        except SwError:
            raise ValueError(f"invalid key record for key {self.ref:02X}") from None


@dataclass(frozen=True)
class EfSpec:
    """An elementary file. ``content``: initial bytes of a transparent EF (zero-padded to
    ``size``), or the initial records of a record EF (record 1 first; cyclic: record 1 newest)."""

    fid: int
    structure: FileStructure = FileStructure.TRANSPARENT
    size: int = 0
    record_length: int = 0
    max_records: int = 0
    simple_tlv: bool = False
    sfi: int | None = None
    read: AccessRule = ALWAYS
    update: AccessRule = ALWAYS
    append: AccessRule = ALWAYS
    erase: AccessRule = ALWAYS
    content: bytes | tuple[bytes, ...] = b""

    def header(self) -> FileHeader:
        return FileHeader(
            fid=self.fid,
            structure=self.structure,
            simple_tlv=self.simple_tlv,
            size=self.size,
            record_length=self.record_length,
            max_records=self.max_records,
            sfi=self.sfi,
            rules=(self.read, self.update, self.append, self.erase),
        )


@dataclass(frozen=True)
class DfSpec:
    """A DF (the MF when ``fid`` is 3F00) with its children and keys."""

    fid: int
    name: bytes = b""
    children: tuple[DfSpec | EfSpec, ...] = ()
    keys: tuple[KeySpec, ...] = ()
    create: AccessRule = ALWAYS
    write_key: AccessRule = ALWAYS

    def header(self) -> FileHeader:
        return FileHeader(
            fid=self.fid, structure=FileStructure.DF, name=self.name, rules=(self.create, self.write_key)
        )


@dataclass
class CardImage:
    """Everything non-volatile about one card."""

    serial: bytes
    profile: str = "blank"
    options: CardOptions = field(default_factory=CardOptions)
    nvm: Nvm = field(default_factory=Nvm)

    def __post_init__(self) -> None:
        if len(self.serial) != SERIAL_LENGTH:
            raise ValueError("the card serial must be 8 bytes")

    @property
    def fs(self) -> FileSystem:
        return FileSystem(self.nvm)

    # -- declarative builder -----------------------------------------------------------------

    @classmethod
    def build(
        cls, mf: DfSpec, *, serial: bytes, profile: str, options: CardOptions | None = None
    ) -> CardImage:
        """Lay out the tree *mf* (its ``fid`` must be 3F00) into a fresh image."""
        if mf.fid != MF_FID:
            raise ValueError("the root DfSpec must be the MF (3F00)")
        image = cls(serial=bytes(serial), profile=profile, options=options or CardOptions())
        image._add_df((), mf)
        return image

    def _add_df(self, parent: FsPath, spec: DfSpec) -> None:
        path = (*parent, spec.fid)
        self._add_file(path, spec.header())
        for key in spec.keys:
            record = key.record()
            self.nvm.areas[FileSystem.key_area(path, key.ref)] = record.encode()
            self.nvm.areas[FileSystem.counter_area(path, key.ref)] = bytes([record.max_tries])
        fids = [child.fid for child in spec.children]
        if len(set(fids)) != len(fids) or MF_FID in fids:
            raise ValueError(f"duplicate or reserved file identifier under {spec.fid:04X}")
        for child in spec.children:
            if isinstance(child, DfSpec):
                self._add_df(path, child)
            else:
                self._add_ef(path, child)

    def _add_ef(self, parent: FsPath, spec: EfSpec) -> None:
        path = (*parent, spec.fid)
        header = spec.header()
        self._add_file(path, header)
        content = spec.content
        if header.structure is FileStructure.TRANSPARENT:
            if not isinstance(content, bytes) or len(content) > header.size:
                raise ValueError(f"content of {spec.fid:04X} must be bytes of at most {header.size}")
            self.nvm.areas[FileSystem.data_area(path)] = content.ljust(header.size, b"\x00")
            return
        records = _as_records(content)
        if len(records) > header.max_records:
            raise ValueError(f"too many records for {spec.fid:04X}")
        for record in records:
            fixed = header.structure is not FileStructure.LINEAR_VARIABLE
            wrong = fixed and len(record) != header.record_length
            if not record or len(record) > header.record_length or wrong:
                raise ValueError(f"record of wrong length for {spec.fid:04X}")
        if header.structure is FileStructure.CYCLIC:
            # Record 1 is the newest: store oldest first so the last slot written is record 1.
            for slot, record in enumerate(reversed(records)):
                self.nvm.areas[FileSystem.record_area(path, slot)] = record
            self.nvm.areas[FileSystem.cyclic_area(path)] = bytes([max(len(records) - 1, 0), len(records)])
        else:
            for number, record in enumerate(records, start=1):
                self.nvm.areas[FileSystem.record_area(path, number)] = record

    def _add_file(self, path: FsPath, header: FileHeader) -> None:
        try:
            header.validate()
        except SwError:
            raise ValueError(f"invalid file parameters for {header.fid:04X}") from None
        for name, value in new_file_areas(path, header).items():
            if value is not None:
                self.nvm.areas[name] = value

    # -- file format -------------------------------------------------------------------------

    def to_json(self) -> str:
        document = {
            "format": FORMAT,
            "profile": self.profile,
            "serial": self.serial.hex().upper(),
            "options": self.options.to_mapping(),
            "nvm": {
                "areas": {name: value.hex().upper() for name, value in self.nvm.areas.items()},
                "pending": self.nvm.pending,
                "backup": [
                    [name, None if old is None else old.hex().upper()] for name, old in self.nvm.backup
                ],
                "lifetime_writes": self.nvm.lifetime_writes,
            },
        }
        return json.dumps(document, indent=1)

    @classmethod
    def from_json(cls, text: str) -> CardImage:
        """Parse and validate an image; every defect is an :class:`ImageError`."""
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ImageError(f"not a card image (invalid JSON: {exc})") from None
        try:
            return _parse_image(document)
        except ImageError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, SwError) as exc:
            raise ImageError(f"damaged card image ({type(exc).__name__}: {exc})") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically: a crash leaves either the previous file or this one, never a mix."""
        target = Path(path)
        temporary = target.with_name(f".{target.name}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(self.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CardImage:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ImageError(f"{os.fspath(path)}: not a card image (not UTF-8 text)") from None
        try:
            return cls.from_json(text)
        except ImageError as exc:
            raise ImageError(f"{os.fspath(path)}: {exc}") from None


def _as_records(content: bytes | tuple[bytes, ...]) -> tuple[bytes, ...]:
    """EfSpec content of a record file: a tuple of records; one bytes object is one record."""
    if isinstance(content, bytes):
        return (content,) if content else ()
    return content


def _unhex(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ImageError(f"{what}: expected a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ImageError(f"{what}: invalid hex") from None


def _parse_image(document: Any) -> CardImage:
    if not isinstance(document, dict):
        raise ImageError("not a card image (top level is not an object)")
    if document.get("format") != FORMAT:
        raise ImageError(f"unknown image format {document.get('format')!r} (expected {FORMAT!r})")
    profile = document["profile"]
    if not isinstance(profile, str):
        raise ImageError("profile: expected a string")
    serial = _unhex(document["serial"], "serial")
    if len(serial) != SERIAL_LENGTH:
        raise ImageError("serial: must be 8 bytes")
    options = document["options"]
    if not isinstance(options, dict):
        raise ImageError("options: expected an object")
    raw_nvm = document["nvm"]
    areas = {str(name): _unhex(value, f"area {name}") for name, value in raw_nvm["areas"].items()}
    backup: list[tuple[str, bytes | None]] = []
    for name, old in raw_nvm["backup"]:
        backup.append((str(name), None if old is None else _unhex(old, f"backup of {name}")))
    pending, writes = raw_nvm["pending"], raw_nvm["lifetime_writes"]
    if not isinstance(pending, bool) or not isinstance(writes, int):
        raise ImageError("nvm: pending must be a bool and lifetime_writes an integer")
    nvm = Nvm(areas=areas, backup=backup, pending=pending, lifetime_writes=writes)
    image = CardImage(serial=serial, profile=profile, options=CardOptions.from_mapping(options), nvm=nvm)
    _check_tree(image)
    return image


def _check_tree(image: CardImage) -> None:
    """Every header and key record must decode, and the MF must exist — checked on the state the
    card will run with after any pending rollback."""
    areas = dict(image.nvm.areas)
    if image.nvm.pending:
        for name, old in reversed(image.nvm.backup):
            if old is None:
                areas.pop(name, None)
            else:
                areas[name] = old
    checked = FileSystem(Nvm(areas=areas))
    if checked.header((MF_FID,)) is None:
        raise ImageError("the image has no MF (3F00)")
    for name, value in areas.items():
        if name.endswith("#h"):
            FileHeader.decode(value)
        elif "#k" in name:
            KeyRecord.decode(value)
