"""The background recovery sweep: a daemon thread that calls ``recover`` every *interval* seconds for
the orders last changed at least *min_age* ago, until stopped. It never raises: a failed round is
logged and the next one comes anyway (the database back, the acquirer reachable again).

*min_age* is what keeps daemons sharing a database out of each other's way: an order in flight in
another daemon is younger than the longest payment step, and is left to it.
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable

from cardservice.payments._orders import RecoveryReport

__all__ = ["RecoverySweep", "seconds"]

_log = logging.getLogger("cardservice.payments")


def seconds(value: float | _dt.timedelta, name: str) -> _dt.timedelta:
    """*value* (seconds, or a timedelta) as a timedelta; ValueError when negative or not a number."""
    if isinstance(value, _dt.timedelta):
        delta = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        delta = _dt.timedelta(seconds=value)
    else:
        raise ValueError(f"{name}: seconds (a number) or a timedelta")
    if delta < _dt.timedelta(0):
        raise ValueError(f"{name}: not negative")
    return delta


class RecoverySweep:
    """Calls *recover* (``Payments.recover``'s shape, ``quiet`` set) every *interval* on its thread."""

    def __init__(
        self,
        recover: Callable[..., RecoveryReport],
        *,
        min_age: _dt.timedelta,
        interval: float,
    ) -> None:
        if not interval > 0:
            raise ValueError("interval: a positive number of seconds")
        self._recover = recover
        self._min_age = min_age
        self._interval = float(interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="payments-recovery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the round in progress, if any (waiting at most *timeout* seconds for it)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                _log.warning("payments recovery: the round in progress did not end in %s s", timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                report = self._recover(min_age=self._min_age, quiet=True)
            except Exception:  # the sweep goes on: the next round may find the database back
                _log.exception("payments recovery failed")
                continue
            if report.resolved or report.unresolved:
                _log.info(
                    "payments recovery: %d orders resolved, %d still open",
                    len(report.resolved),
                    len(report.unresolved),
                )
