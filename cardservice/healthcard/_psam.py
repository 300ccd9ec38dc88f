"""The health-card PSAM over APDUs: :class:`ApduSam` implements :class:`cardservice.keys.Sam`.

Commands (facts sheet §5.1-5.2; the SM3/SM2 ones are project-defined because the sources leave them
UNKNOWN, §9 item 5 — they match the virtual PSAM of ``simulators.health``):

=====================================  ====================================================================
APDU                                   purpose
=====================================  ====================================================================
``00 A4 00 00 02 3F00`` / ``DF01``     select the MF, then the health application DF01
``00 20 00 00 Lc PIN-BCD``             verify the SAM PIN ("123456" -> ``12 34 56``; odd length F-padded)
``80 DE P1 P2 Lc factors ‖ R``         derive the card key and load the session key; P1/P2 = the key's
                                       ``sam_p1``/``sam_index`` (HEALTH_KEYS), Lc ``10`` (1 level) / ``18``
``80 FA 00 00 Lc data``                SM4-ECB encrypt with the session key (``61xx`` + GET RESPONSE)
``80 FA 05 00 Lc IV(16) ‖ data``       4-byte MAC (ISO/IEC 9797-1 alg. 1, padding 2) with the session key
``80 FC P1 P2 Lc factors ‖ M ‖ C``     check a card's INTERNAL AUTHENTICATE answer C (project-defined):
                                       P1/P2 as for ``80 DE`` (IRKDDF1); K = the master key diversified
                                       with the factors (no challenge); ``9000`` if E_K(M) = C (ECB,
                                       compared in constant time), ``6300`` if not; the session key stays
``80 F6 00 00 Lc data``                SM3 digest -> 32 bytes (project-defined; P1 01/03/02 chain
                                       first/next/last part of a message over 255 bytes)
``80 F8 00 00 20 e``                   SM2 signature of e = SM3(Z ‖ M) -> ``r ‖ s`` (needs the PIN)
``00 A4 00 00 02 001C``, ``00 B0``     the SAM certificate (190 bytes) holding the SM2 public key
=====================================  ====================================================================

The SAM answers proprietary commands T=0 style (``61xx``); :func:`cardservice.apdu.transceive`
fetches the data with GET RESPONSE. Nothing here logs; PINs and key material never reach a message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from cardservice.apdu import ApduTracer, CommandApdu, ResponseApdu, read_binary, select_by_fid, transceive
from cardservice.errors import CodecError, CryptoError, TransportError, WarningStatusError
from cardservice.healthcard._keys import health_key
from cardservice.keys import DEFAULT_SM2_USER_ID, Sm2PublicKey

__all__ = [
    "SAM_APPLICATION_FID",
    "SAM_CERTIFICATE_FID",
    "SAM_CERTIFICATE_SIZE",
    "ApduSam",
    "encode_pin",
    "encode_sam_certificate",
    "sam_certificate_public_key",
]

SAM_APPLICATION_FID = 0xDF01
SAM_CERTIFICATE_FID = 0x001C
SAM_CERTIFICATE_SIZE = 190  # facts sheet §5.1: DF01/001C, also the EE/ED "SAM卡证书" area

_CLA_PROPRIETARY = 0x80
_INS_DERIVE = 0xDE
_INS_CIPHER = 0xFA
_INS_SM3 = 0xF6
_INS_SM2_SIGN = 0xF8
_INS_VERIFY_CARD = 0xFC
_SW_NO_MATCH = 0x6300  # 80 FC: the card's answer is not E_K(M)
_P1_ENCRYPT, _P1_MAC = 0x00, 0x05
_SM3_SINGLE, _SM3_FIRST, _SM3_LAST, _SM3_NEXT = 0x00, 0x01, 0x02, 0x03
_BLOCK = 16
_MAX_LC = 0xFF
_ENCRYPT_CHUNK = 240  # whole SM4 blocks under the short Lc limit: ECB may be split freely
_MAC_LENGTH = 4
_DIGEST_LENGTH = 32
_SIGNATURE_LENGTH = 64


def encode_pin(pin: str) -> bytes:
    """SAM PIN as BCD (facts sheet §4.8): ``"123456"`` -> ``12 34 56``; an odd length is padded
    with ``F``. Refuses anything but 2-16 decimal digits before any APDU."""
    if not (isinstance(pin, str) and pin.isascii() and pin.isdigit() and 2 <= len(pin) <= 16):
        raise CodecError("SAM PIN must be 2-16 decimal digits")
    digits = pin if len(pin) % 2 == 0 else pin + "F"
    return bytes.fromhex(digits)


def sam_certificate_public_key(certificate: bytes, *, check_self_signature: bool = True) -> Sm2PublicKey:
    """The SM2 public key in a 190-byte SAM certificate (SAM DF01/001C; the EE/ED certificate area).

    Project-defined structure (simulators/health/_certs.py; simulators/README.md "Virtual PSAM")::

        0   65  SM2 public key 04 ‖ x ‖ y          93  33  reserved 00
        65   1  format version 01                 126  64  SM2 r ‖ s over bytes 0-125 (self-signed,
        66   1  certificate type 02 = SAM                  default user ID; the PKI is UNKNOWN)
        67  10  SAM serial    77 8 issuer ID    85 4 / 89 4 valid from / to (BCD YYYYMMDD)

    With *check_self_signature* the signature at 126 must verify under the key at 0 (it detects a
    damaged area; it proves no trust). Any defect raises :class:`CodecError`.
    """
    certificate = bytes(certificate)
    if len(certificate) != SAM_CERTIFICATE_SIZE:
        raise CodecError(f"SAM certificate is {len(certificate)} bytes, expected {SAM_CERTIFICATE_SIZE}")
    key: Sm2PublicKey | None = None
    try:
        key = Sm2PublicKey.from_bytes(certificate[:_CERT_KEY_LENGTH])
        if check_self_signature:
            key.verify(certificate[_CERT_BODY_LENGTH:], certificate[:_CERT_BODY_LENGTH])
    except CryptoError:
        key = None
    if key is None:
        raise CodecError("SAM certificate holds no valid SM2 public key or signature")
    return key


_CERT_KEY_LENGTH = 65
_CERT_BODY_LENGTH = 126
_CERT_HEADER = bytes([0x01, 0x02])  # format version 01, type 02 = SAM


def encode_sam_certificate(
    public_key: Sm2PublicKey, sign: Callable[[bytes], bytes], *, sam_serial: bytes = bytes(10)
) -> bytes:
    """A 190-byte SAM certificate area (structure above) for a SAM that has no DF01/001C, e.g.
    :class:`~cardservice.keys.SoftwareSam`; *sign* is that SAM's ``sm2_sign`` (PIN verified).
    Issuer ID and validity are left 00 (unknown to a software SAM)."""
    if len(sam_serial) != 10:
        raise CodecError("the SAM serial number is 10 bytes")
    body = public_key.to_bytes() + _CERT_HEADER + bytes(sam_serial) + bytes(8 + 4 + 4 + 33)
    return body + sign(body)


class ApduSam:
    """A :class:`~cardservice.keys.Sam` reached through APDUs (a PC/SC PSAM slot or the virtual PSAM).

    *card* is a :class:`~cardservice.transport.Transport` (its ``transmit`` is used) or a bare
    ``transmit(bytes) -> bytes`` callable. The SAM application DF01 is selected once, lazily; the
    SAM's public key is read from DF01/001C once and cached (*public_key* overrides it).
    """

    __slots__ = ("_certificate", "_exchange", "_public_key", "_selected")

    def __init__(
        self,
        card: Any,
        *,
        tracer: ApduTracer | None = None,
        public_key: Sm2PublicKey | None = None,
    ) -> None:
        transmit: Callable[[bytes], bytes] = card.transmit if hasattr(card, "transmit") else card
        self._exchange: Callable[[CommandApdu], ResponseApdu] = partial(transceive, transmit, tracer=tracer)
        self._selected = False
        self._public_key = public_key
        self._certificate: bytes | None = None

    def __repr__(self) -> str:
        return "ApduSam(<hidden>)"

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, command: CommandApdu) -> bytes:
        try:
            return self._exchange(command).check().data
        except TransportError:
            # A reset or lost SAM is back at its MF with no PIN verified and no session key.
            self._selected = False
            raise

    def _ensure_application(self) -> None:
        if self._selected:
            return
        self._send(select_by_fid(0x3F00))
        self._send(select_by_fid(SAM_APPLICATION_FID))
        self._selected = True

    def reset(self) -> None:
        """Forget the selection (after the SAM was reset or powered down)."""
        self._selected = False

    def _proprietary(self, ins: int, p1: int, p2: int, data: bytes, expected: int | None = None) -> bytes:
        if not 1 <= len(data) <= _MAX_LC:
            raise CodecError(f"SAM command data of {len(data)} bytes does not fit a short APDU")
        self._ensure_application()
        answer = self._send(CommandApdu(_CLA_PROPRIETARY, ins, p1, p2, data))
        if expected is not None and len(answer) != expected:
            raise CodecError(f"SAM answered {len(answer)} bytes, expected {expected}")
        return answer

    # -- the Sam protocol -------------------------------------------------------------------

    def verify_pin(self, pin: str) -> None:
        """``00 20 00 00 Lc PIN``: 63Cx -> VerificationFailedError (tries_left), 6983 blocked."""
        data = encode_pin(pin)
        self._ensure_application()
        self._send(CommandApdu(0x00, 0x20, 0x00, 0x00, data))

    def derive_session_key(self, key_id: str, factors: Sequence[bytes], challenge: bytes) -> None:
        """``80 DE <sam_p1> <sam_index> Lc factors ‖ challenge``; refuses a factor count that does
        not match the key's diversification depth before any APDU (a wrong key burns card tries)."""
        key = health_key(key_id)
        checked = [bytes(f) for f in factors]
        if len(checked) != key.levels or any(len(f) != 8 for f in checked):
            raise CodecError(f"{key.name} needs {key.levels} diversification factor(s) of 8 bytes")
        if len(challenge) != 8:
            raise CodecError("the card challenge must be 8 bytes")
        self._proprietary(_INS_DERIVE, key.sam_p1, key.sam_index, b"".join(checked) + bytes(challenge))

    def verify_card_cryptogram(
        self, key_id: str, factors: Sequence[bytes], message: bytes, cryptogram: bytes
    ) -> bool:
        """``80 FC <sam_p1> <sam_index> Lc factors ‖ message ‖ cryptogram``: ``9000`` → True,
        ``6300`` → False. Wrong factors or lengths are refused before any APDU."""
        key = health_key(key_id)
        checked = [bytes(f) for f in factors]
        if len(checked) != key.levels or any(len(f) != 8 for f in checked):
            raise CodecError(f"{key.name} needs {key.levels} diversification factor(s) of 8 bytes")
        if not message or len(message) % _BLOCK or len(cryptogram) != len(message):
            raise CodecError("message and cryptogram must be the same whole 16-byte blocks")
        data = b"".join(checked) + bytes(message) + bytes(cryptogram)
        try:
            self._proprietary(_INS_VERIFY_CARD, key.sam_p1, key.sam_index, data, 0)
        except WarningStatusError as exc:
            if exc.sw == _SW_NO_MATCH:
                return False
            raise
        return True

    def encrypt(self, data: bytes) -> bytes:
        """``80 FA 00 00``: SM4-ECB in chunks of whole blocks (ECB allows splitting)."""
        data = bytes(data)
        if not data or len(data) % _BLOCK:
            raise CodecError("data to encrypt must be whole 16-byte blocks")
        out = bytearray()
        for start in range(0, len(data), _ENCRYPT_CHUNK):
            chunk = data[start : start + _ENCRYPT_CHUNK]
            out += self._proprietary(_INS_CIPHER, _P1_ENCRYPT, 0x00, chunk, len(chunk))
        return bytes(out)

    def mac(self, data: bytes, *, iv: bytes = bytes(_BLOCK)) -> bytes:
        """``80 FA 05 00 Lc IV ‖ data`` -> 4 bytes. One command: at most 239 bytes of data."""
        if len(iv) != _BLOCK:
            raise CodecError("MAC IV must be 16 bytes")
        return self._proprietary(_INS_CIPHER, _P1_MAC, 0x00, bytes(iv) + bytes(data), _MAC_LENGTH)

    def sm3_digest(self, data: bytes) -> bytes:
        """``80 F6 P1 00 Lc data`` -> 32 bytes (project-defined). One command (P1 ``00``) up to 255
        bytes; longer messages are chained over T=0: P1 ``01`` first part, ``03`` further parts
        (no answer data), ``02`` last part -> the digest of all parts."""
        data = bytes(data)
        if len(data) <= _MAX_LC:
            if not data:  # an empty message: case 1 command
                self._ensure_application()
                return self._expect(self._send(CommandApdu(_CLA_PROPRIETARY, _INS_SM3, _SM3_SINGLE, 0)))
            return self._proprietary(_INS_SM3, _SM3_SINGLE, 0x00, data, _DIGEST_LENGTH)
        parts = [data[i : i + _MAX_LC] for i in range(0, len(data), _MAX_LC)]
        self._proprietary(_INS_SM3, _SM3_FIRST, 0x00, parts[0])
        for part in parts[1:-1]:
            self._proprietary(_INS_SM3, _SM3_NEXT, 0x00, part)
        return self._proprietary(_INS_SM3, _SM3_LAST, 0x00, parts[-1], _DIGEST_LENGTH)

    @staticmethod
    def _expect(answer: bytes, length: int = _DIGEST_LENGTH) -> bytes:
        if len(answer) != length:
            raise CodecError(f"SAM answered {len(answer)} bytes, expected {length}")
        return answer

    def sm2_sign(self, data: bytes, *, user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
        """``80 F8 00 00 20 e`` with e = SM3(Z ‖ data) computed here from the SAM's public key."""
        e = self.sm2_public_key().digest(bytes(data), user_id=user_id)
        return self._proprietary(_INS_SM2_SIGN, 0x00, 0x00, e, _SIGNATURE_LENGTH)

    def certificate(self) -> bytes:
        """The 190-byte SAM certificate, DF01/001C (read once)."""
        if self._certificate is None:
            self._ensure_application()
            self._send(select_by_fid(SAM_CERTIFICATE_FID))
            raw = self._send(read_binary(0, SAM_CERTIFICATE_SIZE))
            if len(raw) != SAM_CERTIFICATE_SIZE:
                raise CodecError(f"SAM certificate is {len(raw)} bytes, expected {SAM_CERTIFICATE_SIZE}")
            self._certificate = raw
        return self._certificate

    def sm2_public_key(self) -> Sm2PublicKey:
        if self._public_key is None:
            self._public_key = sam_certificate_public_key(self.certificate())
        return self._public_key
