"""Card dispensers (发卡机): the contract the issuer drives, and the card source built on it.

A dispenser holds a stack of blank cards and moves one at a time to its read/write position, where a
card reader (a PC/SC reader: pcscd serves it like any other) talks to the chip; then it presents the
card at its mouth (the person takes it) or captures it into its reject bin. Drivers implement
:class:`CardDispenser` (``drivers.dispenser``, found by ``kind`` through the ``cardservice.dispensers``
entry points); :class:`DispenserCardSource` turns a dispenser and its reader into the batch's
:class:`~cardservice.issuance.CardSource`::

    DispenserError                      a coded error; ``code`` per instance:
        dispenser_empty                 the card stack is empty (refill it)
        dispenser_jam                   a card is stuck (clear the card path; the next run resets)
        dispenser_timeout               no answer, or a motion did not finish in time
        dispenser_protocol              an answer that is not the protocol (wrong frame, checksum, NAK)
        dispenser_fault                 any other problem the device reports (reject bin full, ...)

Where each card goes: a personalised card → :meth:`DispenserCardSource.eject` (presented at the mouth);
a spoiled card, a card that is not blank and not anyone's live card → :meth:`~DispenserCardSource.reject`
(captured into the reject bin). Both first let go of the PC/SC connection (the reader source's eject),
then move the card, then wait until the reader is empty.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cardservice.errors import CodedError

__all__ = [
    "CardDispenser",
    "DispenserCardSource",
    "DispenserError",
    "DispenserStatus",
]

# code -> (English, Chinese). The Chinese text is what an operator's screen shows.
_MESSAGES: dict[str, tuple[str, str]] = {
    "dispenser_empty": ("The dispenser's card stack is empty: refill it.", "发卡机卡箱已空，请补充卡片"),
    "dispenser_jam": ("A card is jammed in the dispenser: clear the card path.", "发卡机卡堵塞，请清理卡道"),
    "dispenser_timeout": ("The dispenser did not answer in time.", "发卡机无响应"),
    "dispenser_protocol": ("The dispenser's answer is not its protocol.", "发卡机通讯错误"),
    "dispenser_fault": ("The dispenser reports a fault.", "发卡机故障，请联系工作人员"),
}


class DispenserError(CodedError):
    """The dispenser cannot go on; ``code`` is one of the five above, ``detail`` says what the device
    said or did (for logs and the operator; never card contents)."""

    def __init__(self, code: str, detail: str | None = None, **details: Any) -> None:
        message, message_zh = _MESSAGES[code]
        super().__init__(message, message_zh=message_zh, details=details)
        self.args = (f"{message} ({detail})" if detail else message,)
        self.code = code
        self.detail = detail

    def __repr__(self) -> str:
        return f"DispenserError({self.code!r}, {self.detail!r})"


@dataclass(frozen=True)
class DispenserStatus:
    """What the dispenser's sensors say. ``faults``: other problems by name (``reject_bin_full``,
    ``overlap``, ``dispense_error``, ...); ``raw``: the status as the device sent it, for logs."""

    stack_empty: bool = False
    stack_low: bool = False
    card_at_read_position: bool = False
    card_at_mouth: bool = False
    jam: bool = False
    busy: bool = False
    faults: tuple[str, ...] = ()
    raw: str = ""

    def problem(self) -> DispenserError | None:
        """The error a card motion would meet now (a jam first), or None."""
        if self.jam:
            return DispenserError("dispenser_jam", f"status {self.raw}")
        if self.faults:
            return DispenserError("dispenser_fault", ", ".join(self.faults) + f" (status {self.raw})")
        return None


class CardDispenser(Protocol):
    """A card dispenser. Every motion returns once the card is where it was sent (the driver polls the
    sensors), or raises :class:`DispenserError`."""

    def status(self) -> DispenserStatus: ...

    def to_read_position(self) -> None:
        """The next card from the stack to the read/write position (``dispenser_empty`` if none)."""
        ...

    def present(self) -> None:
        """The card at the read position to the mouth, held there for the person to take."""
        ...

    def capture(self) -> None:
        """The card in the card path into the reject bin."""
        ...

    def reset(self) -> None:
        """Reset the mechanism: clears a jam once the card path is clear; a card at the read position
        stays there."""
        ...

    def close(self) -> None: ...


class _Reader(Protocol):
    """The reader at the read position, as a card source (:class:`drivers.readers.PcscCardSource`)."""

    wait_seconds: float

    def next_card(self) -> Any: ...

    def eject(self, card: Any) -> None: ...

    def close(self) -> None: ...


class DispenserCardSource:
    """A :class:`~cardservice.issuance.CardSource`: blank cards from *dispenser*, talked to through
    the reader at its read position. *reader* builds that reader's card source given the callable
    that moves the card out of the read position (the reader source calls it after letting the card
    go, then waits until the reader is empty)."""

    def __init__(
        self,
        dispenser: CardDispenser,
        reader: Callable[[Callable[[], None]], _Reader],
        *,
        announce: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.dispenser = dispenser
        self._announce = announce
        self._out: Callable[[], None] = dispenser.present
        self.reader = reader(self._move_out)
        self._holding = False
        self._low_said = False
        self._motion_seconds = 0.0
        self.presented = 0
        self.captured = 0

    @property
    def wait_seconds(self) -> float:
        """Time spent on the card's mechanics: motions, and the reader seeing cards come and go."""
        return self.reader.wait_seconds + self._motion_seconds

    def prepare(self) -> DispenserStatus:
        """Before the first card: reset the mechanism (a jam the operator cleared is gone), then
        refuse to start on a jam or a fault. A card found at the read position is left there: the
        batch's resume settles it."""
        self._timed(self.dispenser.reset)
        status = self.dispenser.status()
        problem = status.problem()
        if problem is not None:
            raise problem
        return status

    def next_card(self) -> Any:
        """The card at the read position; a new one from the stack if none is there."""
        if not self._holding:
            status = self.dispenser.status()
            if status.stack_low and not self._low_said:
                self._announce("the dispenser's card stack is low: refill it soon")
                self._low_said = True
            if not status.card_at_read_position:
                self._timed(self.dispenser.to_read_position)
        card = self.reader.next_card()
        self._holding = True
        return card

    def eject(self, card: Any) -> None:
        """A finished card: presented at the mouth."""
        self._release(card, self.dispenser.present)
        self.presented += 1

    def reject(self, card: Any) -> None:
        """A card nobody may have: captured into the reject bin."""
        self._release(card, self.dispenser.capture)
        self.captured += 1

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            self.dispenser.close()

    def _release(self, card: Any, out: Callable[[], None]) -> None:
        self._out = out
        try:
            self.reader.eject(card)
        finally:
            self._holding = False
            self._out = self.dispenser.present

    def _move_out(self) -> None:
        self._out()  # timed by the reader source's eject, which calls it

    def _timed(self, motion: Callable[[], None]) -> None:
        started = time.perf_counter()
        try:
            motion()
        finally:
            self._motion_seconds += time.perf_counter() - started
