"""What an interactive payment method needs from the request that started it: the reader the payer's card
is in, a way to show progress, and a way to be told to stop.

``bankcard`` (the chip's bank application: insert card, PIN on the pad, remove card) and ``qrcode`` (a code
the payer's phone scans) keep the patient in front of the kiosk for the whole charge. The
:class:`~cardservice.payments.PaymentMethod` protocol stays as it is — ``charge(reference, amount, patient)``
— and the API layer sets a :class:`ChargeContext` around the call (a context variable, so it follows the call
into the method without every layer in between passing it on). Progress goes to ``progress(stage, detail)``;
the API turns it into ``payment.progress`` events for the client that placed the card. Details never carry a
PIN, a PIN block or a full PAN.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["ChargeContext", "Progress", "charge_context", "current_charge_context"]

#: ``progress(stage, detail)``: stages are method-specific words (``insert_card``, ``enter_pin``,
#: ``pin_digits``, ``processing``, ``remove_card``, ``scan_code``, ``paid`` …); details are JSON-able.
Progress = Callable[[str, Mapping[str, Any]], None]


def _no_progress(stage: str, detail: Mapping[str, Any]) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class ChargeContext:
    """``reader``: where the payer's card is (the kiosk's card reader), if any. ``cancel``: set when the
    payer walks away or the client cancels; a method stops at its next safe point (never between an
    approval and what settles it)."""

    reader: str | None = None
    progress: Progress = _no_progress
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)


_current: contextvars.ContextVar[ChargeContext | None] = contextvars.ContextVar(
    "charge_context", default=None
)


def current_charge_context() -> ChargeContext:
    """The context of the charge being made; an empty one (no reader, progress dropped) outside a request."""
    return _current.get() or ChargeContext()


@contextlib.contextmanager
def charge_context(context: ChargeContext) -> Iterator[ChargeContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
