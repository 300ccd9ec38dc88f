"""``python -m bench._sqlcount ARGS...``: the ``cardservice`` command line, counting its database work.

The benchmarks run the daemon through this module to print the statements and transactions a request
costs. SQLAlchemy's engine and pool events (registered on the classes, so every engine the process makes
is counted) tally:

- ``statements``: every statement sent (an ``executemany`` is one), without SQLite's own ``BEGIN``;
- ``commits`` and ``rollbacks``; ``writes``: the commits of transactions that changed something
  (INSERT, UPDATE, DELETE or SELECT ... FOR UPDATE);
- ``checkouts``: connections taken from the pool (each a ping on PostgreSQL when ``pool_pre_ping`` is on);
- ``by_statement``: the statements by their text (first 160 characters), to find what is repeated.

``kill -USR1 PID`` writes them as JSON to ``$CARDSERVICE_BENCH_SQL_COUNTS`` (whole: written to a
temporary file, then renamed). Counting costs a few microseconds per statement.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

__all__ = ["COUNTS_ENV", "main", "read_counts"]

COUNTS_ENV = "CARDSERVICE_BENCH_SQL_COUNTS"
_WRITING = ("INSERT", "UPDATE", "DELETE")

_lock = threading.Lock()
_totals: Counter[str] = Counter()
_texts: Counter[str] = Counter()
_dumps = 0


def _before_execute(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    head = statement.lstrip()[:12].upper()
    if head.startswith("BEGIN"):
        return
    writing = head.startswith(_WRITING) or "FOR UPDATE" in statement
    if writing:
        conn.info["bench_writing"] = True
    with _lock:
        _totals["statements"] += 1
        _texts[" ".join(statement.split())[:160]] += 1


def _commit(conn: Connection) -> None:
    writing = conn.info.pop("bench_writing", False)
    with _lock:
        _totals["commits"] += 1
        if writing:
            _totals["writes"] += 1


def _rollback(conn: Connection) -> None:
    conn.info.pop("bench_writing", None)
    with _lock:
        _totals["rollbacks"] += 1


def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    with _lock:
        _totals["checkouts"] += 1


def _dump(signum: int, frame: FrameType | None) -> None:
    global _dumps
    path = os.environ.get(COUNTS_ENV)
    if not path:
        return
    with _lock:
        _dumps += 1
        data = {"dump": _dumps, **_totals, "by_statement": dict(_texts)}
    temporary = f"{path}.{os.getpid()}.tmp"
    Path(temporary).write_text(json.dumps(data), encoding="utf-8")
    os.replace(temporary, path)


def read_counts(path: Path) -> dict[str, Any]:
    """What the last dump wrote (empty before the first)."""
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}


def main(argv: list[str] | None = None) -> int:
    event.listen(Engine, "before_cursor_execute", _before_execute)
    event.listen(Engine, "commit", _commit)
    event.listen(Engine, "rollback", _rollback)
    event.listen(Pool, "checkout", _checkout)
    signal.signal(signal.SIGUSR1, _dump)
    from cardservice.cli import main as cardservice_main

    return cardservice_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
