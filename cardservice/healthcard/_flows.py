"""Sans-I/O flows of the health-card terminal: EXTERNAL AUTHENTICATE driven by a SAM, updates under
secure messaging (facts sheet §4.4-4.6; conventions in shared/spec/README.md), and INTERNAL
AUTHENTICATE, by which the card proves it is genuine (IRKDDF1, table 10-2; conventions below).

A flow is a generator in the style of httpx's ``Auth.auth_flow``. It yields either a
:class:`~cardservice.apdu.CommandApdu` for the *user card* or a :class:`SamCall` for the *SAM*, and
receives the card's :class:`~cardservice.apdu.ResponseApdu` or the SAM's bytes. It performs no I/O,
so one flow serves the PC/SC PSAM (:class:`~cardservice.healthcard.ApduSam`) and the software SAM
(:class:`~cardservice.keys.SoftwareSam`) alike; :func:`run` drives it::

    flow = external_authenticate(health_key("RK1DF03"), factors, DEFAULT_TERMINAL_DATA)
    run(flow, partial(transceive, transport.transmit), sam)

Rules every flow obeys:

* a failed EXTERNAL AUTHENTICATE is **never retried** — every failure burns a try on the citizen's
  card (facts sheet §4.4 warning): ``63Cx`` surfaces as ``VerificationFailedError`` (``tries_left``),
  ``6983`` as ``AuthenticationBlockedError``;
* inputs that would derive a wrong key (missing/malformed YYCSDM, wrong number of factors) are
  refused with :class:`CodecError` *before* the first APDU;
* a card that does not prove it is genuine raises :class:`CardNotGenuineError` (never retried).

INTERNAL AUTHENTICATE (the card proves it holds its IRK; the sources name the key, nothing else —
facts sheet §4.1, §4.3 "UNKNOWN", §9 item 4). The project's conventions, each changeable in one
place: the key reference and the SAM's index are HEALTH_KEYS' ``IRKDDF1`` row (card ref ``0B``, one
diversification level: the card factor), a deployment's card profile may name another reference;
how the card computes its answer is :data:`INTERNAL_AUTH_ALGORITHMS`, chosen per card profile:

==============  =========  ========================================================================
algorithm       challenge  the card's answer (K = the card's IRK; ECB with K's cipher, 16-byte block)
==============  =========  ========================================================================
``ecb-16``      16 bytes   E_K(challenge): one block — the default, and the virtual card's answer
``ecb-8-zero``  8 bytes    E_K(challenge ‖ 00..): PBOC style, zero-padded (the virtual card too)
``ecb-8-iso``   8 bytes    E_K(challenge ‖ 80 00..): ISO/IEC 9797-1 padding method 2
==============  =========  ========================================================================

All three are conventions: which one a real card uses is UNKNOWN until a card's trace shows it.

``00 88 00 <ref> Lc challenge 00`` → the card's answer → SAM ``80 FC`` (project-defined): the SAM
derives the card's IRK from the factors and compares E_IRK(message) with the answer in constant time.
The terminal never holds a key; the challenge is fresh randomness from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias, TypeVar

from cardservice.apdu import (
    CommandApdu,
    ResponseApdu,
    get_challenge,
    run_flow,
    update_binary,
    update_record,
)
from cardservice.apdu import (
    external_authenticate as external_authenticate_apdu,
)
from cardservice.apdu import (
    internal_authenticate as internal_authenticate_apdu,
)
from cardservice.errors import CodecError, CryptoError, StatusWordError
from cardservice.healthcard._dictionary import CardFile, UpdateSm
from cardservice.healthcard._keys import (
    CardFactorSource,
    HealthKey,
    KeyRole,
    card_factor,
    city_factor,
    health_key,
)
from cardservice.keys import Sam, fold, pad_iso9797_m2

__all__ = [
    "AUTH_TRAILER",
    "CHALLENGE_LENGTH",
    "DEFAULT_TERMINAL_DATA",
    "INTERNAL_AUTH_ALGORITHMS",
    "CardNotGenuineError",
    "HealthFlow",
    "InternalAuthAlgorithm",
    "InternalAuthScheme",
    "SamCall",
    "SamOperation",
    "external_authenticate",
    "factors_for",
    "internal_authenticate",
    "run",
    "secure_command",
    "secure_update_binary",
    "secure_update_record",
    "stk_for",
    "update_command",
]

T = TypeVar("T")

#: The card's GET CHALLENGE length (``00 84 00 00 08``, facts sheet §4.4).
CHALLENGE_LENGTH = 8
#: Terminal data of the vendor code and traces (facts sheet §4.5 step 4). Any 8 bytes work.
DEFAULT_TERMINAL_DATA = bytes.fromhex("1122334455667788")
#: Last byte of the EXTERNAL AUTHENTICATE data; its meaning is UNKNOWN (facts sheet §4.5).
AUTH_TRAILER = 0x01
_BLOCK = 16  # SM4 block size: SAM outputs and all padding are 16-byte based (facts sheet §4.7)
_MAC_LENGTH = 4
_SM_CLA_BIT = 0x04  # 00 -> 04 (proprietary SM), 80 -> 84 (facts sheet §4.6)


class SamOperation(StrEnum):
    DERIVE = "derive"  # 80 DE
    ENCRYPT = "encrypt"  # 80 FA 00 00
    MAC = "mac"  # 80 FA 05 00
    VERIFY_CARD = "verify-card"  # 80 FC (project-defined): check a card's INTERNAL AUTHENTICATE answer


class CardNotGenuineError(CryptoError):
    """The card did not prove it holds its issuer-diversified IRK: a wrong INTERNAL AUTHENTICATE
    answer, or a refusal (``sw``: e.g. 6A88 no such key, 6D00 no such command). Never retried."""

    def __init__(self, message: str, *, sw: int | None = None) -> None:
        super().__init__(message)
        self.sw = sw


class InternalAuthAlgorithm(StrEnum):
    """How the card answers INTERNAL AUTHENTICATE (module table; a card-profile option)."""

    ECB_16 = "ecb-16"
    ECB_8_ZERO = "ecb-8-zero"
    ECB_8_ISO = "ecb-8-iso"


@dataclass(frozen=True)
class InternalAuthScheme:
    """One row of :data:`INTERNAL_AUTH_ALGORITHMS`: the challenge length and how the card pads it."""

    challenge_length: int
    padding: bytes  # first byte of the padding up to the block, then 00 (b"" = none needed)
    confidence: str

    def message(self, challenge: bytes) -> bytes:
        """What the card encrypts: the challenge padded to a whole 16-byte block."""
        if not self.padding:
            return bytes(challenge)
        fill = -(len(challenge) + 1) % _BLOCK + 1
        return bytes(challenge) + self.padding + bytes(fill - len(self.padding))


#: The one table of INTERNAL AUTHENTICATE algorithms (module docstring). Change a convention here.
INTERNAL_AUTH_ALGORITHMS: dict[InternalAuthAlgorithm, InternalAuthScheme] = {
    InternalAuthAlgorithm.ECB_16: InternalAuthScheme(16, b"", "convention"),
    InternalAuthAlgorithm.ECB_8_ZERO: InternalAuthScheme(8, b"\x00", "convention"),
    InternalAuthAlgorithm.ECB_8_ISO: InternalAuthScheme(8, b"\x80", "convention"),
}


@dataclass(frozen=True)
class SamCall:
    """One request a flow makes of the SAM; :meth:`perform` carries it out on any :class:`Sam`.

    ``repr`` shows the operation and lengths only: the data may be personal data being enciphered.
    """

    operation: SamOperation
    key_id: str = ""
    factors: tuple[bytes, ...] = ()
    challenge: bytes = b""
    data: bytes = field(default=b"", repr=False)
    iv: bytes = field(default=bytes(_BLOCK), repr=False)
    cryptogram: bytes = field(default=b"", repr=False)

    @classmethod
    def derive(cls, key: HealthKey | str, factors: Sequence[bytes], challenge: bytes) -> SamCall:
        name = key if isinstance(key, str) else key.name
        return cls(SamOperation.DERIVE, key_id=name, factors=tuple(bytes(f) for f in factors),
                   challenge=bytes(challenge))  # fmt: skip

    @classmethod
    def encrypt(cls, data: bytes) -> SamCall:
        return cls(SamOperation.ENCRYPT, data=bytes(data))

    @classmethod
    def mac(cls, data: bytes, *, iv: bytes = bytes(_BLOCK)) -> SamCall:
        return cls(SamOperation.MAC, data=bytes(data), iv=bytes(iv))

    @classmethod
    def verify_card(
        cls, key: HealthKey, factors: Sequence[bytes], message: bytes, cryptogram: bytes
    ) -> SamCall:
        return cls(SamOperation.VERIFY_CARD, key_id=key.name, factors=tuple(bytes(f) for f in factors),
                   data=bytes(message), cryptogram=bytes(cryptogram))  # fmt: skip

    def perform(self, sam: Sam) -> bytes:
        """Run this request on *sam*; ``derive`` answers ``b""``, ``verify_card`` ``01`` (the card's
        answer is right) or ``00``."""
        if self.operation is SamOperation.DERIVE:
            sam.derive_session_key(self.key_id, list(self.factors), self.challenge)
            return b""
        if self.operation is SamOperation.ENCRYPT:
            return sam.encrypt(self.data)
        if self.operation is SamOperation.VERIFY_CARD:
            right = sam.verify_card_cryptogram(self.key_id, list(self.factors), self.data, self.cryptogram)
            return b"\x01" if right else b"\x00"
        return sam.mac(self.data, iv=self.iv)

    def __repr__(self) -> str:
        if self.operation in (SamOperation.DERIVE, SamOperation.VERIFY_CARD):
            return f"SamCall.{self.operation.name.lower()}({self.key_id!r}, {len(self.factors)} factor(s))"
        return f"SamCall.{self.operation.value}(<{len(self.data)} bytes>)"


HealthFlow: TypeAlias = Generator["CommandApdu | SamCall", "ResponseApdu | bytes", T]
"""A flow: yields card commands and SAM requests, receives card responses and SAM bytes."""


def run(flow: HealthFlow[T], card_exchange: Callable[[CommandApdu], ResponseApdu], sam: Sam) -> T:
    """Drive *flow*: card commands go to *card_exchange* (e.g. ``partial(transceive, transmit)``),
    SAM requests to *sam*. An exception from either is thrown into the flow at its ``yield``;
    unhandled, it propagates. The flow is always closed."""

    def exchange(request: CommandApdu | SamCall) -> ResponseApdu | bytes:
        return request.perform(sam) if isinstance(request, SamCall) else card_exchange(request)

    return run_flow(flow, exchange)


# -- factors ----------------------------------------------------------------------------------


def factors_for(
    key: HealthKey, atr: bytes, yycsdm: str | None, *, source: CardFactorSource = CardFactorSource.LAST_8
) -> list[bytes]:
    """The diversification factors of *key* for this card (facts sheet §4.4): ``[card factor]`` for
    one level, ``[card factor, city factor]`` for two. Refuses (CodecError) a missing or malformed
    YYCSDM for a two-level key: a wrong factor burns a try on the citizen's card."""
    factors = [card_factor(atr, source)]
    if key.levels == 2:
        if yycsdm is None:
            raise CodecError(f"{key.name} needs the city factor, but YYCSDM (city code) is missing")
        factors.append(city_factor(yycsdm))
    elif key.levels != 1:
        raise CodecError(f"{key.name}: unsupported diversification depth {key.levels}")
    return factors


