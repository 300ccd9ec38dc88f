"""The daemon's log. For machines — the journal (stderr not a terminal) and ``log_file`` (which logrotate
may move) — one JSON object per line. For a person at a terminal (``make run``) a short line each,
``HH:MM:SS LEVEL logger: message``, without alembic's line per migration."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from typing import Any, TextIO

from cardservice.daemon._config import Settings

__all__ = ["configure_logging"]


class _JsonFormatter(logging.Formatter):
    """One JSON object per line: easy for journald, logrotate and log shippers alike."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _HumanFormatter(logging.Formatter):
    """``23:41:02 INFO cardservice.daemon: stopped after 3 s`` (a traceback follows on its own lines)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def _not_escpos_chatter(record: logging.LogRecord) -> bool:
    """python-escpos logs every printer connection opened and closed on the root logger at INFO (a line a
    second while a printer is polled for its paper); its warnings and errors still pass."""
    return not (record.name == "root" and record.levelno < logging.WARNING and f"{os.sep}escpos{os.sep}"
                in record.pathname)  # fmt: skip


def configure_logging(settings: Settings, *, stream: TextIO | None = None) -> None:
    """The root logger for the daemon: to ``settings.log_file`` (JSON), else to *stream* (default stderr),
    JSON unless it is a terminal."""
    handler: logging.Handler
    for_a_person = False
    if settings.log_file is not None:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file after logrotate moved it (no copytruncate needed).
        handler = logging.handlers.WatchedFileHandler(settings.log_file, encoding="utf-8")
    else:
        out = stream if stream is not None else sys.stderr
        for_a_person = _is_terminal(out)
        handler = logging.StreamHandler(out)
    handler.setFormatter(_HumanFormatter() if for_a_person else _JsonFormatter())
    handler.addFilter(_not_escpos_chatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's access log would repeat every path; request metrics and the audit log cover it.
    logging.getLogger("uvicorn.access").disabled = True
    # One line per HIS/acquirer request: the audit has them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # alembic says "Running upgrade A -> B, <the migration's docstring>" for each migration at start:
    # worth keeping in the journal, noise for a person at a terminal (its warnings still show).
    logging.getLogger("alembic").setLevel(logging.WARNING if for_a_person else logging.NOTSET)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
