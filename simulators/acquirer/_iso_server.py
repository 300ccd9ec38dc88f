"""DEMO ONLY: the simulated acquirer's ISO 8583 side — a threaded TCP server on loopback that speaks the
terminal's own codec (cardservice.acquiring) to the simulated issuer (``_issuer``).

Each connection carries frames (2-byte length ‖ TPDU ‖ header ‖ message); each answer swaps the TPDU's
addresses and keeps the header. A request whose MAC (field 64, under the TAK) fails is answered with 39 =
A0 and changes nothing; a frame that does not decode, or names a transaction we do not support, is
answered with 30 (format error) or 40 (function not supported) when its MTI and key fields can be read,
otherwise the connection is closed.

Controls (one-shot, then back to normal; :meth:`IsoAcquirerServer.controls` shows what is armed), from
Python or over HTTP (``_iso_control``):

* ``decline_next(code)``      the next sale is declined with *code* (after the checks that come first)
* ``timeout_next(applied)``   the next request is read and, if *applied*, carried out (money moves) — but
                              no answer comes; the connection stays open until the terminal gives up
* ``drop_next(applied)``      the same, but the line drops at once (TCP reset) instead of going silent
* ``corrupt_next_arpc()``     the next sale's ARPC has a flipped byte (the MAC of the frame is still right)
* ``script_next(request)``    the next sale's answer carries an issuer script (71/72, MAC'd for the card)
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import socketserver
import struct
import threading
from typing import Any

from cardservice.acquiring import (
    LENGTH_PREFIX,
    Frame,
    Iso8583Error,
    MacError,
    SaleRequest,
    body_length,
    check_mac,
    decode_frame,
    encode_frame,
    encode_message,
    message_from_frame,
    reply_tpdu,
)
from simulators.acquirer._issuer import Issuer, Overrides, ScriptRequest

__all__ = ["IsoAcquirerServer", "IsoControls", "IsoReply"]

_log = logging.getLogger("simulators.acquirer.iso")
_READ_TIMEOUT = 10.0
_ECHOED = (2, 3, 4, 11, 25, 41, 42, 49, 60)
_SUPPORTED = ("0200", "0400", "0220", "0500")


@dataclasses.dataclass
class IsoControls:
    """The armed one-shot faults (a snapshot is what :meth:`IsoAcquirerServer.controls` returns)."""

    decline: str | None = None
    timeout: str | None = None  # "applied" / "not-applied"
    drop: str | None = None  # "applied" / "not-applied"
    corrupt_arpc: bool = False
    scripts: list[ScriptRequest] = dataclasses.field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["scripts"] = [
            {"command": s.command, "template": f"{s.template:02X}", "balance_fen": s.balance_fen}
            for s in self.scripts
        ]
        return out


@dataclasses.dataclass(frozen=True)
class IsoReply:
    """What the server does with one request: send *frame* (answer), or say nothing and hold the line,
    drop it (reset) or close it."""

    frame: bytes | None
    action: str = "answer"  # answer / hold / drop / close


class IsoAcquirerServer:
    """Serve *issuer* on *host*:*port* (0: the OS picks; see :attr:`address`). ``hold_seconds``: how long
    a withheld answer keeps the connection open at most."""

    def __init__(
        self, issuer: Issuer, *, host: str = "127.0.0.1", port: int = 0, hold_seconds: float = 60.0
    ) -> None:
        self.issuer = issuer
        self.hold_seconds = hold_seconds
        self._lock = threading.Lock()
        self._armed = IsoControls()
        self._stopping = threading.Event()
        self._server = _TcpServer((host, port), _Handler)
        self._server.owner = self
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> IsoAcquirerServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="iso-acquirer",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def __enter__(self) -> IsoAcquirerServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- controls ---------------------------------------------------------------------------------------

    def decline_next(self, code: str = "05") -> None:
        if len(code) != 2 or not code.isascii() or not code.isalnum() or code == "00":
            raise ValueError("decline code: 2 letters or digits, not 00")
        with self._lock:
            self._armed.decline = code

    def timeout_next(self, *, applied: bool) -> None:
        with self._lock:
            self._armed.timeout = "applied" if applied else "not-applied"

    def drop_next(self, *, applied: bool = False) -> None:
        with self._lock:
            self._armed.drop = "applied" if applied else "not-applied"

    def corrupt_next_arpc(self) -> None:
        with self._lock:
            self._armed.corrupt_arpc = True

    def script_next(self, request: ScriptRequest) -> None:
        with self._lock:
            self._armed.scripts.append(request)

    def clear_controls(self) -> None:
        with self._lock:
            self._armed = IsoControls()

    def controls(self) -> IsoControls:
        with self._lock:
            return dataclasses.replace(self._armed, scripts=list(self._armed.scripts))

    def _take_line_fault(self) -> tuple[str, bool] | None:
        """The armed timeout/drop, disarmed: (action, applied)."""
        with self._lock:
            for name, action in (("timeout", "hold"), ("drop", "drop")):
                value = getattr(self._armed, name)
                if value is not None:
                    setattr(self._armed, name, None)
                    return action, value == "applied"
        return None

    def _take_sale_overrides(self) -> Overrides:
        with self._lock:
            armed = self._armed
            overrides = Overrides(armed.decline, armed.corrupt_arpc, tuple(armed.scripts))
            armed.decline, armed.corrupt_arpc, armed.scripts = None, False, []
        return overrides

    # -- frames (no sockets) ----------------------------------------------------------------------------

    def handle_frame(self, data: bytes) -> IsoReply:
        """The answer to one request frame, and what to do with the line."""
        try:
            frame = decode_frame(data)
        except Iso8583Error as exc:
            _log.warning("undecodable frame (%s): closing", exc)
            return IsoReply(None, "close")
        tak = self.issuer.keys.tak
        try:
            check_mac(frame, tak)
        except MacError as exc:
            _log.warning("%s: %s", frame.mti, exc)
            return IsoReply(self._error_answer(frame, "A0"))
        if frame.mti not in _SUPPORTED:
            return IsoReply(self._error_answer(frame, "40"))
        try:
            request = message_from_frame(frame)
        except Iso8583Error as exc:
            _log.warning("%s: %s", frame.mti, exc)
            return IsoReply(self._error_answer(frame, "30"))
        fault = self._take_line_fault()
        if fault is not None and not fault[1]:
            return IsoReply(None, fault[0])
        overrides = self._take_sale_overrides() if isinstance(request, SaleRequest) else Overrides()
        try:
            answer = self.issuer.handle(request, overrides)
        except Exception:  # a simulator bug must not look like a silent host: 96, system malfunction
            _log.exception("%s: the issuer failed", frame.mti)
            return IsoReply(self._error_answer(frame, "96"))
        if fault is not None:
            return IsoReply(None, fault[0])
        return IsoReply(encode_message(answer, mac_key=tak, tpdu=reply_tpdu(frame.tpdu), header=frame.header))

    def _error_answer(self, frame: Frame, code: str) -> bytes | None:
        if not frame.mti.isdigit() or int(frame.mti[2]) % 2:
            return None
        mti = frame.mti[:2] + str(int(frame.mti[2]) + 1) + frame.mti[3]
        fields: dict[int, Any] = {n: frame.fields[n] for n in _ECHOED if n in frame.fields}
        fields[39] = code
        answer = Frame(mti, fields, reply_tpdu(frame.tpdu), frame.header)
        try:
            return encode_frame(answer, mac_key=self.issuer.keys.tak)
        except Iso8583Error:
            return None


class _TcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    owner: IsoAcquirerServer


class _Handler(socketserver.BaseRequestHandler):
    request: socket.socket
    server: _TcpServer

    def _read(self, count: int) -> bytes | None:
        data = bytearray()
        while len(data) < count:
            chunk = self.request.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def handle(self) -> None:
        owner = self.server.owner
        self.request.settimeout(_READ_TIMEOUT)
        try:
            while True:
                prefix = self._read(LENGTH_PREFIX)
                if prefix is None:
                    return
                body = self._read(body_length(prefix))
                if body is None:
                    return
                reply = owner.handle_frame(prefix + body)
                if reply.action == "drop":
                    # SO_LINGER 0: close with a reset, as a line that drops.
                    self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if reply.action == "hold":
                    self._hold(owner)
                    return
                if reply.frame is None:
                    return
                self.request.sendall(reply.frame)
        except OSError as exc:
            _log.info("connection ended: %s", type(exc).__name__)

    def _hold(self, owner: IsoAcquirerServer) -> None:
        """Say nothing until the terminal hangs up, the hold ends or the server stops."""
        self.request.settimeout(0.2)
        waited = 0.0
        while waited < owner.hold_seconds and not owner._stopping.is_set():
            try:
                if not self.request.recv(4096):
                    return
            except TimeoutError:
                waited += 0.2
