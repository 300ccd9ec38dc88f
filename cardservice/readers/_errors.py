"""One failure type for everything the daemon's card side can report, with a stable machine code.

The codes are the API's error codes (``card_removed``, ``auth_failed``, ...): the HTTP layer maps each
to a status and a Chinese/English message; nothing above this module inspects PC/SC or status words.
"""

from __future__ import annotations

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
    ServiceUnavailableError,
    SharingViolationError,
    StatusWordError,
    VerificationFailedError,
)

__all__ = ["ServiceError", "classify"]


class ServiceError(Exception):
    """A failure with a stable ``code`` and machine-readable ``details`` (never personal data)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"ServiceError({self.code!r}, {self.message!r})"


def classify(exc: BaseException, *, writing: bool = False) -> ServiceError:
    """The :class:`ServiceError` for a library exception raised while talking to a card.

    *writing*: the operation changed the card, so a lost card means the write may be incomplete.
    """
    if isinstance(exc, ServiceError):
        return exc
    unknown_outcome = (
        " The write may be incomplete: insert the card again and read it back." if writing else ""
    )
    if isinstance(exc, ServiceUnavailableError):
        return ServiceError("service_unavailable", "the PC/SC service (pcscd) is not running")
    if isinstance(exc, NoReaderError):
        return ServiceError("reader_not_found", "the reader went away")
    if isinstance(exc, CardAbsentError):
        return ServiceError("card_removed", "the card was removed." + unknown_outcome)
    if isinstance(exc, CardUnresponsiveError):
        return ServiceError("card_unresponsive", "the card did not answer." + unknown_outcome)
    if isinstance(exc, CardResetError):
        return ServiceError("card_reset", "another application reset the card twice during the operation")
    if isinstance(exc, SharingViolationError):
        return ServiceError("reader_busy", "another application holds the card exclusively")
    if isinstance(exc, VerificationFailedError):
        return ServiceError(
            "auth_failed",
            "the card refused the terminal's key (wrong issuer keys?); not retried",
            tries_left=exc.tries_left,
        )
    if isinstance(exc, AuthenticationBlockedError):
        return ServiceError("auth_blocked", "the card's key is blocked (6983)", tries_left=0)
    if isinstance(exc, SecurityNotSatisfiedError):
        return ServiceError("access_denied", "the card did not grant access (6982)", sw="6982")
    if isinstance(exc, NotFoundError):
        return ServiceError(
            "card_unsupported", "the card lacks a file of the health application", sw=f"{exc.sw:04X}"
        )
    if isinstance(exc, StatusWordError):
        return ServiceError("card_refused", f"the card refused a command ({exc.sw:04X})", sw=f"{exc.sw:04X}")
    if isinstance(exc, CodecError | ValidationError):
        # Writing, a codec or model error is about the caller's values; reading, about what the card holds.
        return ServiceError("invalid_data" if writing else "invalid_card_data", str(exc))
    if isinstance(exc, CryptoError):
        return ServiceError("crypto_error", "a cryptographic check failed")
    if isinstance(exc, CardError):
        return ServiceError("card_error", str(exc))
    return ServiceError("internal_error", "unexpected error in the card service")
