"""What the reader manager does with a card when it is inserted, on the reader's worker: make the card
prove it is genuine (when its profile says so: every built-in profile does), then read its identity.

A card that cannot prove it is genuine is refused with ``card_not_genuine`` before anything it says is
believed: its identity is not read and none of its keys is tried (no EXTERNAL AUTHENTICATE, so no try
is burnt on a genuine card of another issuer either). Only the number it claims (DDF1/EF05, a free
read) is kept, for the audit record, masked there: whose card was copied. A genuine card is then
checked against the blacklist (:func:`refusal_of`, off the card: it is a database lookup).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cardservice.errors import CardError, ServiceError
from cardservice.healthcard import CardNotGenuineError, HealthCardSession, Identity
from cardservice.readers._errors import classify
from cardservice.readers._handle import CardHandle

__all__ = ["Insertion", "read_at_insertion", "refusal_of"]


@dataclass(frozen=True)
class Insertion:
    """What the insertion read found. ``refusal`` is set (and ``identity`` is ``None``) for a card that
    is not genuine; ``card_number`` is KH as the card states it (``""`` when unknown)."""

    identity: Identity | None
    card_number: str
    issuance_serial: str | None = None
    refusal: ServiceError | None = None

    def __repr__(self) -> str:
        return f"Insertion(identity={self.identity!r}, refusal={self.refusal!r})"


def read_at_insertion(card: CardHandle, *, internal_auth: bool) -> Insertion:
    """The card operation run at insertion: prove the card genuine (*internal_auth*), read its identity."""
    health = card.health
    if internal_auth:
        try:
            health.authenticate_card()
        except CardNotGenuineError as exc:
            return Insertion(None, _claimed_number(health), refusal=classify(exc))
    identity = health.read_identity()
    issuer = identity.issuer
    return Insertion(identity, issuer.card_number or "", issuer.issuance_serial)


def _claimed_number(health: HealthCardSession) -> str:
    try:
        return health.read_issuer_data().card_number or ""
    except CardError:  # whatever the card does now, it stays refused
        return ""


def refusal_of(
    insertion: Insertion, blacklist: Callable[[str, str | None], str | None] | None
) -> ServiceError | None:
    """Why the card is refused: not genuine, or blacklisted (by card number and issuance serial)."""
    if insertion.refusal is not None:
        return insertion.refusal
    number, serial = insertion.card_number, insertion.issuance_serial
    reason = blacklist(number, serial) if (blacklist is not None and number) else None
    return (
        None
        if reason is None
        else ServiceError("card_blacklisted", "this card is blacklisted", reason=reason)
    )
