"""card-sim's feeder, as a card issuer drives it: the client of card-sim's control socket (a Unix domain
socket speaking JSON lines, one request and one reply per line; the protocol is in
``simulators/control.py``, which serves it and uses this client for ``card-sim ctl``).

A real card feeder ejects on ``SCardDisconnect(SCARD_EJECT_CARD)``; pcscd never passes that to vpcd,
so the issuer asks card-sim itself (:func:`card_sim_ejector`). The socket is mode 0600 in a directory
of mode 0700; its default path is ``$XDG_RUNTIME_DIR/card-sim/<port>.sock``, else
``/tmp/card-sim-<uid>/<port>.sock``, where ``<port>`` is the vpcd port of the card slot.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cardservice.errors import CardError, CardserviceError

__all__ = [
    "ControlError",
    "card_sim_control_path",
    "card_sim_ejector",
    "card_sim_feeder",
    "default_control_path",
    "send_control",
]

_MAX_REPLY = 1024 * 1024
_CLIENT_TIMEOUT = 5.0


class ControlError(CardserviceError):
    """The control socket cannot be used: no simulator answers, or its directory is unsafe."""


def default_control_path(port: int) -> Path:
    """``$XDG_RUNTIME_DIR/card-sim/<port>.sock``, else ``/tmp/card-sim-<uid>/<port>.sock``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    directory = Path(runtime) / "card-sim" if runtime else Path(f"/tmp/card-sim-{os.getuid()}")  # noqa: S108
    return directory / f"{port}.sock"


def card_sim_control_path(reader: str, spec: str = "") -> Path:
    """The control socket of the card-sim serving *reader*: *spec* is a socket path, a vpcd port,
    or empty (the port from the reader's vpcd slot, ``… 00 0N`` → 40000 + N, the project's pcscd)."""
    if spec and not spec.isdigit():
        return Path(spec)
    if spec:
        return default_control_path(int(spec))
    last = reader.rsplit(" ", 1)[-1]
    slot = int(last) if last.isdigit() else 0
    return default_control_path(40000 + slot)


def card_sim_ejector(control: Path) -> Callable[[], None]:
    """Eject through card-sim's control socket (the feeder presents its next card)."""

    def eject() -> None:
        try:
            reply = send_control(control, {"cmd": "eject"})
        except ControlError as exc:
            raise CardError(f"feeder: {exc}") from None
        if not reply.get("ok"):
            raise CardError(f"feeder: eject refused: {reply.get('error', 'no reason given')}")

    return eject


def card_sim_feeder(reader: str, spec: str = "") -> Callable[[], None]:
    """The ``card-sim`` feeder of *reader* (``--feeder card-sim[:PORT|SOCKET]``): its eject."""
    return card_sim_ejector(card_sim_control_path(reader, spec))


def send_control(
    path: str | os.PathLike[str], request: Mapping[str, Any], *, timeout: float = _CLIENT_TIMEOUT
) -> dict[str, Any]:
    """Send one request to a running simulator and return its reply.

    Raises :class:`ControlError` when no simulator listens at *path* or the reply is not a JSON object.
    """
    target = os.fspath(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(target)
        except (FileNotFoundError, ConnectionRefusedError):
            raise ControlError(f"no card simulator is running (no control socket at {target})") from None
        except OSError as exc:
            raise ControlError(f"cannot reach the card simulator at {target}: {exc}") from None
        try:
            sock.sendall(json.dumps(dict(request)).encode() + b"\n")
            with sock.makefile("rb") as reader:
                line = reader.readline(_MAX_REPLY)
        except OSError as exc:
            raise ControlError(f"the card simulator at {target} did not answer: {exc}") from None
    finally:
        sock.close()
    try:
        reply = json.loads(line)
    except ValueError:
        raise ControlError(f"the card simulator at {target} sent no valid reply") from None
    if not isinstance(reply, dict):
        raise ControlError(f"the card simulator at {target} sent no valid reply")
    return reply
