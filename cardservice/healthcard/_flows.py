"""Sans-I/O flows of the health-card terminal: EXTERNAL AUTHENTICATE driven by a SAM, and updates
under secure messaging (facts sheet §4.4-4.6; conventions in shared/spec/README.md).

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
  refused with :class:`CodecError` *before* the first APDU.
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
from cardservice.errors import CodecError
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
    "HealthFlow",
    "SamCall",
    "SamOperation",
    "external_authenticate",
    "factors_for",
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

    def perform(self, sam: Sam) -> bytes:
        """Run this request on *sam*; ``derive`` answers ``b""``."""
        if self.operation is SamOperation.DERIVE:
            sam.derive_session_key(self.key_id, list(self.factors), self.challenge)
            return b""
        if self.operation is SamOperation.ENCRYPT:
            return sam.encrypt(self.data)
        return sam.mac(self.data, iv=self.iv)

    def __repr__(self) -> str:
        if self.operation is SamOperation.DERIVE:
            return f"SamCall.derive({self.key_id!r}, {len(self.factors)} factor(s))"
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
