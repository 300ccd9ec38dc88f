"""The acquirer link's errors (drawn in :mod:`cardservice.acquiring`).

The split follows what the caller must do next: a malformed or unauthenticated answer is not an approval
(reverse if a sale may have been approved), nothing sent means nothing to undo, sent without an answer
means the host may have approved it (reverse). Messages never contain a PAN, track 2, PIN block or key.
"""

from __future__ import annotations

from cardservice.errors import CardserviceError

__all__ = ["AcquirerError", "AcquirerTimeout", "AcquirerUnavailable", "Iso8583Error", "MacError"]


class AcquirerError(CardserviceError):
    """Root of the acquirer link's errors."""


class Iso8583Error(AcquirerError):
    """A frame or field that does not follow the spec (never an IndexError or a library's own error)."""


class MacError(Iso8583Error):
    """Field 64 missing or wrong: the message is not authentic, whatever its response code says."""


class AcquirerUnavailable(AcquirerError):
    """Nothing was sent: the connection could not be opened (refused, unreachable, connect timeout)."""


class AcquirerTimeout(AcquirerError):
    """The request went out and no whole answer came: the host may have acted on it (reverse a sale)."""
