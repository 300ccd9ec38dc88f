"""The control socket of a running PIN pad simulator: a Unix socket speaking JSON lines, as card-sim's
(:mod:`simulators.control`), one request per line, one reply per line. The patient's hands::

    {"cmd": "type", "digits": "1234"}        digits pressed one by one
    {"cmd": "backspace"} | {"cmd": "clear"} | {"cmd": "enter"} | {"cmd": "cancel"}
    {"cmd": "timeout"}                       the running entry times out now
    {"cmd": "auto", "pin": "123456"}         typed and entered at every entry; "pin": null stops it
    {"cmd": "fault", "fault": "garble", "times": 1}    garble | nak | mute | device | none
    {"cmd": "status"}                        → {"ok": true, "status": {"entering": ..., "digits": 3, ...}}
    anything wrong, or a key with no entry running → {"ok": false, "error": "..."}

Replies carry counts, never a digit. The socket is created mode 0600: only its user can type on the pad.
The client is :func:`drivers.feeders.send_control`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from simulators.control import ControlServer
from simulators.pinpad._device import VirtualPinPad

__all__ = ["COMMANDS", "ControlSocket", "handle_request"]


def _key(name: str) -> Callable[[VirtualPinPad, Mapping[str, Any]], bool]:
    return lambda pad, request: pad.press(name)


def _type(pad: VirtualPinPad, request: Mapping[str, Any]) -> bool:
    digits = request.get("digits")
    if not isinstance(digits, str) or not digits:
        raise ValueError('type needs "digits": a string of digits')
    return pad.type(digits)


def _auto(pad: VirtualPinPad, request: Mapping[str, Any]) -> bool:
    pin = request.get("pin")
    if pin is not None and not (
        isinstance(pin, str) and pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12
    ):
        raise ValueError('auto needs "pin": 4 to 12 digits, or null to stop')
    pad.auto_pin = pin
    return True


def _fault(pad: VirtualPinPad, request: Mapping[str, Any]) -> bool:
    fault = request.get("fault")
    if not isinstance(fault, str):
        raise ValueError('fault needs "fault": its name, or "none"')
    pad.set_fault(fault, request.get("times"))
    return True


#: cmd → what it does; False: a key while no entry runs (the pad ignores it, the operator is told).
COMMANDS: dict[str, Callable[[VirtualPinPad, Mapping[str, Any]], bool]] = {
    "status": lambda pad, request: True,
    "type": _type,
    "backspace": _key("backspace"),
    "clear": _key("clear"),
    "enter": _key("enter"),
    "cancel": _key("cancel"),
    "timeout": lambda pad, request: pad.expire(),
    "auto": _auto,
    "fault": _fault,
}


def handle_request(pad: VirtualPinPad, request: object) -> dict[str, Any]:
    """One decoded request applied; every failure becomes ``{"ok": false, "error": ...}``."""
    if not isinstance(request, dict):
        return {"ok": False, "error": "a request must be a JSON object"}
    cmd = request.get("cmd")
    handler = COMMANDS.get(cmd) if isinstance(cmd, str) else None
    if handler is None:
        return {"ok": False, "error": f"unknown cmd {cmd!r} (known: {', '.join(COMMANDS)})"}
    try:
        taken = handler(pad, request)
    except ValueError as exc:
        return {"ok": False, "error": str(exc)}
    if not taken:
        return {"ok": False, "error": f"{cmd}: no PIN entry is running", "status": pad.status()}
    return {"ok": True, "status": pad.status()}


class ControlSocket:
    """Serves :func:`handle_request` at *path* through card-sim's control server (:mod:`simulators.control`:
    mode 0600, a stale socket of a dead simulator replaced, a live one refused)."""

    def __init__(self, path: str | os.PathLike[str], pad: VirtualPinPad) -> None:
        self.path = Path(path)
        self.pad = pad
        self._server = ControlServer(
            self.path, {"pinpad": pad}, handler=lambda slots, request: handle_request(pad, request)
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
