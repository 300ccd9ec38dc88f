"""The control interface of a running ``card-sim serve``: a Unix domain socket speaking JSON lines.

One request per line, one reply per line; the connection stays open for more::

    {"cmd": "status"}                                   → {"ok": true, "slots": {"card": {...}, "sam": {...}}}
    {"cmd": "remove", "slot": "card"}                   → {"ok": true, "slot": "card", "status": {...}}
    {"cmd": "swap", "image": "/path/other.json"}        → ...
    {"cmd": "tear", "after_commands": 0, "after_writes": 2}
    {"cmd": "latency", "ms": 200}
    {"cmd": "mute"} or {"cmd": "mute", "timeout": SECONDS, "after_commands": N}
    {"cmd": "unmute"} / {"cmd": "insert"}
    {"cmd": "eject"}                                    → feeder: next card; otherwise as "remove"
    {"cmd": "pboc", "fault": "aac-at-second"}           → the bank application's fault ("none" clears it)
    anything wrong                                      → {"ok": false, "error": "..."}

``slot`` defaults to ``"card"``. The socket is mode 0600 in a directory of mode 0700: only the user who
started the simulator can pull its cards. Default path (so ``serve`` and ``ctl`` agree without flags):
``$XDG_RUNTIME_DIR/card-sim/<port>.sock``, else ``/tmp/card-sim-<uid>/<port>.sock``, where ``<port>`` is
the vpcd port of the card slot.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drivers.feeders import ControlError, default_control_path, send_control
from simulators.cardos import CardOS, ImageError, load_card
from simulators.pboc import FAULTS, set_fault
from simulators.vpcd import VpcdBridge

__all__ = ["ControlError", "ControlServer", "default_control_path", "handle_request", "send_control"]

log = logging.getLogger(__name__)

_MAX_LINE = 64 * 1024


# -- requests -------------------------------------------------------------------------------------------

Handler = Callable[[VpcdBridge, Mapping[str, Any]], None]


def _count(request: Mapping[str, Any], key: str) -> int:
    value = request.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key!r} must be a non-negative integer")
    return value


def _swap(bridge: VpcdBridge, request: Mapping[str, Any]) -> None:
    image = request.get("image")
    if not isinstance(image, str) or not image:
        raise ValueError('swap needs "image": the path of a card image')
    bridge.swap(load_card(image))


def _tear(bridge: VpcdBridge, request: Mapping[str, Any]) -> None:
    bridge.tear(
        after_commands=_count(request, "after_commands"), after_nvm_writes=_count(request, "after_writes")
    )


def _latency(bridge: VpcdBridge, request: Mapping[str, Any]) -> None:
    ms = request.get("ms")
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not 0 <= ms <= 600_000:
        raise ValueError('latency needs "ms": a number of milliseconds, 0..600000')
    bridge.set_latency(ms)


def _mute(bridge: VpcdBridge, request: Mapping[str, Any]) -> None:
    timeout = request.get("timeout")
    number = isinstance(timeout, int | float) and not isinstance(timeout, bool)
    if timeout is not None and (not number or timeout <= 0):
        raise ValueError('mute "timeout" must be a positive number of seconds (or absent: hold forever)')
    after = request.get("after_commands", 0)
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise ValueError('mute "after_commands" must be a whole number of commands, 0 or more')
    bridge.mute(timeout, after_commands=after)


def _eject(bridge: VpcdBridge, request: Mapping[str, Any]) -> None:
    feeder = getattr(bridge, "feeder", None)
    if feeder is None:
        bridge.remove()  # a reader without a feeder: the card comes out, nothing follows
    else:
        feeder.eject(bridge)


def _pboc(bridge: VpcdBridge, request: Mapping[str, Any]) -> None:
    name = request.get("fault")
    if not isinstance(name, str) or name not in FAULTS:
        raise ValueError(f'pboc needs "fault": one of {", ".join(FAULTS)}')
    card = bridge.card
    if not isinstance(card, CardOS):
        raise ValueError("no card-sim card in this slot")
    set_fault(card, name)


#: cmd → what it does to the slot's bridge (``status`` is answered by :func:`handle_request` itself).
COMMANDS: dict[str, Handler] = {
    "status": lambda bridge, request: None,
    "insert": lambda bridge, request: bridge.insert(),
    "remove": lambda bridge, request: bridge.remove(),
    "eject": _eject,
    "swap": _swap,
    "tear": _tear,
    "latency": _latency,
    "mute": _mute,
    "unmute": lambda bridge, request: bridge.unmute(),
    "pboc": _pboc,
}


def handle_request(slots: Mapping[str, VpcdBridge], request: object) -> dict[str, Any]:
    """Apply one decoded request to the bridges; every failure becomes ``{"ok": false, "error": ...}``."""
    if not isinstance(request, dict):
        return {"ok": False, "error": "a request must be a JSON object"}
    cmd = request.get("cmd")
    handler = COMMANDS.get(cmd) if isinstance(cmd, str) else None
    if handler is None:
        return {"ok": False, "error": f"unknown cmd {cmd!r} (known: {', '.join(COMMANDS)})"}
    if cmd == "status" and "slot" not in request:
        return {"ok": True, "slots": {name: slot_status(bridge) for name, bridge in slots.items()}}
    slot = request.get("slot", "card")
    bridge = slots.get(slot) if isinstance(slot, str) else None
    if bridge is None:
        return {"ok": False, "error": f"unknown slot {slot!r} (this simulator has: {', '.join(slots)})"}
    try:
        handler(bridge, request)
    except (ValueError, ImageError, OSError) as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "slot": slot, "status": slot_status(bridge)}


def slot_status(bridge: VpcdBridge) -> dict[str, Any]:
    status = bridge.status()
    feeder = getattr(bridge, "feeder", None)
    if feeder is not None:
        status["feeder"] = feeder.status()
    return status


# -- server ---------------------------------------------------------------------------------------------


def _prepare_directory(directory: Path, *, strict: bool) -> None:
    """Create *directory* 0700, or check an existing one is ours (and, if *strict*, private)."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
        return
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise ControlError(f"{directory} is not a directory")
    if info.st_uid != os.getuid():
        raise ControlError(f"{directory} belongs to another user; refusing to put the control socket there")
    if strict and info.st_mode & 0o077:
        mode = info.st_mode & 0o777
        raise ControlError(f"{directory} is accessible to other users (mode {mode:o}, expected 700)")


