"""TLV codecs: BER-TLV (ISO/IEC 7816-4 §5.2.2, the X.690 subset smart cards use) and SIMPLE-TLV
(ISO/IEC 7816-4 §5.2.1, the health card's record files).

Decoders raise :class:`CodecError` for every malformed input, never ``IndexError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cardservice.errors import CodecError

__all__ = [
    "MAX_TLV_DEPTH",
    "SimpleTlv",
    "Tlv",
    "decode_ber_tlv",
    "decode_simple_tlv",
    "encode_ber_tlv",
    "encode_simple_tlv",
    "find",
    "find_all",
]

MAX_TLV_DEPTH = 16
_MAX_TAG_BYTES = 4  # ISO/IEC 7816-4 uses up to 3; one spare byte of tolerance
_PADDING = (0x00, 0xFF)


# -- BER-TLV ---------------------------------------------------------------------------------------


def _tag_bytes(tag: int) -> bytes:
    if not isinstance(tag, int) or isinstance(tag, bool) or not 0 < tag < 1 << (8 * _MAX_TAG_BYTES):
        raise CodecError(f"BER-TLV tag must be a positive int of at most {_MAX_TAG_BYTES} bytes, got {tag!r}")
    raw = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    first = raw[0]
    # The tag's bytes must parse back to exactly this tag (X.690 §8.1.2).
    multi = first & 0x1F == 0x1F
    if len(raw) == 1:
        ok = not multi and first not in _PADDING
    else:
        ok = multi and all(b & 0x80 for b in raw[1:-1]) and not raw[-1] & 0x80
    if not ok:
        raise CodecError(f"{tag:X} is not a valid BER-TLV tag")
    return raw


def _tag_is_constructed(tag: int) -> bool:
    """Bit b6 of the first tag byte (X.690 §8.1.2.5)."""
    return bool(tag >> (8 * ((tag.bit_length() - 1) // 8)) & 0x20)


def _encode_length(n: int) -> bytes:
    """Definite length, minimal form: < 80 in one byte, else 81..84 followed by 1..4 bytes."""
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    if size > 4:
        raise CodecError(f"BER-TLV value too long: {n} bytes")
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


@dataclass(frozen=True)
class Tlv:
    """One BER-TLV data object. ``tag`` is the tag bytes as a big-endian int (``0x9F61``, ``0x6F``).

    For a constructed tag (b6 of the first byte set) :attr:`children` parses ``value``.
    """

    tag: int
    value: bytes = b""

    def __post_init__(self) -> None:
        _tag_bytes(self.tag)
        if not isinstance(self.value, bytes):
            object.__setattr__(self, "value", bytes(self.value))

    @classmethod
    def build(cls, tag: int, children: Iterable[Tlv]) -> Tlv:
        """A constructed data object from its children."""
        if not _tag_is_constructed(tag):
            raise CodecError(f"tag {tag:X} is primitive; it cannot hold children")
        return cls(tag, b"".join(child.encode() for child in children))

    @property
    def constructed(self) -> bool:
        return _tag_is_constructed(self.tag)

    @property
    def children(self) -> list[Tlv]:
        """The nested data objects of a constructed tag; ``[]`` for a primitive one."""
        return decode_ber_tlv(self.value) if self.constructed else []

    def encode(self) -> bytes:
        return encode_ber_tlv(self.tag, self.value)

    def __repr__(self) -> str:
        # Values may be personal data (names, ID numbers): a repr shows the length only.
        return f"Tlv(tag=0x{self.tag:X}, value=<{len(self.value)} bytes>)"


def encode_ber_tlv(tag: int, value: bytes) -> bytes:
    """Tag || minimal definite length || value (ISO/IEC 7816-4 §5.2.2)."""
    value = bytes(value)
    return _tag_bytes(tag) + _encode_length(len(value)) + value


def _parse_one(data: bytes, pos: int) -> tuple[int, int, int]:
    """Parse tag and length at ``pos``; return (tag, value start, value end)."""
    end = len(data)
    first = data[pos]
    tag = first
    pos += 1
    if first & 0x1F == 0x1F:  # multi-byte tag: subsequent bytes while b8 = 1
        count = 1
        while True:
            if pos >= end:
                raise CodecError("BER-TLV tag truncated")
            byte = data[pos]
            pos += 1
            count += 1
            if count > _MAX_TAG_BYTES:
                raise CodecError(f"BER-TLV tag longer than {_MAX_TAG_BYTES} bytes")
            tag = tag << 8 | byte
            if not byte & 0x80:
                break
    if pos >= end:
        raise CodecError(f"BER-TLV length missing after tag {tag:X}")
    length = data[pos]
    pos += 1
    if length == 0x80:
        raise CodecError("BER-TLV indefinite length is not allowed (ISO/IEC 7816-4 §5.2.2)")
    if length > 0x80:
        size = length & 0x7F
        if size > 4:
            raise CodecError(f"BER-TLV length field of {size} bytes is not supported")
        if pos + size > end:
            raise CodecError("BER-TLV length field truncated")
        # Non-minimal lengths (e.g. 81 05) are accepted as X.690 BER allows; encode() is minimal.
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > end:
        raise CodecError(f"BER-TLV length {length} of tag {tag:X} runs past the end of the data")
    return tag, pos, pos + length


def _decode(data: bytes, *, allow_padding: bool, depth: int) -> list[Tlv]:
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        if data[pos] in _PADDING:
            # ISO/IEC 7816-4 §5.2.2.1: 00 or FF may precede, separate or follow data objects
            # (erased or modified objects); neither is a valid first tag byte.
            if not allow_padding:
                raise CodecError(f"invalid BER-TLV tag byte {data[pos]:02X} at offset {pos}")
            pos += 1
            continue
        if depth > MAX_TLV_DEPTH:  # top-level objects are depth 1
            raise CodecError(f"BER-TLV nested deeper than {MAX_TLV_DEPTH} levels")
        tag, start, end = _parse_one(data, pos)
        item = Tlv(tag, data[start:end])
        if item.constructed:
            _decode(item.value, allow_padding=allow_padding, depth=depth + 1)  # validate eagerly
        out.append(item)
        pos = end
    return out


def decode_ber_tlv(data: bytes, *, allow_padding: bool = True) -> list[Tlv]:
    """Parse a sequence of BER-TLV data objects, validating constructed ones recursively.

    Definite lengths only (1 byte, or 81..84 + 1..4 bytes). ``00``/``FF`` between objects are
    skipped unless ``allow_padding=False``. Nesting deeper than :data:`MAX_TLV_DEPTH` is rejected.
    """
    return _decode(bytes(data), allow_padding=allow_padding, depth=1)


def _walk(tlvs: Iterable[Tlv]) -> Iterator[Tlv]:
    for item in tlvs:
        yield item
        if item.constructed:
            yield from _walk(item.children)


def find(tlvs: Iterable[Tlv], tag: int) -> Tlv | None:
    """The first data object with ``tag``, searching depth-first into constructed objects."""
    return next((item for item in _walk(tlvs) if item.tag == tag), None)


def find_all(tlvs: Iterable[Tlv], tag: int) -> list[Tlv]:
    """Every data object with ``tag``, depth-first order."""
    return [item for item in _walk(tlvs) if item.tag == tag]


# -- SIMPLE-TLV ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimpleTlv:
    """One SIMPLE-TLV data object (ISO/IEC 7816-4 §5.2.1): tag 01..FE, no constructed encoding.

    On the health card the tag is the national data-item number and each record file record holds
    one object: ``0B 1E <30-byte GBK name, right-padded with 00>``.
    """

    tag: int
    value: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.tag, int) or isinstance(self.tag, bool) or not 0x01 <= self.tag <= 0xFE:
            raise CodecError(f"SIMPLE-TLV tag must be 01..FE, got {self.tag!r}")
        if not isinstance(self.value, bytes):
            object.__setattr__(self, "value", bytes(self.value))
        if len(self.value) > 0xFFFF:
            raise CodecError("SIMPLE-TLV value too long")

    def encode(self) -> bytes:
        return encode_simple_tlv(self.tag, self.value)

    def __repr__(self) -> str:
        return f"SimpleTlv(tag=0x{self.tag:02X}, value=<{len(self.value)} bytes>)"


def encode_simple_tlv(tag: int, value: bytes) -> bytes:
    """Tag (1 byte) || length (1 byte 00..FE, or FF + 2 bytes) || value."""
    value = bytes(value)
    SimpleTlv(tag, value)  # validates
    n = len(value)
    length = bytes((n,)) if n < 0xFF else b"\xff" + n.to_bytes(2, "big")
    return bytes((tag,)) + length + value


def decode_simple_tlv(data: bytes) -> list[SimpleTlv]:
    """Parse SIMPLE-TLV objects; trailing ``00``/``FF`` padding is tolerated.

    Health-card record files are fixed-size records; a record longer than its object is
    right-padded with ``00`` (and erased space reads ``FF``). Tags ``00`` and ``FF`` are invalid
    (§5.2.1), so at a tag position they can only be padding: everything after them must be padding
    too, otherwise the data are rejected.
    """
    data = bytes(data)
    out: list[SimpleTlv] = []
    pos = 0
    end = len(data)
    while pos < end:
        tag = data[pos]
        if tag in _PADDING:
            if any(b not in _PADDING for b in data[pos:]):
                raise CodecError(f"SIMPLE-TLV data after padding at offset {pos}")
            break
        if pos + 1 >= end:
            raise CodecError(f"SIMPLE-TLV length missing after tag {tag:02X}")
        length = data[pos + 1]
        pos += 2
        if length == 0xFF:
            if pos + 2 > end:
                raise CodecError("SIMPLE-TLV three-byte length truncated")
            length = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        if pos + length > end:
            raise CodecError(f"SIMPLE-TLV length {length} of tag {tag:02X} runs past the end of the data")
        out.append(SimpleTlv(tag, data[pos : pos + length]))
        pos += length
    return out
