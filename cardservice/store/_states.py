"""Records that move through states (payment orders, refunds, print jobs): the states are an enum, the
moves a table, and an illegal move is refused in one place (:meth:`Lifecycle.check`).

    JOB = Lifecycle("print job", {Status.QUEUED: {Status.PRINTING, ...}, ...}, final={Status.PRINTED, ...})
    JOB.check(row.status, Status.PRINTED)       # the target, or IllegalTransition (a bug, never a user's)

The table is the documentation too: :meth:`Lifecycle.describe` draws it for a docstring or a test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Generic, TypeVar

from cardservice.errors import CardserviceError

__all__ = ["IllegalTransition", "Lifecycle"]

_S = TypeVar("_S", bound=StrEnum)


class IllegalTransition(CardserviceError, ValueError):
    """A record was about to move where its lifecycle does not go: a programming error."""


class Lifecycle(Generic[_S]):
    """The states of one kind of record and the moves between them: *states* is a StrEnum (several kinds
    of record may share one), *moves* maps a state to the states it may go to, *initial* is where a
    record starts (default: the enum's first member). Its states are those reachable from *initial*;
    one with no move out is final."""

    def __init__(
        self, name: str, states: type[_S], moves: Mapping[_S, Iterable[_S]], *, initial: _S | None = None
    ) -> None:
        self.name = name
        self.states = states
        self.initial: _S = initial if initial is not None else next(iter(states))
        reachable, todo = {self.initial}, [self.initial]
        while todo:
            for target in moves.get(todo.pop(), ()):
                if target not in reachable:
                    reachable.add(target)
                    todo.append(target)
        strays = {state for state in moves if state not in reachable}
        if strays:  # pragma: no cover - a table typo
            raise ValueError(f"{name}: moves out of states it never reaches: {sorted(strays)}")
        # In the enum's order, so describe() reads top to bottom.
        self._moves: dict[_S, frozenset[_S]] = {
            state: frozenset(moves.get(state, ())) for state in states if state in reachable
        }
        self.final: frozenset[_S] = frozenset(state for state, targets in self._moves.items() if not targets)

    def state(self, value: str) -> _S:
        """*value* as one of the states (:class:`IllegalTransition` for anything else)."""
        try:
            return self.states(value)
        except ValueError:
            raise IllegalTransition(f"{self.name}: no state {value!r}") from None

    def targets(self, current: str) -> frozenset[_S]:
        """Where a record in *current* may go (nowhere from a state this kind of record never has)."""
        return self._moves.get(self.state(current), frozenset())

    def can(self, current: str, target: str) -> bool:
        return self.state(target) in self.targets(current)

    def check(self, current: str, target: str) -> _S:
        """*target*, if a record in *current* may move there; else :class:`IllegalTransition`."""
        if not self.can(current, target):
            raise IllegalTransition(f"{self.name}: {current} → {target} is not a move of its lifecycle")
        return self.state(target)

    def is_final(self, state: str) -> bool:
        return self.state(state) in self.final

    def describe(self) -> str:
        """One line per state: ``pending → charged, declined, failed, in_doubt``."""
        return "\n".join(
            f"{state.value} → {', '.join(sorted(t.value for t in targets)) or '(final)'}"
            for state, targets in self._moves.items()
        )
