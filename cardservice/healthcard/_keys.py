"""The health card's keys: where each lives, how the terminal names it, and how the SAM derives it.

One table (``HEALTH_KEYS``) serves both sides: the virtual health card and virtual SAM are built from
it, and the terminal's authentication flows look keys up in it. Sources: facts sheet §4.1 (key list,
table 10-2), §4.3 (P2 of EXTERNAL AUTHENTICATE), §4.4 (SAM ``80 DE`` P1/P2 and diversification
depth). Rows marked ``convention`` are the project's choices where the sheet says UNKNOWN
(shared/spec/README.md); change them here when a real card says otherwise.

Diversification factors (facts sheet §4.4; shared/spec/README.md conventions):

- level 1: the card-unique 8 bytes at the end of the card's reset answer (historical bytes),
  configurable to "bytes 5-12" (:data:`CardFactorSource`);
- level 2: ASCII of the first two digits of YYCSDM (the city code in DDF1/EF05) + ASCII "000000".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from cardservice.errors import CodecError

__all__ = [
    "HEALTH_KEYS",
    "CardFactorSource",
    "HealthKey",
    "KeyRole",
    "card_factor",
    "city_factor",
    "health_key",
]


class KeyRole(StrEnum):
    READ = "read"  # RK: EXTERNAL AUTHENTICATE grants the read right
    UPDATE = "update"  # UK: grants the update (or, for UK2DF03, the erase) right
    SECURE_MESSAGING = "secure-messaging"  # STK: session key for MAC / encryption of updates
    INTERNAL_AUTH = "internal-auth"  # IRK: the card proves itself to the terminal


@dataclass(frozen=True)
class HealthKey:
    name: str  # as in table 10-2, e.g. "RK1DF03"
    df: str  # "DDF1", "DF01", "DF02", "DF03"
    role: KeyRole
    card_ref: int  # P2 of EXTERNAL AUTHENTICATE (or key reference of the STK / IRK)
    sam_p1: int  # P1 of the SAM's 80 DE: high nibble 2 = one level, 4 = two levels
    sam_index: int  # P2 of the SAM's 80 DE
    levels: int  # diversification levels: 1 = card factor, 2 = card factor then city factor
    confidence: str
    note: str = ""


_H, _M, _C = "high", "medium", "convention"

HEALTH_KEYS: tuple[HealthKey, ...] = (
    HealthKey("UK1DDF1", "DDF1", KeyRole.UPDATE, 0x05, 0x27, 0x2A, 1, _M),
    HealthKey("RK1DDF1", "DDF1", KeyRole.READ, 0x04, 0x47, 0x31, 2, _H),
    HealthKey("UK1DF01", "DF01", KeyRole.UPDATE, 0x85, 0x27, 0x2B, 1, _M),
    HealthKey("RK1DF01", "DF01", KeyRole.READ, 0x84, 0x47, 0x32, 2, _H),
    HealthKey("UK1DF02", "DF02", KeyRole.UPDATE, 0x85, 0x47, 0x2C, 2, _M),
    HealthKey("UK2DF02", "DF02", KeyRole.UPDATE, 0x86, 0x47, 0x2D, 2, _M),
    HealthKey("UK3DF02", "DF02", KeyRole.UPDATE, 0x87, 0x47, 0x2E, 2, _M),
    HealthKey("RK1DF02", "DF02", KeyRole.READ, 0x84, 0x47, 0x33, 2, _H),
    HealthKey("UK1DF03", "DF03", KeyRole.UPDATE, 0x85, 0x47, 0x2F, 2, _H),
    HealthKey("UK2DF03", "DF03", KeyRole.UPDATE, 0x86, 0x27, 0x30, 1, _M, "erase right: index to FF"),
    HealthKey("RK1DF03", "DF03", KeyRole.READ, 0x84, 0x47, 0x34, 2, _H),
    # Card-side references of the STKs and the IRK are UNKNOWN (§4.3): the project puts the STK at
    # 0A (DDF1) / 8A (DF-local) and the IRK at 0B, following the pattern of the known references. The
    # IRK's reference (and how the card answers, _flows.INTERNAL_AUTH_ALGORITHMS) can be overridden per
    # card model in readers/profiles.toml (internal_auth_key_ref, internal_auth_algorithm).
    HealthKey("STKDDF1", "DDF1", KeyRole.SECURE_MESSAGING, 0x0A, 0x28, 0x02, 1, _C, "card ref by convention"),
    HealthKey("STKDF01", "DF01", KeyRole.SECURE_MESSAGING, 0x8A, 0x28, 0x03, 1, _C, "card ref by convention"),
    HealthKey("STKDF02", "DF02", KeyRole.SECURE_MESSAGING, 0x8A, 0x48, 0x04, 2, _C, "card ref by convention"),
    HealthKey("STKDF03", "DF03", KeyRole.SECURE_MESSAGING, 0x8A, 0x48, 0x05, 2, _C, "card ref by convention"),
    HealthKey(
        "IRKDDF1", "DDF1", KeyRole.INTERNAL_AUTH, 0x0B, 0x27, 0x01, 1, _C,
        "card ref, SAM index and depth by convention (not in the sheet)",
    ),
)  # fmt: skip

_BY_NAME: Mapping[str, HealthKey] = MappingProxyType({key.name: key for key in HEALTH_KEYS})


def health_key(name: str) -> HealthKey:
    """The key named as in table 10-2 (e.g. ``"RK1DF03"``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise CodecError(f"no health-card key named {name!r}") from None


class CardFactorSource(StrEnum):
    """Where in the reset answer the level-1 factor sits (facts sheet §4.4: builds differ)."""

    LAST_8 = "last-8"  # the project's convention (shared/spec/README.md)
    BYTES_5_TO_12 = "bytes-5-12"


def card_factor(atr: bytes, source: CardFactorSource = CardFactorSource.LAST_8) -> bytes:
    """The level-1 diversification factor: 8 card-unique bytes of the reset answer.

    With ``LAST_8`` an ATR that ends in a check byte (TCK, present whenever a protocol other than
    T=0 is offered) gives the 8 bytes before it; the historical bytes are what is card-unique.
    """
    atr = bytes(atr)
    if source is CardFactorSource.BYTES_5_TO_12:
        if len(atr) < 12:
            raise CodecError(f"reset answer of {len(atr)} bytes has no bytes 5-12 for the card factor")
        return atr[4:12]
    historical = _historical_bytes(atr)
    if len(historical) < 8:
        raise CodecError(f"reset answer has {len(historical)} historical bytes; the card factor needs 8")
    return historical[-8:]


def _historical_bytes(atr: bytes) -> bytes:
    """The historical bytes of an ISO/IEC 7816-3 ATR (TS T0 [TAi TBi TCi TDi]... T1..TK [TCK])."""
    if len(atr) < 2:
        raise CodecError("reset answer too short")
    k = atr[1] & 0x0F
    indicator = atr[1] >> 4
    position = 2
    offers_other_than_t0 = False
    while True:
        position += bin(indicator & 0x0F).count("1")
        if not indicator & 0x8:
            break
        if position > len(atr):
            raise CodecError("reset answer truncated in its interface bytes")
        td = atr[position - 1]
        if td & 0x0F:
            offers_other_than_t0 = True
        indicator = td >> 4
    end = position + k
    expected = end + (1 if offers_other_than_t0 else 0)
    if len(atr) != expected:
        raise CodecError(f"reset answer is {len(atr)} bytes, its T0/TDi bytes describe {expected}")
    return atr[position:end]


def city_factor(yycsdm: str) -> bytes:
    """The level-2 diversification factor from YYCSDM (DDF1/EF05): ASCII of its first two digits
    followed by ASCII ``"000000"`` (facts sheet §4.4, e.g. ``"130185"`` -> ``b"13000000"``).

    Refuses an empty or malformed city code: a wrong factor burns a try on the citizen's card.
    """
    if len(yycsdm) < 2 or not yycsdm[:2].isdigit() or not yycsdm.isascii():
        raise CodecError("YYCSDM (city code) is missing or malformed; cannot build the city factor")
    return yycsdm[:2].encode("ascii") + b"000000"
