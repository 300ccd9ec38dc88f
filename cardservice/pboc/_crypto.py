"""The bank application's cryptography (PBOC 3.0 / JR/T 0025, EMV 4.3 Book 2 Annex A1), sans-I/O.

One :class:`AcScheme` names how a card's keys and cryptograms are made; card, terminal and the simulated
issuer all ask the scheme, so a card personalised with one scheme is verified with the same one:

* ``PBOC_TDES`` — the UnionPay debit card: MK by option A (``TDES(IMK)[Y] ‖ TDES(IMK)[~Y]``), the PBOC
  session key ``TDES(MK)[00×6 ‖ ATC ‖ 00×6 ‖ ~ATC]`` (not EMV's common session key: the facts sheet's
  verified UnionPay vector only reproduces with this one), ARQC = ISO 9797-1 MAC algorithm 3 (padding
  method 2), ARPC method 1 = ``TDES(SK)[ARQC ⊕ (ARC ‖ 00×6)]``.
* ``EMV_CSK`` — EMV's common session key (``R = ATC ‖ F0 ‖ 00×5`` and ``ATC ‖ 0F ‖ 00×5``), otherwise as
  above; here so published EMV vectors can check the shared parts.
* ``PBOC_SM4`` — PBOC 3.0 part 17 (SM4). **Unconfirmed** (shared/spec/pboc-facts.md A2: no public vector):
  MK = ``SM4(IMK)[Y ‖ ~Y]`` as one block, SK = ``SM4(MK)[00×6 ‖ ATC ‖ 00×6 ‖ ~ATC]`` (our choice, by
  analogy with the TDES scheme), AC = ISO 9797-1 MAC algorithm 1 with SM4, leftmost 8 bytes (our choice),
  ARPC = ``SM4(SK)[(ARQC ⊕ (ARC ‖ 00×6)) ‖ 00×8]``, leftmost 8 bytes kept in tag 91 (our choice).

The PIN block is ISO 9564-1 format 0. Every key and PIN value stays in memory only as long as the call.
"""

from __future__ import annotations

import enum
import hmac

from cardservice.errors import CryptoError
from cardservice.keys import BlockCipher
from cardservice.keys._cipher import encrypt_ecb
from cardservice.keys._mac import mac_algorithm_1, mac_algorithm_3

__all__ = [
    "CRYPTOGRAM_TAGS",
    "AcScheme",
    "application_cryptogram",
    "arpc_method_1",
    "arpc_method_2",
    "card_master_key",
    "cryptogram_input",
    "pan_psn_block",
    "pin_block_format_0",
    "pin_from_block_format_0",
    "script_mac",
    "session_key",
    "verify_arpc",
]


class AcScheme(enum.Enum):
    """How a card's application cryptograms are made (the card's CVN, as a strategy)."""

    PBOC_TDES = "pboc-3des"
    PBOC_SM4 = "pboc-sm4"
    EMV_CSK = "emv-csk"

    @property
    def cipher(self) -> BlockCipher:
        return BlockCipher.SM4 if self is AcScheme.PBOC_SM4 else BlockCipher.TDES


def _digits(value: str, what: str) -> str:
    if not value or not value.isdigit() or not value.isascii():
        raise CryptoError(f"{what}: decimal digits")
    return value


def pan_psn_block(pan: str, psn: str = "00") -> bytes:
    """Y of EMV option A: the rightmost 16 digits of PAN ‖ PSN (left-padded with zeros), packed BCD."""
    digits = _digits(pan, "PAN") + _digits(psn, "PAN sequence number").zfill(2)
    return bytes.fromhex(digits[-16:].rjust(16, "0"))


