"""SAMs as the reader manager shares them: a PSAM in a reader of some backend, or a software SAM over an
issuer key store, given to one card operation at a time (:meth:`SamLink.hold`)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from cardservice.errors import (
    AuthenticationBlockedError,
    ServiceError,
    TransportError,
    VerificationFailedError,
)
from cardservice.healthcard import ApduSam
from cardservice.keys import Sam, SoftwareSam
from cardservice.readers._backend import ReaderBackend
from cardservice.readers._views import reader_id
from cardservice.transport import Transport

__all__ = ["SamLink", "SamProxy"]


class SamProxy:
    """The :class:`Sam` a card session holds: forwards to whichever SAM object is current (a PSAM's
    object is rebuilt after it was reset or re-inserted)."""

    def __init__(self) -> None:
        self.target: Sam | None = None

    def __getattr__(self, name: str) -> Any:
        target = self.__dict__.get("target")
        if target is None:
            raise ServiceError("sam_unavailable", "no SAM is held for this operation")
        return getattr(target, name)

    def __repr__(self) -> str:
        return "SamProxy(<hidden>)"


class SamLink:
    """A SAM shared by card readers: a PSAM in a PC/SC reader, or a software SAM over a key store.

    :meth:`hold` gives the SAM to one operation at a time, inside a PC/SC transaction on the SAM, and
    verifies the SAM PIN first when one is configured (again after any reset of the SAM).
    """

    def __init__(
        self,
        name: str,
        *,
        backend: ReaderBackend | None = None,
        software: SoftwareSam | None = None,
        pin: str | None = None,
    ) -> None:
        if (backend is None) == (software is None):
            raise ValueError("a SAM link is either a PSAM reader (backend) or a software SAM")
        self.name = name
        self._backend = backend
        self._software = software
        self._pin = pin
        self._lock = threading.RLock()
        self._transport: Transport | None = None
        self._sam: Sam | None = software
        self._pin_verified = False
        self.present = software is not None
        self.atr = b""
        self.problem: ServiceError | None = None

    @property
    def kind(self) -> str:
        return "keystore" if self._software is not None else "psam"

    def card_changed(self, present: bool, atr: bytes) -> None:
        """Called by the monitor: the SAM reader's card came or went."""
        with self._lock:
            self.present, self.atr = present, atr
            self.problem = None
            self._drop()

    def _drop(self) -> None:
        if self._transport is not None:
            with contextlib.suppress(TransportError):
                self._transport.disconnect()
        self._transport = None
        if self._software is None:
            self._sam = None
        self._pin_verified = False

    @contextlib.contextmanager
    def hold(self) -> Iterator[Sam]:
        with self._lock:
            if not self.present:
                raise ServiceError(
                    "sam_unavailable", f"no SAM in reader {self.name!r}", sam=reader_id(self.name)
                )
            transaction: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
            try:
                if self._software is None:
                    assert self._backend is not None
                    if self._transport is None:
                        self._transport = self._backend.open(self.name)
                        self._sam = ApduSam(self._transport)
                        self._pin_verified = False
                    transaction = self._transport.transaction()
                with transaction:
                    assert self._sam is not None
                    if self._pin is not None and not self._pin_verified:
                        self._verify_pin(self._sam)
                    yield self._sam
            except TransportError:
                self._drop()  # a reset or pulled SAM: reconnect and re-verify next time
                raise

    def _verify_pin(self, sam: Sam) -> None:
        assert self._pin is not None
        try:
            sam.verify_pin(self._pin)
        except VerificationFailedError as exc:
            self.problem = ServiceError(
                "sam_pin_refused", "the SAM refused the configured PIN", tries_left=exc.tries_left
            )
            self._pin = None  # never burn a second try with the same wrong PIN
            raise self.problem from None
        except AuthenticationBlockedError:
            self.problem = ServiceError("sam_blocked", "the SAM PIN is blocked")
            self._pin = None
            raise self.problem from None
        self._pin_verified = True
