"""On-card TLV records of the health card's record files (fact sheet §2.1).

A record is ``tag(1) ‖ length(1) ‖ value`` where the tag is the national data-item number and the value
is always written at the item's full fixed length. ``cardservice.apdu`` has no simple-TLV codec yet, so
the 1-byte-tag / 1-byte-length logic lives here; it is three lines and specific to these files.

Decoding tolerates what READ RECORD returns for a fixed-size slot: trailing ``00``/``FF`` after the TLV,
and an entirely empty record (all ``00`` or all ``FF``) meaning the item was never written.
"""

from __future__ import annotations

from cardservice.errors import CodecError
from cardservice.healthcard._dictionary import DataItem, card_file, item_by_tag
from cardservice.healthcard._formats import decode_value, encode_value

__all__ = ["decode_record", "encode_record", "split_record"]


def encode_record(item: DataItem, value: object) -> bytes:
    """The full on-card record for ``item``: tag ‖ length ‖ value padded to the fixed length.

    ``None`` encodes the absent filler (AN ``00``, CN/B ``FF``) so a record can be cleared.
    """
    return bytes([item.tag, item.length]) + encode_value(item, value)


def _is_filler(data: bytes) -> bool:
    return not data.strip(b"\x00") or not data.strip(b"\xff")


def split_record(raw: bytes) -> tuple[int, bytes] | None:
    """Split a raw record into ``(tag, value)``; ``None`` for an empty (all 00 / all FF) record."""
    raw = bytes(raw)
    if _is_filler(raw):
        return None
    if len(raw) < 2:
        raise CodecError(f"TLV record of {len(raw)} byte(s) has no tag and length")
    tag, length = raw[0], raw[1]
    if len(raw) < 2 + length:
        raise CodecError(f"TLV record tag {tag:02X}: length {length} runs past the {len(raw)}-byte record")
    if not _is_filler(raw[2 + length :]):
        raise CodecError(f"TLV record tag {tag:02X}: unexpected bytes after the value")
    return tag, raw[2 : 2 + length]


def decode_record(raw: bytes, *, file: str | None = None) -> tuple[DataItem, object | None] | None:
    """Decode one record to ``(item, value)``; ``None`` when the record is empty.

    With ``file`` given, the tag must belong to that file. The length byte must equal the item's fixed
    length (§2.1: always written at full length).
    """
    parts = split_record(raw)
    if parts is None:
        return None
    tag, value = parts
    item = item_by_tag(tag)
    if file is not None and item.file != card_file(file).path:
        raise CodecError(f"{item.display_name}: tag {tag:02X} does not belong to {file}")
    if len(value) != item.length:
        raise CodecError(f"{item.display_name}: record length byte {len(value)}, expected {item.length}")
    return item, decode_value(item, value)