def _check_factors(key: HealthKey, factors: Sequence[bytes]) -> tuple[bytes, ...]:
    checked = tuple(bytes(f) for f in factors)
    if len(checked) != key.levels or any(len(f) != 8 for f in checked):
        raise CodecError(f"{key.name} needs {key.levels} diversification factor(s) of 8 bytes each")
    return checked


def stk_for(df: str) -> HealthKey:
    """The secure-messaging key (STK) of the DF that holds a file (``"DF01"`` -> STKDF01)."""
    return health_key(f"STK{df}")


# -- card answers -----------------------------------------------------------------------------


def _card(answer: ResponseApdu | bytes) -> ResponseApdu:
    if not isinstance(answer, ResponseApdu):
        raise TypeError("flow expected a card response, got SAM bytes")
    return answer


def _sam(answer: ResponseApdu | bytes, length: int | None = None) -> bytes:
    if isinstance(answer, ResponseApdu):
        raise TypeError("flow expected SAM bytes, got a card response")
    if length is not None and len(answer) != length:
        raise CodecError(f"SAM answered {len(answer)} bytes, expected {length}")
    return bytes(answer)


def _challenge() -> HealthFlow[bytes]:
    response = _card((yield get_challenge(CHALLENGE_LENGTH))).check()
    if len(response.data) != CHALLENGE_LENGTH:
        raise CodecError(f"GET CHALLENGE answered {len(response.data)} bytes, expected {CHALLENGE_LENGTH}")
    return response.data


