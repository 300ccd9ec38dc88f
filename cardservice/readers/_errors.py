"""What the daemon's card side reports when a card operation fails: a :class:`ServiceError` with a stable
code, from a table keyed by exception class and looked up along the exception's class hierarchy.

The codes are the API's error codes (``card_removed``, ``auth_failed``, ...): the HTTP layer maps each
to a status and a Chinese message; nothing above this module inspects PC/SC or status words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from cardservice.errors import (
    AuthenticationBlockedError,
    CardAbsentError,
    CardError,
    CardResetError,
    CardUnresponsiveError,
    CodecError,
    CryptoError,
    NoReaderError,
    NotFoundError,
    SecurityNotSatisfiedError,
    ServiceError,
    ServiceUnavailableError,
    SharingViolationError,
    StatusWordError,
    VerificationFailedError,
    lookup,
)
from cardservice.healthcard import CardNotGenuineError

__all__ = ["CARD_ERROR_CODES", "ServiceError", "classify"]

_MAY_BE_INCOMPLETE = " The write may be incomplete: insert the card again and read it back."


def _sw(exc: BaseException) -> dict[str, Any]:
    return {"sw": f"{exc.sw:04X}"} if isinstance(exc, StatusWordError) else {}


def _refused_sw(exc: BaseException) -> dict[str, Any]:
    """The status word the card refused INTERNAL AUTHENTICATE with, if it did (a wrong answer has none)."""
    sw = getattr(exc, "sw", None)
    return {"sw": f"{sw:04X}"} if isinstance(sw, int) else {}


# exception class -> (code, message, details of the exception, whether a lost write is possible)
_Entry = tuple[
    str, str | Callable[[BaseException], str], Callable[[BaseException], dict[str, Any]] | None, bool
]

CARD_ERROR_CODES: dict[type[BaseException], _Entry] = {
    ServiceUnavailableError: ("service_unavailable", "the PC/SC service (pcscd) is not running", None, False),
    NoReaderError: ("reader_not_found", "the reader went away", None, False),
    CardAbsentError: ("card_removed", "the card was removed.", None, True),
    CardUnresponsiveError: ("card_unresponsive", "the card did not answer.", None, True),
    CardResetError: (
        "card_reset",
        "another application reset the card twice during the operation",
        None,
        False,
    ),
    SharingViolationError: ("reader_busy", "another application holds the card exclusively", None, False),
    VerificationFailedError: (
        "auth_failed",
        "the card refused the terminal's key (wrong issuer keys?); not retried",
        lambda exc: {"tries_left": getattr(exc, "tries_left", 0)},
        False,
    ),
    AuthenticationBlockedError: (
        "auth_blocked",
        "the card's key is blocked (6983)",
        lambda exc: {"tries_left": 0},
        False,
    ),
    SecurityNotSatisfiedError: ("access_denied", "the card did not grant access (6982)", _sw, False),
    NotFoundError: ("card_unsupported", "the card lacks a file of the health application", _sw, False),
    StatusWordError: (
        "card_refused",
        lambda exc: f"the card refused a command ({getattr(exc, 'sw', 0):04X})",
        _sw,
        False,
    ),
    CardNotGenuineError: (
        "card_not_genuine",
        "the card did not prove it was issued with the issuer's keys (internal authentication failed)",
        _refused_sw,
        False,
    ),
    CryptoError: ("crypto_error", "a cryptographic check failed", None, False),
    CardError: ("card_error", str, None, False),
}


def classify(exc: BaseException, *, writing: bool = False) -> ServiceError:
    """The :class:`ServiceError` for an exception raised while talking to a card.

    *writing*: the operation changed the card, so a lost card means the write may be incomplete.
    """
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, CodecError | ValidationError):
        # Writing, a codec or model error is about the caller's values; reading, about what the card holds.
        return ServiceError("invalid_data" if writing else "invalid_card_data", str(exc))
    entry = lookup(CARD_ERROR_CODES, exc)
    if entry is None:
        return ServiceError("internal_error", "unexpected error in the card service")
    code, message, details, may_be_incomplete = entry
    text = message(exc) if callable(message) else message
    if writing and may_be_incomplete:
        text += _MAY_BE_INCOMPLETE
    return ServiceError(code, text, **(details(exc) if details else {}))
