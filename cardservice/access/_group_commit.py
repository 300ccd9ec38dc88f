"""Group commit: items from concurrent callers written in one transaction, each caller answered only
once its item is in.

A caller that finds no commit under way becomes the leader: it takes every item queued by then (its own
too) and hands them to *commit* in one call; callers arriving meanwhile queue and wait, and the next of
them to wake leads the next group. One caller alone commits its own item at once, so nothing waits for a
timer. *commit* records each item's outcome on the item itself; should it raise instead, *abandon* is
told of every item of the group (so that no caller takes a rolled-back item for a committed one) and the
leader re-raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(
        self, commit: Callable[[list[T]], None], abandon: Callable[[T, BaseException], None]
    ) -> None:
        self._commit = commit
        self._abandon = abandon
        self._condition = threading.Condition(threading.Lock())
        self._queue: list[T] = []
        self._done: set[int] = set()  # id() of the items whose group is over, until their caller looks
        self._committing = False

    @property
    def waiting(self) -> int:
        """How many items wait for a commit (none under way: the next caller takes them)."""
        with self._condition:
            return len(self._queue)

    def submit(self, item: T) -> None:
        """Return once a commit that took *item* is over (its outcome is on the item); raise what that
        commit raised when this caller led it."""
        key = id(item)
        with self._condition:
            self._queue.append(item)
            while self._committing and key not in self._done:
                self._condition.wait()
            if key in self._done:  # another caller's group took it
                self._done.discard(key)
                return
            group, self._queue = self._queue, []
            self._committing = True
        try:
            self._commit(group)
        except BaseException as exc:
            for waiting in group:
                self._abandon(waiting, exc)
            raise
        finally:
            with self._condition:
                self._committing = False
                self._done.update(id(waiting) for waiting in group if waiting is not item)
                self._condition.notify_all()
