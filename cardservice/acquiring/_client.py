"""The thin TCP client of the acquirer link: one short connection per exchange, as CUP POS terminals do.

What a failure means is decided here, once (the same rule as the HTTP gateway's): a connection that could
not be opened sent nothing — :class:`AcquirerUnavailable`, nothing to undo. Once the connection is open the
request may have reached the host, so a failed send, a timeout or a connection closed before the whole answer
is :class:`AcquirerTimeout` — the host may have approved, and a sale must be reversed.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from cardservice.acquiring._errors import AcquirerTimeout, AcquirerUnavailable, Iso8583Error
from cardservice.acquiring._frame import DEFAULT_HEADER, DEFAULT_TPDU, LENGTH_PREFIX, body_length
from cardservice.acquiring._messages import Message, decode_message, encode_message

__all__ = ["AcquirerLink"]

_log = logging.getLogger("cardservice.acquiring")


def _answer_mti(mti: str) -> str:
    return mti[:2] + str(int(mti[2]) + 1) + mti[3]


class AcquirerLink:
    """The acquirer at *host*:*port*. ``connect_timeout``: how long opening may take (then nothing was
    sent); ``read_timeout``: how long the whole answer may take after the request went out."""

    def __init__(
        self, host: str, port: int, *, connect_timeout: float = 5.0, read_timeout: float = 30.0
    ) -> None:
        if connect_timeout <= 0 or read_timeout <= 0:
            raise ValueError("timeouts must be positive")
        self.host, self.port = host, port
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout

    def __repr__(self) -> str:
        return f"AcquirerLink({self.host!r}, {self.port})"

    def exchange(self, frame: bytes) -> bytes:
        """Send one frame (length prefix included) and return the answer frame (length prefix included)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            raise AcquirerUnavailable(
                f"acquirer {self.host}:{self.port} unreachable ({type(exc).__name__})"
            ) from None
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            deadline = time.monotonic() + self.read_timeout
            try:
                sock.settimeout(self.read_timeout)
                sock.sendall(frame)
                prefix = self._read(sock, LENGTH_PREFIX, deadline)
                return prefix + self._read(sock, body_length(prefix), deadline)
            except (TimeoutError, OSError) as exc:
                raise AcquirerTimeout(
                    f"acquirer {self.host}:{self.port}: no whole answer ({type(exc).__name__}); "
                    "the request may have been acted on"
                ) from None

    @staticmethod
    def _read(sock: socket.socket, count: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionResetError("closed before the whole answer")
            data += chunk
        return bytes(data)

    def transact(
        self,
        request: Message,
        *,
        mac_key: bytes,
        tpdu: bytes = DEFAULT_TPDU,
        header: bytes = DEFAULT_HEADER,
    ) -> Any:
        """Send a typed request, return the typed answer. The answer must be authentic (its MAC,
        :class:`MacError`) and answer THIS request (MTI, STAN, terminal; :class:`Iso8583Error`); either
        failure after a sale went out means: reverse it."""
        answer = decode_message(
            self.exchange(encode_message(request, mac_key=mac_key, tpdu=tpdu, header=header)), mac_key=mac_key
        )
        sent: Any = request
        if (
            _answer_mti(request.MTI) != answer.MTI
            or answer.stan != sent.stan
            or answer.terminal_id != sent.terminal_id
        ):
            raise Iso8583Error(f"the answer ({answer.MTI}) does not match the request ({request.MTI})")
        _log.info("acquirer %s -> %s %s", request.MTI, answer.MTI, getattr(answer, "response_code", ""))
        return answer