def _remove_stale(path: Path) -> None:
    """A socket file left by a killed simulator is removed; a live one is an error."""
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(os.lstat(path).st_mode):
        raise ControlError(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(os.fspath(path))
    except OSError:
        path.unlink()
        return
    finally:
        probe.close()
    raise ControlError(f"another simulator is already running with control socket {path}")


class ControlServer:
    """Serves :func:`handle_request` on a Unix socket, one thread per client connection. *handler*
    replaces it for a device that adds commands of its own (the card dispenser's simulator)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        slots: Mapping[str, Any],
        *,
        strict: bool = False,
        handler: Callable[[Mapping[str, Any], object], dict[str, Any]] | None = None,
    ) -> None:
        self.path = Path(path)
        self.slots = dict(slots)
        self._strict = strict
        self._handle = handler or handle_request
        self._sock: socket.socket | None = None
        self._inode: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    def start(self) -> None:
        """Bind (mode 0600 from the start: the umask is tightened around ``bind``) and serve."""
        _prepare_directory(self.path.parent, strict=self._strict)
        _remove_stale(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(os.fspath(self.path))
        except OSError:
            sock.close()
            raise
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        info = os.stat(self.path)
        self._inode = (info.st_dev, info.st_ino)
        sock.listen(8)
        self._sock = sock
        self._thread = threading.Thread(
            target=self._accept_loop, args=(sock,), name="card-sim-control", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop accepting and remove the socket file (only if it is still ours)."""
        self._closing = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._thread is not None:
            self._thread.join(2.0)
        with contextlib.suppress(OSError):
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self._inode:
                self.path.unlink()

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept_loop(self, sock: socket.socket) -> None:
        while not self._closing:
            try:
                client, _ = sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve_client, args=(client,), daemon=True).start()

    def _serve_client(self, client: socket.socket) -> None:
        with client, client.makefile("rb") as reader, client.makefile("wb") as writer:
            while True:
                try:
                    line = reader.readline(_MAX_LINE + 1)
                except OSError:
                    return
                if not line:
                    return
                if len(line) > _MAX_LINE:
                    self._reply(writer, {"ok": False, "error": "request line too long"})
                    return
                if not line.strip():
                    continue
                try:
                    request = json.loads(line)
                except ValueError as exc:
                    reply: dict[str, Any] = {"ok": False, "error": f"malformed JSON: {exc}"}
                else:
                    reply = self._handle(self.slots, request)
                    log.info("control: %s -> %s", _summary(request), "ok" if reply["ok"] else reply["error"])
                if not self._reply(writer, reply):
                    return

    @staticmethod
    def _reply(writer: Any, reply: Mapping[str, Any]) -> bool:
        try:
            writer.write(json.dumps(reply).encode() + b"\n")
            writer.flush()
        except OSError:
            return False
        return True


def _summary(request: object) -> str:
    """The request for the log: cmd and slot only (an image path is harmless, but keep logs short)."""
    if isinstance(request, dict):
        return f"{request.get('cmd')!r} slot {request.get('slot', 'card')!r}"
    return "non-object request"
