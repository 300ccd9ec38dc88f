"""The daemon's log: one JSON object per line, to stderr or a file that logrotate may move."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import sys
from typing import Any

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


def _not_escpos_chatter(record: logging.LogRecord) -> bool:
    """python-escpos logs every printer connection opened and closed on the root logger at INFO (a line a
    second while a printer is polled for its paper); its warnings and errors still pass."""
    return not (record.name == "root" and record.levelno < logging.WARNING and f"{os.sep}escpos{os.sep}"
                in record.pathname)  # fmt: skip


def configure_logging(settings: Settings) -> None:
    handler: logging.Handler
    if settings.log_file is not None:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file after logrotate moved it (no copytruncate needed).
        handler = logging.handlers.WatchedFileHandler(settings.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    handler.addFilter(_not_escpos_chatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # uvicorn's access log would repeat every path; request metrics and the audit log cover it.
    logging.getLogger("uvicorn.access").disabled = True
    # One line per HIS/acquirer request: the audit has them.
    logging.getLogger("httpx").setLevel(logging.WARNING)
