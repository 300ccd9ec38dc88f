"""Field 55, ICC data: the card's and terminal's EMV data objects on the way out, the issuer's on the way
back, as BER-TLV (cardservice.apdu). pyiso8583 sees it as opaque bytes (facts sheet A3); here it is parsed.

Out (0200): the ARQC's data — 9F26 ARQC, 9F27 CID, 9F10 IAD, 9F37, 9F36 ATC, 95, 9A, 9C, 9F02, 5F2A, 82 AIP,
9F1A, 9F03 — plus 9F33, 9F34, 9F35, 9F1E, 84, 9F09, 9F41 (the real sale of facts sheet A5 carries these).
Back (0210): 91 issuer authentication data (ARPC ‖ ARC) and issuer script templates 71 (before the second
GENERATE AC) and 72 (after), each ``9F18 script id, 86 command...``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cardservice.acquiring._errors import Iso8583Error
from cardservice.apdu import Tlv, decode_ber_tlv, encode_ber_tlv
from cardservice.errors import CodecError

__all__ = ["IccData", "build_icc_data", "issuer_script", "track2_text"]

TAG_ISSUER_AUTHENTICATION_DATA = 0x91
SCRIPT_TEMPLATES = (0x71, 0x72)


@dataclass(frozen=True)
class IccData:
    """The data objects of field 55, top level, in order. Values are card data: the repr shows tags only."""

    objects: tuple[Tlv, ...] = ()

    @classmethod
    def decode(cls, data: bytes) -> IccData:
        try:
            return cls(tuple(decode_ber_tlv(data, allow_padding=False)))
        except CodecError as exc:
            raise Iso8583Error(f"field 55: {exc}") from None

    def encode(self) -> bytes:
        return b"".join(item.encode() for item in self.objects)

    def __repr__(self) -> str:
        return f"IccData(tags=[{', '.join(f'{item.tag:X}' for item in self.objects)}])"

    def value(self, tag: int) -> bytes | None:
        """The first top-level object *tag*'s value, ``None`` when absent."""
        return next((item.value for item in self.objects if item.tag == tag), None)

    def values(self) -> dict[int, bytes]:
        """Top-level primitive objects by tag (the first of each)."""
        out: dict[int, bytes] = {}
        for item in self.objects:
            if not item.constructed:
                out.setdefault(item.tag, item.value)
        return out

    @property
    def issuer_authentication_data(self) -> bytes | None:
        """Tag 91: ARPC (8 bytes) ‖ ARC (2 bytes)."""
        return self.value(TAG_ISSUER_AUTHENTICATION_DATA)

    @property
    def scripts(self) -> list[bytes]:
        """Issuer script templates (whole 71/72 TLVs), in the order the issuer sent them."""
        return [item.encode() for item in self.objects if item.tag in SCRIPT_TEMPLATES]

    @property
    def scripts_before(self) -> tuple[bytes, ...]:
        """Tag 71 templates: run before the second GENERATE AC."""
        return tuple(item.encode() for item in self.objects if item.tag == 0x71)

    @property
    def scripts_after(self) -> tuple[bytes, ...]:
        """Tag 72 templates: run after the second GENERATE AC."""
        return tuple(item.encode() for item in self.objects if item.tag == 0x72)


def build_icc_data(objects: Mapping[int, bytes] | Iterable[tuple[int, bytes]]) -> bytes:
    """Field 55 from (tag, value) pairs, in the given order."""
    pairs = objects.items() if isinstance(objects, Mapping) else objects
    try:
        return b"".join(encode_ber_tlv(tag, value) for tag, value in pairs)
    except CodecError as exc:
        raise Iso8583Error(f"field 55: {exc}") from None


def issuer_script(template: int, commands: Iterable[bytes], script_id: bytes = bytes(4)) -> bytes:
    """An issuer script template (71 or 72): ``9F18 script id`` then one ``86`` per command APDU."""
    if template not in SCRIPT_TEMPLATES:
        raise Iso8583Error("issuer script template: 71 or 72")
    body = encode_ber_tlv(0x9F18, script_id) + b"".join(encode_ber_tlv(0x86, c) for c in commands)
    return encode_ber_tlv(template, body)


def track2_text(tag57: bytes) -> str:
    """Field 35 from the card's track 2 equivalent data (tag 57: BCD, ``D`` separator, ``F`` padding)."""
    text = bytes(tag57).hex().upper().rstrip("F")
    if not text or any(c not in "0123456789D" for c in text):
        raise Iso8583Error("tag 57: not track 2 equivalent data")
    return text
