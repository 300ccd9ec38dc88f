"""Offline data authentication with RSA and SHA-1 (EMV 4.3 Book 2 §5 SDA, §6 DDA), sans-I/O.

Both sides of the chain of trust live here, so personalisation and the terminal cannot drift apart:

* issuer side (personalisation, the card simulator): :func:`issuer_certificate` (tags 90/92/9F32, signed
  with a CA private key), :func:`icc_certificate` (9F46/9F48/9F47, signed with the issuer's key over the
  static data too), :func:`sign_static_data` (93) and, on the card, :func:`sign_dynamic_data` (9F4B, the
  answer to INTERNAL AUTHENTICATE);
* terminal side: :func:`select_ca_key` (8F against :func:`load_ca_keys`, the terminal's CA list in
  ``capk.toml``), :func:`recover_issuer_key`, :func:`verify_sda`, :func:`recover_icc_key`,
  :func:`verify_dda`. Every failure raises :class:`OdaError` with one :class:`OdaReason`; the terminal
  turns any of them into the TVR's "SDA failed" / "DDA failed" bit.

Signing is the raw RSA private operation on the formatted block (EMV's "signature scheme giving message
recovery", Book 2 Annex A2.1): ``pow(block, d, n)``; recovery is ``pow(signature, e, n)``. ``cryptography``
makes the keys; it offers no raw RSA, hence the two ``pow`` calls. ``cryptography`` refuses keys under 1024
bits, so ICC keys are 1024 bits (the demo issuer's size: EMV needs NIC ≤ NI ≤ NCA).

The static data to be authenticated is built by :func:`static_data_to_authenticate` (Book 3 §10.3). Time
is a parameter (``today``), never read from the clock here. CDA is not implemented. **SM2 ODA** (PBOC 3.0
part 17, SM2/SM3 certificates) is not implemented either: no public source gives its certificate layout
(shared/spec/pboc-facts.md A2), so it waits for JR/T 0025.17 itself.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import enum
import hmac
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from cardservice.apdu import decode_ber_tlv
from cardservice.errors import CodecError, CryptoError
from cardservice.pboc._tags import parse_tag_list

__all__ = [
    "CaPublicKey",
    "KeyCertificate",
    "OdaError",
    "OdaReason",
    "RsaPublicKey",
    "ca_key_checksum",
    "generate_icc_key",
    "icc_certificate",
    "issuer_certificate",
    "load_ca_keys",
    "recover_icc_key",
    "recover_issuer_key",
    "select_ca_key",
    "sign_dynamic_data",
    "sign_static_data",
    "static_data_to_authenticate",
    "verify_dda",
    "verify_sda",
]

HEADER, TRAILER, PAD = 0x6A, 0xBC, 0xBB
SHA1_INDICATOR, RSA_INDICATOR = 0x01, 0x01
ISSUER_CERT_FORMAT, SSAD_FORMAT, ICC_CERT_FORMAT, SDAD_FORMAT = 0x02, 0x03, 0x04, 0x05
_HASH = 20
ICC_KEY_BITS = 1024


class OdaReason(enum.StrEnum):
    """Why offline data authentication failed (one per check of Book 2 §5.3, §5.4, §6.3-§6.5)."""

    UNKNOWN_CA_INDEX = "CA public key index unknown"
    WRONG_LENGTH = "signed data length differs from the key's modulus"
    WRONG_HEADER = "recovered data header is not 6A"
    WRONG_TRAILER = "recovered data trailer is not BC"
    WRONG_FORMAT = "certificate or signed data format wrong"
    UNSUPPORTED_ALGORITHM = "hash or public key algorithm not supported"
    HASH_MISMATCH = "hash result does not match"
    ISSUER_MISMATCH = "issuer identifier does not match the PAN"
    PAN_MISMATCH = "certificate PAN differs from the application PAN"
    EXPIRED = "certificate expired"
    MISSING_DATA = "data needed for authentication missing or malformed"


class OdaError(CryptoError):
    """Offline data authentication failed; :attr:`reason` says which check. Carries no card data."""

    def __init__(self, reason: OdaReason) -> None:
        super().__init__(f"offline data authentication failed: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class RsaPublicKey:
    """An RSA public key as EMV carries it: modulus and exponent as integers."""

    modulus: int
    exponent: int

    @property
    def length(self) -> int:
        """N in bytes (NCA, NI or NIC)."""
        return (self.modulus.bit_length() + 7) // 8

    @classmethod
    def of(cls, key: rsa.RSAPublicKey | rsa.RSAPrivateKey | RsaPublicKey) -> RsaPublicKey:
        if isinstance(key, RsaPublicKey):
            return key
        public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
        numbers = public.public_numbers()
        return cls(numbers.n, numbers.e)

    def recover(self, signature: bytes) -> bytes:
        """Book 2 Annex A2.1 recovery: ``signature^e mod n``, as many bytes as the modulus."""
        if len(signature) != self.length:
            raise OdaError(OdaReason.WRONG_LENGTH)
        value = int.from_bytes(signature, "big")
        if value >= self.modulus:
            raise OdaError(OdaReason.WRONG_LENGTH)
        return pow(value, self.exponent, self.modulus).to_bytes(self.length, "big")

    def __repr__(self) -> str:
        return f"RsaPublicKey(<{self.modulus.bit_length()} bits>, e={self.exponent})"


@dataclass(frozen=True)
class CaPublicKey:
    """One entry of the terminal's CA public key list (Book 2 §11.2.2): RID ‖ index name the key."""

    rid: bytes
    index: int
    modulus: int
    exponent: int
    note: str = ""

    @property
    def key(self) -> RsaPublicKey:
        return RsaPublicKey(self.modulus, self.exponent)

    def __repr__(self) -> str:
        return f"CaPublicKey(rid={self.rid.hex().upper()}, index=0x{self.index:02X}, {self.key!r})"


