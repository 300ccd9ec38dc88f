"""Mapping library exceptions to the one opaque :class:`~cardservice.errors.CryptoError`.

``raise CryptoError() from None`` hides the library exception from printed tracebacks, but the
original exception object is still reachable as ``__context__`` (and its frames' locals hold the key
bytes). :func:`opaque` therefore raises the fresh ``CryptoError`` *after* the ``except`` block has
finished, so the new exception has no ``__context__`` and no ``__cause__`` at all.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from cardservice.errors import CryptoError

__all__ = ["LIBRARY_ERRORS", "opaque"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _library_errors() -> tuple[type[BaseException], ...]:
    from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
    from tongsuopy.crypto import exceptions as tongsuo_exceptions

    return (
        ValueError,
        TypeError,
        OverflowError,
        InvalidSignature,
        InvalidTag,
        UnsupportedAlgorithm,
        tongsuo_exceptions.InvalidSignature,
        tongsuo_exceptions.UnsupportedAlgorithm,
        tongsuo_exceptions.InternalError,
    )


#: Exceptions the primitive libraries raise for bad keys, data or signatures.
LIBRARY_ERRORS: tuple[type[BaseException], ...] = _library_errors()


def opaque(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn every library error (and every ``CryptoError``) raised by *function* into a fresh,
    context-free ``CryptoError`` carrying the message of the inner ``CryptoError`` if there was one
    (our own messages never contain key material) or the default opaque message."""

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        message: str | None = None
        try:
            return function(*args, **kwargs)
        except CryptoError as error:
            message = str(error)
        except LIBRARY_ERRORS:
            message = None
        # Raised outside the except blocks on purpose: no __context__ links back to the
        # library exception or to the frames that held key material.
        raise CryptoError() if message is None else CryptoError(message)

    return wrapper