def _complement(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def card_master_key(
    issuer_master_key: bytes, pan: str, psn: str = "00", scheme: AcScheme = AcScheme.PBOC_TDES
) -> bytes:
    """The card's key (MK-AC, MK-SMI, MK-SMC) diversified from the issuer's by PAN and PSN, option A.
    Parity bits are left as the cipher made them (the facts sheet's vector is without parity fix)."""
    y = pan_psn_block(pan, psn)
    if scheme is AcScheme.PBOC_SM4:
        return encrypt_ecb(BlockCipher.SM4, issuer_master_key, y + _complement(y))
    return encrypt_ecb(BlockCipher.TDES, issuer_master_key, y) + encrypt_ecb(
        BlockCipher.TDES, issuer_master_key, _complement(y)
    )


def _atc(atc: bytes | int) -> bytes:
    value = atc.to_bytes(2, "big") if isinstance(atc, int) else bytes(atc)
    if len(value) != 2:
        raise CryptoError("ATC: 2 bytes")
    return value


def session_key(card_key: bytes, atc: bytes | int, scheme: AcScheme = AcScheme.PBOC_TDES) -> bytes:
    """The session key of one transaction (the ATC's), from a card master key."""
    counter = _atc(atc)
    if scheme is AcScheme.EMV_CSK:
        left = counter + b"\xf0" + bytes(5)
        right = counter + b"\x0f" + bytes(5)
        return encrypt_ecb(BlockCipher.TDES, card_key, left) + encrypt_ecb(BlockCipher.TDES, card_key, right)
    block = bytes(6) + counter + bytes(6) + _complement(counter)
    return encrypt_ecb(scheme.cipher, card_key, block)


def application_cryptogram(session: bytes, data: bytes, scheme: AcScheme = AcScheme.PBOC_TDES) -> bytes:
    """ARQC / TC / AAC: 8 bytes over the CDOL data and the card's own data (the caller concatenates)."""
    if scheme is AcScheme.PBOC_SM4:
        return mac_algorithm_1(BlockCipher.SM4, session, data)[:8]
    return mac_algorithm_3(session, data)


#: The data objects of the cryptogram's input, in order (the CDOL values the card was given; facts sheet A2):
#: amount, other amount, terminal country, TVR, currency, date, type, unpredictable number.
CRYPTOGRAM_TAGS = (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37)


def cryptogram_input(values: dict[int, bytes], aip: bytes, atc: bytes | int, cvr: bytes) -> bytes:
    """The bytes an application cryptogram is computed over: :data:`CRYPTOGRAM_TAGS`' values ‖ AIP ‖ ATC ‖
    CVR (4 bytes, from the issuer application data). Card, terminal and issuer all build it here."""
    missing = [f"{tag:X}" for tag in CRYPTOGRAM_TAGS if tag not in values]
    if missing:
        raise CryptoError(f"cryptogram input lacks {', '.join(missing)}")
    if len(aip) != 2 or len(cvr) != 4:
        raise CryptoError("cryptogram input: a 2-byte AIP and a 4-byte CVR")
    return b"".join(bytes(values[tag]) for tag in CRYPTOGRAM_TAGS) + bytes(aip) + _atc(atc) + bytes(cvr)


def arpc_method_1(session: bytes, arqc: bytes, arc: bytes, scheme: AcScheme = AcScheme.PBOC_TDES) -> bytes:
    """The issuer's answer to an ARQC, ARPC method 1: 8 bytes (sent as tag 91 = ARPC ‖ ARC)."""
    if len(arqc) != 8 or len(arc) != 2:
        raise CryptoError("ARPC: an 8-byte ARQC and a 2-byte ARC")
    block = bytes(a ^ b for a, b in zip(arqc, bytes(arc) + bytes(6), strict=True))
    if scheme is AcScheme.PBOC_SM4:
        return encrypt_ecb(BlockCipher.SM4, session, block + bytes(8))[:8]
    return encrypt_ecb(BlockCipher.TDES, session, block)


def arpc_method_2(session: bytes, arqc: bytes, csu: bytes, proprietary: bytes = b"") -> bytes:
    """ARPC method 2 (EMV 4.3 Book 2 A1.4.2): a 4-byte MAC over ARQC ‖ CSU ‖ proprietary data."""
    if len(arqc) != 8 or len(csu) != 4:
        raise CryptoError("ARPC method 2: an 8-byte ARQC and a 4-byte CSU")
    return mac_algorithm_3(session, bytes(arqc) + bytes(csu) + bytes(proprietary))[:4]


def verify_arpc(
    session: bytes, arqc: bytes, arpc: bytes, arc: bytes, scheme: AcScheme = AcScheme.PBOC_TDES
) -> bool:
    """The card's check of tag 91 (ARPC method 1), in constant time."""
    return hmac.compare_digest(arpc_method_1(session, arqc, arc, scheme), bytes(arpc))


def script_mac(session: bytes, data: bytes, scheme: AcScheme = AcScheme.PBOC_TDES) -> bytes:
    """The 4-byte MAC of an issuer script command: over ``CLA INS P1 P2 Lc ‖ ATC ‖ ARQC ‖ data`` (the
    caller concatenates), under the session key of MK-SMI."""
    if scheme is AcScheme.PBOC_SM4:
        return mac_algorithm_1(BlockCipher.SM4, session, data)[:4]
    return mac_algorithm_3(session, data)[:4]


def _pan_field(pan: str) -> bytes:
    digits = _digits(pan, "PAN")
    if len(digits) < 13:
        raise CryptoError("PAN: at least 13 digits for a PIN block")
    return bytes.fromhex("0000" + digits[:-1][-12:])


def pin_block_format_0(pin: str, pan: str) -> bytes:
    """ISO 9564-1 format 0: ``0 ‖ N ‖ PIN ‖ F…`` XOR ``0000 ‖ 12 rightmost PAN digits without the check
    digit``. Only a PIN pad (or its simulator) makes one; it leaves the pad encrypted."""
    if not 4 <= len(pin) <= 12 or not pin.isdigit() or not pin.isascii():
        raise CryptoError("PIN: 4 to 12 digits")
    field = bytes.fromhex(f"0{len(pin):X}{pin}".ljust(16, "F"))
    return bytes(a ^ b for a, b in zip(field, _pan_field(pan), strict=True))


def pin_from_block_format_0(block: bytes, pan: str) -> str:
    """The PIN of a clear format-0 block (the issuer's check, inside its security boundary); a block that
    is not well formed raises the same opaque error whatever is wrong with it."""
    if len(block) != 8:
        raise CryptoError()
    field = bytes(a ^ b for a, b in zip(block, _pan_field(pan), strict=True)).hex().upper()
    length = int(field[1], 16)
    pin, filler = field[2 : 2 + length], field[2 + length :]
    if field[0] != "0" or not 4 <= length <= 12 or not pin.isdigit() or filler != "F" * len(filler):
        raise CryptoError()
    return pin