@dataclass(frozen=True)
class KeyCertificate:
    """A public key certificate as the card stores it: issuer (90, 92, 9F32) or ICC (9F46, 9F48, 9F47)."""

    certificate: bytes
    remainder: bytes
    exponent: bytes

    @classmethod
    def _from_card(cls, card_data: Mapping[int, bytes], tags: tuple[int, int, int]) -> KeyCertificate:
        certificate, remainder, exponent = tags
        if certificate not in card_data or exponent not in card_data:
            raise OdaError(OdaReason.MISSING_DATA)
        return cls(
            bytes(card_data[certificate]), bytes(card_data.get(remainder, b"")), bytes(card_data[exponent])
        )

    @classmethod
    def issuer_from_card(cls, card_data: Mapping[int, bytes]) -> KeyCertificate:
        """Tags 90, 92 (absent when the key fits) and 9F32 of the card's records."""
        return cls._from_card(card_data, (0x90, 0x92, 0x9F32))

    @classmethod
    def icc_from_card(cls, card_data: Mapping[int, bytes]) -> KeyCertificate:
        """Tags 9F46, 9F48 (absent when the key fits) and 9F47 of the card's records."""
        return cls._from_card(card_data, (0x9F46, 0x9F48, 0x9F47))


def _sha1(*parts: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303 - EMV Book 2 mandates SHA-1 (indicator 01)
    for part in parts:
        digest.update(part)
    return digest.finalize()


def _exponent_bytes(exponent: int) -> bytes:
    return exponent.to_bytes(1 if exponent < 0x100 else 3, "big")


def _sign(private_key: rsa.RSAPrivateKey, block: bytes) -> bytes:
    """The raw RSA private operation on a block as long as the modulus (header 6A keeps it below n)."""
    numbers = private_key.private_numbers()
    n = numbers.public_numbers.n
    length = (n.bit_length() + 7) // 8
    value = int.from_bytes(block, "big")
    if len(block) != length or block[0] != HEADER or value >= n:
        raise CryptoError()
    return pow(value, numbers.d, n).to_bytes(length, "big")


def _mmyy(date: _dt.date) -> bytes:
    return bytes.fromhex(f"{date.month:02d}{date.year % 100:02d}")


def _check_not_expired(mmyy: bytes, today: _dt.date) -> None:
    """Book 2 §5.3 step 7: valid through the last day of month MM of year YY (YY < 50 is 20YY)."""
    text = mmyy.hex()
    if not text.isdigit() or not 1 <= int(text[:2]) <= 12:
        raise OdaError(OdaReason.MISSING_DATA)
    month, yy = int(text[:2]), int(text[2:])
    year = 2000 + yy if yy < 50 else 1900 + yy
    last = _dt.date(year, month, calendar.monthrange(year, month)[1])
    if today > last:
        raise OdaError(OdaReason.EXPIRED)


def _digits(value: str, what: str) -> str:
    if not value or not value.isascii() or not value.isdigit():
        raise CodecError(f"{what}: decimal digits")
    return value


def _cn(digits: str, size: int) -> bytes:
    """Digits left-justified, F-padded to *size* bytes (format cn)."""
    return bytes.fromhex(digits.ljust(2 * size, "F"))


def _cn_digits(data: bytes) -> str:
    return data.hex().upper().rstrip("F")


def _check_trailer_header(recovered: bytes) -> None:
    # Book 2: the trailer is checked first (step 2), then the header (step 3).
    if recovered[-1] != TRAILER:
        raise OdaError(OdaReason.WRONG_TRAILER)
    if recovered[0] != HEADER:
        raise OdaError(OdaReason.WRONG_HEADER)


def _check_hash(expected: bytes, *parts: bytes) -> None:
    if not hmac.compare_digest(expected, _sha1(*parts)):
        raise OdaError(OdaReason.HASH_MISMATCH)


# -- the terminal's CA public keys ---------------------------------------------------------------------


def ca_key_checksum(rid: bytes, index: int, modulus: int, exponent: int) -> bytes:
    """The CA public key check sum: SHA-1 of RID ‖ index ‖ modulus ‖ exponent (Book 2 §11.2.2)."""
    length = (modulus.bit_length() + 7) // 8
    return _sha1(rid, bytes((index,)), modulus.to_bytes(length, "big"), _exponent_bytes(exponent))


def load_ca_keys(path: str | Path | None = None) -> dict[tuple[bytes, int], CaPublicKey]:
    """The CA public keys of a ``capk.toml`` (default: the one shipped with this package), keyed by
    ``(rid, index)``. Each entry's check sum is verified; a bad file raises :class:`CodecError`."""
    if path is None:
        text = resources.files("cardservice.pboc").joinpath("capk.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        entries = tomllib.loads(text).get("ca_key", [])
        parsed = [
            (
                CaPublicKey(
                    rid=bytes.fromhex(entry["rid"]),
                    index=int(entry["index"]),
                    modulus=int("".join(entry["modulus"].split()), 16),
                    exponent=int(entry["exponent"]),
                    note=str(entry.get("note", "")),
                ),
                bytes.fromhex(entry["checksum"]),
            )
            for entry in entries
        ]
    except (tomllib.TOMLDecodeError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise CodecError(f"capk: malformed CA public key list ({type(exc).__name__})") from exc
    keys: dict[tuple[bytes, int], CaPublicKey] = {}
    for key, checksum in parsed:
        if not hmac.compare_digest(checksum, ca_key_checksum(key.rid, key.index, key.modulus, key.exponent)):
            raise CodecError(f"capk: the check sum of {key!r} does not match")
        keys[(key.rid, key.index)] = key
    return keys


def select_ca_key(
    keys: Mapping[tuple[bytes, int], CaPublicKey], rid: bytes, index: int | bytes
) -> CaPublicKey:
    """The CA key named by the AID's RID (its first 5 bytes) and the card's tag 8F (Book 2 §5.2 /
    §6.2); *index* is the number or tag 8F's 1-byte value."""
    if isinstance(index, bytes | bytearray):
        if len(index) != 1:
            raise OdaError(OdaReason.MISSING_DATA)
        index = index[0]
    try:
        return keys[(bytes(rid[:5]), index)]
    except KeyError:
        raise OdaError(OdaReason.UNKNOWN_CA_INDEX) from None


# -- issuer side ---------------------------------------------------------------------------------------


def _certificate(
    signer: rsa.RSAPrivateKey,
    fmt: int,
    subject: bytes,
    key: RsaPublicKey,
    expires: _dt.date,
    serial: bytes,
    overhead: int,
    extra: bytes = b"",
) -> KeyCertificate:
    """Book 2 Tables 13 and 14: header ‖ [format ‖ subject ‖ MMYY ‖ serial ‖ 01 ‖ 01 ‖ N ‖ e-length ‖
    leftmost key bytes] ‖ hash ‖ trailer, the hash also covering remainder ‖ exponent ‖ *extra*."""
    if len(serial) != 3:
        raise CryptoError("certificate serial number: 3 bytes")
    signer_length = (signer.key_size + 7) // 8
    room = signer_length - overhead
    if key.length > 248 or room <= 0 or key.length > signer_length:
        raise CryptoError("certified key longer than the certifying key")
    modulus = key.modulus.to_bytes(key.length, "big")
    exponent = _exponent_bytes(key.exponent)
    leftmost, remainder = modulus[:room], modulus[room:]
    body = (
        bytes((fmt,))
        + subject
        + _mmyy(expires)
        + serial
        + bytes((SHA1_INDICATOR, RSA_INDICATOR, key.length, len(exponent)))
        + leftmost.ljust(room, bytes((PAD,)))
    )
    digest = _sha1(body, remainder, exponent, extra)
    block = bytes((HEADER,)) + body + digest + bytes((TRAILER,))
    return KeyCertificate(_sign(signer, block), remainder, exponent)


def issuer_certificate(
    ca_private_key: rsa.RSAPrivateKey,
    issuer_public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey | RsaPublicKey,
    *,
    issuer_identifier: str,
    expires: _dt.date,
    serial: bytes = b"\x00\x00\x01",
) -> KeyCertificate:
    """The issuer public key certificate (90), remainder (92) and exponent (9F32), Book 2 Table 13.
    *issuer_identifier* is the leftmost 3-8 digits of the PAN (the BIN); *expires* any day of the last
    valid month."""
    bin_digits = _digits(issuer_identifier, "issuer identifier")
    if not 3 <= len(bin_digits) <= 8:
        raise CodecError("issuer identifier: 3 to 8 digits")
    key = RsaPublicKey.of(issuer_public_key)
    return _certificate(ca_private_key, ISSUER_CERT_FORMAT, _cn(bin_digits, 4), key, expires, serial, 36)


def icc_certificate(
    issuer_private_key: rsa.RSAPrivateKey,
    icc_public_key: rsa.RSAPublicKey | rsa.RSAPrivateKey | RsaPublicKey,
    *,
    pan: str,
    expires: _dt.date,
    static_data: bytes,
    serial: bytes = b"\x00\x00\x01",
) -> KeyCertificate:
    """The ICC public key certificate (9F46), remainder (9F48) and exponent (9F47), Book 2 Table 14;
    its hash also covers the static data to be authenticated."""
    if len(_digits(pan, "PAN")) > 19:
        raise CodecError("PAN: at most 19 digits")
    key = RsaPublicKey.of(icc_public_key)
    return _certificate(
        issuer_private_key, ICC_CERT_FORMAT, _cn(pan, 10), key, expires, serial, 42, bytes(static_data)
    )


def sign_static_data(
    issuer_private_key: rsa.RSAPrivateKey, static_data: bytes, data_authentication_code: bytes = b"\xda\xc0"
) -> bytes:
    """Signed static application data (93), Book 2 Table 7. The 2-byte data authentication code is the
    issuer's choice (``DAC0`` for the demo issuer); the terminal keeps it in 9F45."""
    if len(data_authentication_code) != 2:
        raise CryptoError("data authentication code: 2 bytes")
    length = (issuer_private_key.key_size + 7) // 8
    body = bytes((SSAD_FORMAT, SHA1_INDICATOR)) + data_authentication_code + bytes((PAD,)) * (length - 26)
    block = bytes((HEADER,)) + body + _sha1(body, bytes(static_data)) + bytes((TRAILER,))
    return _sign(issuer_private_key, block)


def sign_dynamic_data(
    icc_private_key: rsa.RSAPrivateKey, icc_dynamic_number: bytes, ddol_data: bytes
) -> bytes:
    """The card's signed dynamic application data (9F4B) for INTERNAL AUTHENTICATE, Book 2 §6.5.1 and
    Table 17: ICC dynamic data = length ‖ ICC dynamic number (2-8 bytes; the card draws 8 random ones)."""
    if not 2 <= len(icc_dynamic_number) <= 8:
        raise CryptoError("ICC dynamic number: 2 to 8 bytes")
    length = (icc_private_key.key_size + 7) // 8
    dynamic = bytes((len(icc_dynamic_number),)) + bytes(icc_dynamic_number)
    body = (
        bytes((SDAD_FORMAT, SHA1_INDICATOR, len(dynamic)))
        + dynamic
        + bytes((PAD,)) * (length - len(dynamic) - 25)
    )
    block = bytes((HEADER,)) + body + _sha1(body, bytes(ddol_data)) + bytes((TRAILER,))
    return _sign(icc_private_key, block)


def generate_icc_key() -> rsa.RSAPrivateKey:
    """A fresh ICC key pair for one card at personalisation: 1024 bits, e = 3."""
    return rsa.generate_private_key(public_exponent=3, key_size=ICC_KEY_BITS)


def static_data_to_authenticate(
    records: Iterable[tuple[int, bytes]], sda_tag_list: bytes = b"", values: Mapping[int, bytes] | None = None
) -> bytes:
    """Book 3 §10.3: the ODA records' data, in AFL order, then the values of the tags in 9F4A.

    *records* are ``(sfi, record)`` as READ RECORD returned them: for SFI 1-10 the value inside the
    record's ``70`` template counts (anything else there fails ODA), for SFI 11-30 the whole record. The
    tag list may name only the AIP (82)."""
    values = values or {}
    out = bytearray()
    for sfi, record in records:
        if 1 <= sfi <= 10:
            try:
                tlvs = decode_ber_tlv(bytes(record), allow_padding=False)
            except CodecError:
                raise OdaError(OdaReason.MISSING_DATA) from None
            if len(tlvs) != 1 or tlvs[0].tag != 0x70:
                raise OdaError(OdaReason.MISSING_DATA)
            out += tlvs[0].value
        else:
            out += bytes(record)
    try:
        tags = parse_tag_list(sda_tag_list)
    except CodecError:
        raise OdaError(OdaReason.MISSING_DATA) from None
    for tag in tags:
        if tag != 0x82 or tag not in values:
            raise OdaError(OdaReason.MISSING_DATA)
        out += bytes(values[tag])
    return bytes(out)


# -- terminal side -------------------------------------------------------------------------------------


def _recover_key(
    signer: RsaPublicKey,
    cert: KeyCertificate,
    fmt: int,
    subject_size: int,
    overhead: int,
    today: _dt.date,
    extra: bytes = b"",
) -> tuple[RsaPublicKey, bytes]:
    """The common steps of Book 2 §5.3 / §6.4; returns the key and the subject field (issuer id / PAN)."""
    recovered = signer.recover(bytes(cert.certificate))
    _check_trailer_header(recovered)
    if recovered[1] != fmt:
        raise OdaError(OdaReason.WRONG_FORMAT)
    pos = 2 + subject_size
    subject, mmyy = recovered[2:pos], recovered[pos : pos + 2]
    hash_alg, key_alg, key_length, exp_length = recovered[pos + 5 : pos + 9]
    room = signer.length - overhead
    leftmost = recovered[pos + 9 : pos + 9 + room]
    expected = recovered[-1 - _HASH : -1]
    if hash_alg != SHA1_INDICATOR or key_alg != RSA_INDICATOR:
        raise OdaError(OdaReason.UNSUPPORTED_ALGORITHM)
    remainder, exponent = bytes(cert.remainder), bytes(cert.exponent)
    needed = max(0, key_length - room)
    if len(remainder) != needed or len(exponent) != exp_length or exp_length not in (1, 3):
        raise OdaError(OdaReason.MISSING_DATA)
    _check_hash(expected, recovered[1 : -1 - _HASH], remainder, exponent, extra)
    _check_not_expired(mmyy, today)
    modulus = (leftmost + remainder)[:key_length]
    key = RsaPublicKey(int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"))
    if key.length != key_length or key.exponent < 3:
        raise OdaError(OdaReason.MISSING_DATA)
    return key, subject


def recover_issuer_key(
    ca_key: CaPublicKey, certificate: KeyCertificate, *, pan: str, today: _dt.date
) -> RsaPublicKey:
    """The issuer public key from tags 90, 92 and 9F32 (Book 2 §5.3), checked against the PAN's
    leading digits and *today*."""
    key, issuer_id = _recover_key(ca_key.key, certificate, ISSUER_CERT_FORMAT, 4, 36, today)
    prefix = _cn_digits(issuer_id)
    if not 3 <= len(prefix) <= 8 or not prefix.isdigit() or not pan.startswith(prefix):
        raise OdaError(OdaReason.ISSUER_MISMATCH)
    return key


def verify_sda(issuer_key: RsaPublicKey, signed_static_data: bytes, static_data: bytes) -> bytes:
    """Static data authentication (Book 2 §5.4): checks tag 93 over the static data; returns the data
    authentication code (the terminal stores it as 9F45)."""
    recovered = issuer_key.recover(bytes(signed_static_data))
    _check_trailer_header(recovered)
    if recovered[1] != SSAD_FORMAT:
        raise OdaError(OdaReason.WRONG_FORMAT)
    if recovered[2] != SHA1_INDICATOR:
        raise OdaError(OdaReason.UNSUPPORTED_ALGORITHM)
    _check_hash(recovered[-1 - _HASH : -1], recovered[1 : -1 - _HASH], bytes(static_data))
    return recovered[3:5]


def recover_icc_key(
    issuer_key: RsaPublicKey, certificate: KeyCertificate, *, pan: str, static_data: bytes, today: _dt.date
) -> RsaPublicKey:
    """The ICC public key from tags 9F46, 9F48 and 9F47 (Book 2 §6.4), checked against the static data,
    the application PAN (5A) and *today*."""
    key, cert_pan = _recover_key(issuer_key, certificate, ICC_CERT_FORMAT, 10, 42, today, bytes(static_data))
    if _cn_digits(cert_pan) != pan.upper().rstrip("F"):
        raise OdaError(OdaReason.PAN_MISMATCH)
    if key.length > issuer_key.length:
        raise OdaError(OdaReason.MISSING_DATA)
    return key


def verify_dda(icc_key: RsaPublicKey, signed_dynamic_data: bytes, ddol_data: bytes) -> bytes:
    """Dynamic data authentication (Book 2 §6.5.2): checks the card's 9F4B over the DDOL data the
    terminal sent; returns the ICC dynamic number (the terminal stores it as 9F4C)."""
    recovered = icc_key.recover(bytes(signed_dynamic_data))
    _check_trailer_header(recovered)
    if recovered[1] != SDAD_FORMAT:
        raise OdaError(OdaReason.WRONG_FORMAT)
    if recovered[2] != SHA1_INDICATOR:
        raise OdaError(OdaReason.UNSUPPORTED_ALGORITHM)
    dynamic_length = recovered[3]
    if dynamic_length > len(recovered) - 25 or dynamic_length < 3:
        raise OdaError(OdaReason.MISSING_DATA)
    _check_hash(recovered[-1 - _HASH : -1], recovered[1 : -1 - _HASH], bytes(ddol_data))
    dynamic = recovered[4 : 4 + dynamic_length]
    number_length = dynamic[0]
    if not 2 <= number_length <= 8 or number_length + 1 > dynamic_length:
        raise OdaError(OdaReason.MISSING_DATA)
    return dynamic[1 : 1 + number_length]
