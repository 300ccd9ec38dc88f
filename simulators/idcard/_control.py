"""The control socket of a running ID-card simulator: a Unix socket speaking JSON lines, as card-sim's
(:mod:`simulators.control`), one request per line, one reply per line::

    {"cmd": "status"}                                  → {"ok": true, "status": {"card": ..., "fault": ...}}
    {"cmd": "place", "card": "resident"}               a shipped card's name, or a card file's path
    {"cmd": "remove"}
    {"cmd": "fault", "fault": "read_fail", "times": 1} bad_chk | find_fail | select_fail | read_fail |
                                                       sam_absent | timeout | none; times: optional
    anything wrong                                     → {"ok": false, "error": "..."}

The socket is created mode 0600: only its user can put cards on the reader. The client is
:func:`drivers.feeders.send_control`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from simulators.control import ControlServer
from simulators.idcard._cards import CardFileError, load_card
from simulators.idcard._device import VirtualIdCardReader

__all__ = ["COMMANDS", "ControlSocket", "handle_request"]


def _place(reader: VirtualIdCardReader, request: Mapping[str, Any]) -> None:
    card = request.get("card")
    if not isinstance(card, str) or not card:
        raise ValueError("place needs \"card\": a shipped card's name or a card file's path")
    reader.place(load_card(card))


def _fault(reader: VirtualIdCardReader, request: Mapping[str, Any]) -> None:
    fault = request.get("fault")
    if not isinstance(fault, str):
        raise ValueError('fault needs "fault": its name, or "none"')
    reader.set_fault(fault, request.get("times"))


COMMANDS: dict[str, Callable[[VirtualIdCardReader, Mapping[str, Any]], None]] = {
    "status": lambda reader, request: None,
    "place": _place,
    "remove": lambda reader, request: reader.remove(),
    "fault": _fault,
}


def handle_request(reader: VirtualIdCardReader, request: object) -> dict[str, Any]:
    """One decoded request applied; every failure becomes ``{"ok": false, "error": ...}``."""
    if not isinstance(request, dict):
        return {"ok": False, "error": "a request must be a JSON object"}
    cmd = request.get("cmd")
    handler = COMMANDS.get(cmd) if isinstance(cmd, str) else None
    if handler is None:
        return {"ok": False, "error": f"unknown cmd {cmd!r} (known: {', '.join(COMMANDS)})"}
    try:
        handler(reader, request)
    except (ValueError, CardFileError) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "status": reader.status()}


class ControlSocket:
    """Serves :func:`handle_request` at *path* through card-sim's control server (:mod:`simulators.control`:
    mode 0600, a stale socket of a dead simulator replaced, a live one refused)."""

    def __init__(self, path: str | os.PathLike[str], reader: VirtualIdCardReader) -> None:
        self.path = Path(path)
        self.reader = reader
        self._server = ControlServer(
            self.path, {"idcard": reader}, handler=lambda slots, request: handle_request(reader, request)
        )

    def start(self) -> ControlSocket:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.close()

    def __enter__(self) -> ControlSocket:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