# -- EXTERNAL AUTHENTICATE (facts sheet §4.5) -------------------------------------------------


def external_authenticate(
    key: HealthKey, factors: Sequence[bytes], terminal_data: bytes = DEFAULT_TERMINAL_DATA
) -> HealthFlow[None]:
    """Obtain the right of *key* (an RK or UK) on the currently selected DF.

    RK: GET CHALLENGE R → SAM ``80 DE`` (factors ‖ R) → SAM ``80 FA`` (terminal data ‖ 00×8) →
    fold → ``00 82 00 <card ref> 11 cryptogram ‖ terminal data ‖ 01``.
    UK: two GET CHALLENGEs; the terminal data is the first challenge and the SAM derives with the
    second (the card's current one) — facts sheet §4.5, last paragraph.

    Sent once; a failure raises and is never retried.
    """
    if key.role not in (KeyRole.READ, KeyRole.UPDATE):
        raise CodecError(f"{key.name} is not an external-authentication key")
    checked = _check_factors(key, factors)
    if key.role is KeyRole.READ:
        if len(terminal_data) != 8:
            raise CodecError("terminal data must be 8 bytes")
        data = bytes(terminal_data)
        challenge = yield from _challenge()
    else:
        data = yield from _challenge()
        challenge = yield from _challenge()
    yield SamCall.derive(key, checked, challenge)
    block = _sam((yield SamCall.encrypt(data + bytes(8))), _BLOCK)
    cryptogram = fold(block)
    command = external_authenticate_apdu(cryptogram + data + bytes([AUTH_TRAILER]), key.card_ref)
    _card((yield command)).check()


