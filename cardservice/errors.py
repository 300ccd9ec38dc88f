"""The one exception tree of cardservice.

Every error the library raises on purpose derives from :class:`CardserviceError`, so a caller can
catch one thing. Third-party errors (pyscard, cryptography, SQLAlchemy, OS) are mapped at the boundary
with ``raise ... from``::

    CardserviceError
    ├── CardError                      the card chain: readers, transports, the card's answers
    │   ├── TransportError                 reader / connection level, no status word
    │   │   ├── NoReaderError              the named reader does not exist (or went away)
    │   │   ├── CardAbsentError            no card in the reader, or it was pulled
    │   │   ├── CardResetError             someone else reset the card: security state is gone
    │   │   ├── SharingViolationError      another application holds the card exclusively
    │   │   ├── CardUnresponsiveError      the card did not answer (mute, timeout)
    │   │   └── ServiceUnavailableError    the PC/SC service (pcscd) is not running
    │   ├── StatusWordError                the card answered with a non-success SW (carries sw, data)
    │   │   ├── WarningStatusError                    62xx, 63xx (but 63Cx)
    │   │   ├── VerificationFailedError               63Cx: wrong key/PIN, ``tries_left`` = x
    │   │   ├── ExecutionError                        64xx, 65xx, 66xx
    │   │   ├── WrongLengthError                      67xx, 6Cxx
    │   │   ├── ClassFunctionError                    68xx
    │   │   ├── CommandNotAllowedError                69xx
    │   │   │   ├── SecurityNotSatisfiedError         6982
    │   │   │   ├── AuthenticationBlockedError        6983
    │   │   │   └── ConditionsNotSatisfiedError       6985
    │   │   ├── WrongParametersError                  6Axx, 6Bxx
    │   │   │   └── NotFoundError                     6A82 file/application, 6A83 record
    │   │   ├── InstructionNotSupportedError          6D00
    │   │   ├── ClassNotSupportedError                6E00
    │   │   └── UnknownStatusError                    anything else (6Fxx, proprietary)
    │   ├── CodecError                     malformed APDU, TLV, FCI or data item
    │   └── CryptoError                    any cryptographic failure; one opaque message
    ├── CodedError                     a stable ``code`` (the API's), ``message_zh``, ``details``
    │   ├── ServiceError               the daemon's card side; ``code`` per instance (card_removed, ...)
    │   ├── IdempotencyConflict        a request key reused for another request
    │   ├── HisError ...               cardservice.his: HIS unavailable, slot full, not found, ...
    │   ├── PaymentError ...           cardservice.payments: rejected, insufficient funds, ...
    │   └── PrintError ...             cardservice.printing: printer problems, queue refusals
    ├── StoreError                     the database cannot be used (cardservice.store)
    └── ConfigError                    the configuration is unusable (cardservice.daemon)

The SW -> class mapping is a declarative table in :mod:`cardservice.apdu`. Going the other way, an
exception becomes a code through tables keyed by exception class, looked up along the exception's
class hierarchy (:func:`lookup`): the card side's in :mod:`cardservice.readers`, the API's in
:mod:`cardservice.api`. Each service package draws its own subtree in its docstring.
Messages never contain key material, PINs or personal data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

__all__ = [
    "AuthenticationBlockedError",
    "CardAbsentError",
    "CardError",
    "CardResetError",
    "CardUnresponsiveError",
    "CardserviceError",
    "ClassFunctionError",
    "ClassNotSupportedError",
    "CodecError",
    "CodedError",
    "CommandNotAllowedError",
    "ConditionsNotSatisfiedError",
    "CryptoError",
    "ExecutionError",
    "IdempotencyConflict",
    "InstructionNotSupportedError",
    "NoReaderError",
    "NotFoundError",
    "SecurityNotSatisfiedError",
    "ServiceError",
    "ServiceUnavailableError",
    "SharingViolationError",
    "StatusWordError",
    "TransportError",
    "UnknownStatusError",
    "VerificationFailedError",
    "WarningStatusError",
    "WrongLengthError",
    "WrongParametersError",
    "lookup",
]

_V = TypeVar("_V")


class CardserviceError(Exception):
    """Root of every error cardservice raises on purpose."""


class CardError(CardserviceError):
    """The card chain failed: a reader, a transport, the card itself, or the bytes it answered."""


class TransportError(CardError):
    """The reader or the connection failed; the card gave no status word."""


class NoReaderError(TransportError):
    """The named reader does not exist or was unplugged."""


class CardAbsentError(TransportError):
    """No card in the reader, or the card was removed during the exchange."""


class CardResetError(TransportError):
    """Another application reset the card; the connection was re-established but the card's
    current DF and security state are lost, so the caller must select and authenticate again."""


class SharingViolationError(TransportError):
    """Another application holds the card in exclusive mode."""


class CardUnresponsiveError(TransportError):
    """The card did not answer (mute card, timeout, failed reset)."""


class ServiceUnavailableError(TransportError):
    """The PC/SC service is not running or not reachable."""


class StatusWordError(CardError):
    """The card answered with a status word other than success.

    ``sw`` is the 16-bit status word, ``data`` the response data that came with it
    (usually empty). ``description`` is the standard's meaning of the status word.
    """

    def __init__(self, sw: int, data: bytes = b"", description: str = "") -> None:
        self.sw = sw
        self.data = bytes(data)
        self.description = description
        text = f"SW {sw:04X}"
        super().__init__(f"{text}: {description}" if description else text)

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF


class WarningStatusError(StatusWordError):
    """62xx / 63xx: the command completed with a warning (state of NVM unchanged or changed)."""


class VerificationFailedError(StatusWordError):
    """63Cx: verification (key or PIN) failed; ``tries_left`` attempts remain."""

    @property
    def tries_left(self) -> int:
        return self.sw & 0x0F


class ExecutionError(StatusWordError):
    """64xx / 65xx / 66xx: execution error (memory failure, security-related)."""


class WrongLengthError(StatusWordError):
    """67xx / 6Cxx: wrong Lc or Le."""


class ClassFunctionError(StatusWordError):
    """68xx: a function requested in CLA is not supported (logical channel, secure messaging)."""


class CommandNotAllowedError(StatusWordError):
    """69xx: command not allowed in the current state."""


class SecurityNotSatisfiedError(CommandNotAllowedError):
    """6982: security status not satisfied (authenticate first)."""


class AuthenticationBlockedError(CommandNotAllowedError):
    """6983: the key or PIN is blocked; no tries left."""


class ConditionsNotSatisfiedError(CommandNotAllowedError):
    """6985: conditions of use not satisfied (e.g. no challenge requested first)."""


class WrongParametersError(StatusWordError):
    """6Axx / 6Bxx: wrong parameters P1-P2 or data field."""


class NotFoundError(WrongParametersError):
    """6A82 file or application not found, 6A83 record not found."""


class InstructionNotSupportedError(StatusWordError):
    """6D00: instruction code not supported or invalid."""


class ClassNotSupportedError(StatusWordError):
    """6E00: class not supported."""


class UnknownStatusError(StatusWordError):
    """A status word outside the known table (6Fxx, proprietary)."""


class CodecError(CardError, ValueError):
    """Malformed bytes: an APDU, TLV, FCI or data item that cannot be decoded or encoded."""


class CryptoError(CardError):
    """A cryptographic operation failed. Deliberately says nothing about keys or data."""

    def __init__(self, message: str = "cryptographic operation failed") -> None:
        super().__init__(message)


class CodedError(CardserviceError):
    """An error with a stable ``code`` (API clients rely on it), the ``message_zh`` a kiosk shows, and
    ``details`` that carry facts (never personal data). Subclasses set ``code`` and ``default_zh``."""

    code: str = "error"
    default_zh: ClassVar[str] = "处理失败"

    def __init__(
        self, message: str, *, message_zh: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh or self.default_zh
        self.details: dict[str, Any] = dict(details or {})


class ServiceError(CodedError):
    """A failure of the daemon's card side (or of a request to it) whose ``code`` is given per instance:
    the API's codes (``card_removed``, ``auth_failed``, ``sam_unavailable``, ...)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message, details=details)
        self.code = code

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r})"


class IdempotencyConflict(CodedError):
    """An idempotency key was used before, by the same client, for another request."""

    code = "idempotency_conflict"
    default_zh = "请求标识已用于其他请求"


def lookup(table: Mapping[type[BaseException], _V], exc: BaseException) -> _V | None:
    """The value *table* gives the nearest class of *exc*'s hierarchy (its method resolution order), or
    ``None``: a table of a few base classes covers every subclass, and a subclass listed as well wins."""
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None
