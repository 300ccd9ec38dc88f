"""The contract an ID-card reader's driver implements (:class:`IdCardReader`), and the state machine of a
card on it (:class:`Presence`), which drivers share.

**The must-remove rule** (facts sheet B6): a reader finds a card once; after it was read, "find" fails
(SW3 80) for as long as it lies on the reader, and succeeds again only once it was taken off and put back.
So "find failed" cannot tell an empty reader from a card already read, and :class:`Presence` keeps the
difference::

    EMPTY   ── find OK → select → read ──────────────→ PRESENT      poll() → Placed(person)
    EMPTY   ── find fails (80) ──────────────────────→ EMPTY        poll() → None
    PRESENT ── select OK (the card still answers) ───→ PRESENT      poll() → None
    PRESENT ── select fails (81: it left the field) ─→ EMPTY        poll() → Removed()
    PRESENT ── any other error ──────────────────────→ EMPTY        the error is raised (the holder of the
                                                                     person must drop it: nobody can
                                                                     say the card is still there)

UNCONFIRMED (the sheet says nothing of how a card already read is seen to stay): SELECT (20 02) is the
presence probe — a card still in the field answers it, one taken off does not, and one put back must be
found first. Change :meth:`Presence.poll` if a real reader says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeAlias

from cardservice.idcard._errors import IdCardNoCard, IdCardReadFailed
from cardservice.idcard._person import IdCardPerson

__all__ = ["CardOperations", "IdCardEvent", "IdCardReader", "Placed", "Presence", "PresenceState", "Removed"]


@dataclass(frozen=True)
class Placed:
    """A card was put on the reader and read."""

    person: IdCardPerson


@dataclass(frozen=True)
class Removed:
    """The card read last was taken off the reader."""


IdCardEvent: TypeAlias = Placed | Removed


class CardOperations(Protocol):
    """The reader's card commands, what :class:`Presence` drives."""

    def find(self) -> bool: ...

    def select(self) -> None: ...

    def read(self, with_fingerprint: bool = False) -> IdCardPerson: ...


class IdCardReader(CardOperations, Protocol):
    """An ID-card reader (GA/T 467 SAM_V), as a driver provides it (entry points
    ``cardservice.idcard_readers``, see :mod:`cardservice.plugins`). Blocking; one thread at a time.

    - ``find()``: True when a card was found (SW3 9F), False when none (80); other failures raise.
    - ``select()``: selects the card found; raises :class:`IdCardReadFailed` (81) and the like.
    - ``read(with_fingerprint)``: text + photo (30 01), or with the fingerprint (30 10).
    - ``sam_status()``: raises :class:`IdCardSamUnavailable` unless the reader's SAM answers OK.
    - ``poll()``: one step of :class:`Presence`: ``Placed``, ``Removed`` or None.
    - ``close()``: releases the port; the next call opens it again.

    Errors are :class:`~cardservice.idcard.IdCardError` subclasses only.
    """

    def sam_status(self) -> None: ...

    def poll(self) -> IdCardEvent | None: ...

    def close(self) -> None: ...


class PresenceState(StrEnum):
    EMPTY = "empty"
    PRESENT = "present"


class Presence:
    """Where a reader's card stands (the module docstring's diagram). One per reader."""

    def __init__(self, *, with_fingerprint: bool = False) -> None:
        self.with_fingerprint = with_fingerprint
        self.state = PresenceState.EMPTY

    def poll(self, reader: CardOperations) -> IdCardEvent | None:
        if self.state is PresenceState.EMPTY:
            if not reader.find():
                return None
            reader.select()
            person = reader.read(self.with_fingerprint)
            self.state = PresenceState.PRESENT
            return Placed(person)
        try:
            reader.select()
        except (IdCardNoCard, IdCardReadFailed):
            self.state = PresenceState.EMPTY
            return Removed()
        except BaseException:
            self.state = PresenceState.EMPTY
            raise
        return None

    def reset(self) -> None:
        """Forget the card (the port was closed, the reader replaced)."""
        self.state = PresenceState.EMPTY