# -- INTERNAL AUTHENTICATE: the card proves it is genuine (module docstring) ---------------------


def internal_authenticate(
    key: HealthKey,
    factors: Sequence[bytes],
    challenge: bytes,
    *,
    algorithm: InternalAuthAlgorithm = InternalAuthAlgorithm.ECB_16,
    card_ref: int | None = None,
) -> HealthFlow[None]:
    """Make the card prove it holds *key* (IRKDDF1) diversified for it: ``00 88 00 <ref> Lc
    challenge 00`` → the card's answer → SAM ``80 FC`` compares it with E_IRK(message). *challenge*
    must be fresh randomness of the algorithm's length; *card_ref* overrides the key's reference.

    A refusal by the card (any status word), an answer of the wrong length or a "no" from the SAM
    raises :class:`CardNotGenuineError`; a SAM failure propagates as it is. Sent once.
    """
    if key.role is not KeyRole.INTERNAL_AUTH:
        raise CodecError(f"{key.name} is not an internal-authentication key")
    checked = _check_factors(key, factors)
    scheme = INTERNAL_AUTH_ALGORITHMS[InternalAuthAlgorithm(algorithm)]
    if len(challenge) != scheme.challenge_length:
        raise CodecError(f"{algorithm} needs a challenge of {scheme.challenge_length} bytes")
    message = scheme.message(challenge)
    command = internal_authenticate_apdu(bytes(challenge), key.card_ref if card_ref is None else card_ref)
    try:
        answer = _card((yield command)).check().data
    except StatusWordError as exc:
        refusal = f"the card refused INTERNAL AUTHENTICATE ({exc.sw:04X})"
        raise CardNotGenuineError(refusal, sw=exc.sw) from None
    if len(answer) != len(message):
        raise CardNotGenuineError(f"the card answered INTERNAL AUTHENTICATE with {len(answer)} bytes")
    if _sam((yield SamCall.verify_card(key, checked, message, answer)), 1) != b"\x01":
        raise CardNotGenuineError("the card's INTERNAL AUTHENTICATE answer is not its issuer's")


