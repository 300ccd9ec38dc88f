"""What the request side and the workers of one print queue share: the station's rows of ``print_jobs``
(sessions, database errors as :class:`QueueUnavailable`), the audit of every state change, and the
signal that some job changed (for :meth:`PrintQueue.wait`)."""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import CursorResult, Result
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from cardservice.printing._errors import QueueUnavailable
from cardservice.printing._jobs import AuditRecorder
from cardservice.store import Database, describe

__all__ = ["JobTable", "rowcount"]

_log = logging.getLogger("cardservice.printing")


def rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


class JobTable:
    """The jobs of ``station`` in ``database``. ``clock`` gives the current UTC time; ``audit`` is called
    for every state change (through :meth:`record`)."""

    def __init__(
        self,
        database: Database,
        *,
        station: str,
        audit: AuditRecorder,
        clock: Callable[[], _dt.datetime],
    ) -> None:
        self.db = database
        self.station = station
        self.clock = clock
        self._audit = audit
        #: The worker threads: an audit failure there is logged (the job's state is committed and the
        #: worker must go on); anywhere else it is raised.
        self.workers: list[threading.Thread] = []
        self._changed = threading.Condition()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A reading session; database errors become ``queue_unavailable``."""
        try:
            with self.db.session(readonly=True) as session:
                yield session
        except SQLAlchemyError as exc:
            raise QueueUnavailable(f"print queue database: {describe(exc)}") from None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A writing session (committed at the end); database errors become ``queue_unavailable``."""
        try:
            with self.db.session() as session:
                yield session
        except SQLAlchemyError as exc:
            raise QueueUnavailable(f"print queue database: {describe(exc)}") from None

    def record(
        self,
        actor: str,
        action: str,
        result: str,
        card: str | None,
        job_ref: str,
        kind: str,
        printer: str,
        **detail: object,
    ) -> None:
        """Audit one change of job ``job_ref``: ``detail`` has its kind and printer, and ``detail``."""
        try:
            self._audit(
                actor=actor,
                action=action,
                result=str(result),
                card=card,
                target=job_ref,
                detail={"kind": kind, "printer": printer, **detail},
            )
        except Exception:
            # The job's state is already committed; a worker must go on. Logged loudly.
            _log.exception("audit of %s %s failed", action, job_ref)
            if threading.current_thread() not in self.workers:
                raise

    def notify(self) -> None:
        """Some job changed: wake the callers of :meth:`wait_changed`."""
        with self._changed:
            self._changed.notify_all()

    def wait_changed(self, timeout: float) -> None:
        """Until :meth:`notify` (this process's changes) or ``timeout`` seconds (other processes')."""
        with self._changed:
            self._changed.wait(timeout)
