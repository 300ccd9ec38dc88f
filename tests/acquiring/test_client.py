"""The thin client (cardservice.acquiring.AcquirerLink) against scripted loopback servers: what each way of
failing means — nothing sent (AcquirerUnavailable) or sent without a whole answer (AcquirerTimeout)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from cardservice.acquiring import (
    AcquirerLink,
    AcquirerTimeout,
    AcquirerUnavailable,
    Iso8583Error,
    MacError,
    SaleResponse,
    decode_frame,
)
from tests.acquiring.test_messages import ANSWER, ANSWER_HEX, REVERSAL, SALE, SALE_HEX, TAK

Behaviour = Callable[[socket.socket], None]


def _read_frame(conn: socket.socket) -> bytes:
    data = b""
    while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class ScriptedServer:
    """One loopback listener; each connection is handed to *behaviour*; requests are kept."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self.requests.append(_read_frame(conn))
                    self.behaviour(conn)
                except OSError:  # the client hung up first: that is what some tests do
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(behaviour: Behaviour) -> ScriptedServer:
        servers.append(ScriptedServer(behaviour))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _answer(frame: bytes) -> Behaviour:
    return lambda conn: conn.sendall(frame)


def test_exchange_returns_the_whole_answer(serve: Callable[[Behaviour], ScriptedServer]) -> None:
    def in_two_parts(conn: socket.socket) -> None:
        conn.sendall(ANSWER_HEX[:5])
        time.sleep(0.05)
        conn.sendall(ANSWER_HEX[5:])

    server = serve(in_two_parts)
    link = AcquirerLink("127.0.0.1", server.port, connect_timeout=2, read_timeout=2)
    assert link.exchange(SALE_HEX) == ANSWER_HEX
    assert server.requests == [SALE_HEX]


def test_transact_checks_and_types_the_answer(serve: Callable[[Behaviour], ScriptedServer]) -> None:
    server = serve(_answer(ANSWER_HEX))
    answer = AcquirerLink("127.0.0.1", server.port).transact(SALE, mac_key=TAK)
    assert isinstance(answer, SaleResponse)
    assert answer == ANSWER
    assert answer.approved
    assert decode_frame(server.requests[0], mac_key=TAK).mti == "0200"


def test_nothing_listening_is_unavailable() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with pytest.raises(AcquirerUnavailable, match="unreachable"):
        AcquirerLink("127.0.0.1", port, connect_timeout=1).exchange(SALE_HEX)


def test_a_silent_host_is_a_timeout_after_the_read_timeout(
    serve: Callable[[Behaviour], ScriptedServer],
) -> None:
    release = threading.Event()

    def silent(conn: socket.socket) -> None:
        release.wait(5)

    server = serve(silent)
    started = time.monotonic()
    with pytest.raises(AcquirerTimeout, match="may have been acted on"):
        AcquirerLink("127.0.0.1", server.port, read_timeout=0.3).exchange(SALE_HEX)
    release.set()
    assert 0.25 < time.monotonic() - started < 3
    assert server.requests == [SALE_HEX]  # it was sent: that is why it is a timeout, not unavailable


def test_a_trickling_host_is_held_to_one_deadline(serve: Callable[[Behaviour], ScriptedServer]) -> None:
    def trickle(conn: socket.socket) -> None:
        for byte in ANSWER_HEX[:20]:
            conn.sendall(bytes((byte,)))
            time.sleep(0.05)

    server = serve(trickle)
    started = time.monotonic()
    with pytest.raises(AcquirerTimeout):
        AcquirerLink("127.0.0.1", server.port, read_timeout=0.4).exchange(SALE_HEX)
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize("sent", [0, 1, 30], ids=["nothing", "half a length", "part of the answer"])
def test_a_line_closed_before_the_whole_answer_is_a_timeout(
    serve: Callable[[Behaviour], ScriptedServer], sent: int
) -> None:
    server = serve(_answer(ANSWER_HEX[:sent]))
    with pytest.raises(AcquirerTimeout, match="no whole answer"):
        AcquirerLink("127.0.0.1", server.port, read_timeout=2).exchange(SALE_HEX)


def test_an_answer_with_a_bad_mac_is_a_mac_error(serve: Callable[[Behaviour], ScriptedServer]) -> None:
    server = serve(_answer(ANSWER_HEX[:-1] + b"0"))
    with pytest.raises(MacError):
        AcquirerLink("127.0.0.1", server.port).transact(SALE, mac_key=TAK)


def test_an_answer_to_another_request_is_refused(serve: Callable[[Behaviour], ScriptedServer]) -> None:
    server = serve(_answer(ANSWER_HEX))
    with pytest.raises(Iso8583Error, match=r"the answer \(0210\) does not match the request \(0400\)"):
        AcquirerLink("127.0.0.1", server.port).transact(REVERSAL, mac_key=TAK)


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        AcquirerLink("127.0.0.1", 1, read_timeout=0)