# -- secure messaging (facts sheet §4.6) -------------------------------------------------------


def secure_command(
    command: CommandApdu, stk: HealthKey, factors: Sequence[bytes], *, encrypt: bool
) -> HealthFlow[None]:
    """Send *command* (a plain UPDATE RECORD / UPDATE BINARY / APPEND RECORD) under secure messaging:

    fresh challenge → SAM derives the STK session key → (if *encrypt*) data = SAM-encrypted
    ``len ‖ data`` padded ``80 00..`` → MAC over ``CLA' INS P1 P2 Lc' ‖ data`` with a zero IV
    (CLA' with the SM bit, Lc' counting the 4 MAC bytes) → ``CLA' INS P1 P2 Lc' data ‖ MAC``.
    """
    if stk.role is not KeyRole.SECURE_MESSAGING:
        raise CodecError(f"{stk.name} is not a secure-messaging key")
    checked = _check_factors(stk, factors)
    plain = command.data
    if encrypt and not 1 <= len(plain) <= 0xFF:
        raise CodecError("enciphered data must be 1..255 bytes (1-byte length prefix)")
    challenge = yield from _challenge()
    yield SamCall.derive(stk, checked, challenge)
    if encrypt:
        padded = pad_iso9797_m2(bytes([len(plain)]) + plain, _BLOCK)
        body = _sam((yield SamCall.encrypt(padded)), len(padded))
    else:
        body = plain
    lc = len(body) + _MAC_LENGTH
    if lc > 0xFF:
        raise CodecError(f"secured command data of {lc} bytes does not fit a short APDU")
    cla = command.cla | _SM_CLA_BIT
    header = bytes((cla, command.ins, command.p1, command.p2, lc))
    mac = _sam((yield SamCall.mac(header + body)), _MAC_LENGTH)
    _card((yield CommandApdu(cla, command.ins, command.p1, command.p2, body + mac))).check()


def secure_update_record(
    number: int, record: bytes, stk: HealthKey, factors: Sequence[bytes], *, encrypt: bool = True
) -> HealthFlow[None]:
    """UPDATE RECORD *number* (P2 = 04) under SM: ``04 DC <rec> 04 Lc data ‖ MAC``."""
    return secure_command(update_record(number, record), stk, factors, encrypt=encrypt)


def secure_update_binary(
    offset: int, data: bytes, stk: HealthKey, factors: Sequence[bytes], *, encrypt: bool = False
) -> HealthFlow[None]:
    """UPDATE BINARY at *offset* under SM: ``04 D6 P1 P2 Lc data ‖ MAC``."""
    return secure_command(update_binary(offset, data), stk, factors, encrypt=encrypt)


def update_command(
    file: CardFile, command: CommandApdu, factors_of: Callable[[HealthKey], Sequence[bytes]]
) -> HealthFlow[None]:
    """Send an update *command* to *file* with the secure messaging the dictionary asks for
    (``CardFile.update_sm``): plain, MAC, or cipher+MAC with the STK of the file's DF.
    *factors_of* gives a key's factors (only called when SM is needed)."""
    mode = file.update_sm
    if mode is UpdateSm.PLAIN:
        _card((yield command)).check()
        return
    if mode not in (UpdateSm.MAC, UpdateSm.ENC_MAC):
        raise CodecError(f"{file.path} cannot be updated ({mode.value})")
    stk = stk_for(_df_of(file))
    yield from secure_command(command, stk, factors_of(stk), encrypt=mode is UpdateSm.ENC_MAC)


def _df_of(file: CardFile) -> str:
    """``"DDF1/DF01/EF05"`` -> ``"DF01"``; ``"DDF1/EF08"`` -> ``"DDF1"``."""
    return file.parent.rpartition("/")[2]
