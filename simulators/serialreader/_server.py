"""The serial reader's I/O: a pty that pcscd's ``libccidtwin`` opens as the reader's serial port, and a TCP
port where a card attaches exactly as it attaches to vpcd — so ``card-sim serve --vpcd localhost:PORT IMAGE``
puts any card-sim card (faults, control socket and all) into the serial reader, unchanged.

The card link is vpcd's protocol from the reader's side (simulators/vpcd.py): 2-byte big-endian length +
payload; ``00`` power off, ``01`` power on, ``02`` reset (no replies), ``04`` → the ATR; a longer payload
is an APDU, answered with data ‖ SW. A card connecting is a card inserted, its connection closing a card
pulled. One thread, one ``select`` loop over the pty, the listening socket and the card's socket, so the
reader's state is never touched by two threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import tty
from pathlib import Path

from cardservice.transport import PowerLost
from simulators.serialreader._twin import TwinReader

__all__ = ["RemoteCard", "SerialReaderServer"]

log = logging.getLogger(__name__)

_CARD_TIMEOUT = 10.0  # a card that does not answer an APDU in this long is treated as pulled


class RemoteCard:
    """A card on the other end of a vpcd-protocol connection, as a :class:`VirtualCard`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(_CARD_TIMEOUT)
        self.gone = False  # the connection broke during an exchange: the card was pulled

    def _send(self, payload: bytes) -> None:
        try:
            self.sock.sendall(len(payload).to_bytes(2, "big") + payload)
        except OSError:
            self.gone = True
            raise PowerLost("the card is gone") from None

    def _receive(self) -> bytes:
        head = self._exactly(2)
        return self._exactly(int.from_bytes(head, "big"))

    def _exactly(self, count: int) -> bytes:
        data = bytearray()
        while len(data) < count:
            try:
                chunk = self.sock.recv(count - len(data))
            except OSError:
                chunk = b""
            if not chunk:
                self.gone = True
                raise PowerLost("the card is gone")
            data += chunk
        return bytes(data)

    def power_on(self) -> bytes:
        self._send(b"\x01")
        self._send(b"\x04")
        return self._receive()

    def power_off(self) -> None:
        with contextlib.suppress(PowerLost):
            self._send(b"\x00")

    def reset(self) -> bytes:
        self._send(b"\x02")
        self._send(b"\x04")
        return self._receive()

    def process(self, apdu: bytes) -> bytes:
        self._send(apdu)
        return self._receive()


class SerialReaderServer:
    """The reader's pty (its slave reachable at *link*) and its card port on *host*:*port*."""

    def __init__(self, link: Path, port: int, host: str = "127.0.0.1") -> None:
        self.link = link
        self.reader = TwinReader()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo or line editing before the driver sets its own modes
        tty.setraw(self._master)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.ttyname(self._slave))
        self._listener = socket.create_server((host, port), reuse_port=False)
        self.port = self._listener.getsockname()[1]
        self._card: socket.socket | None = None
        self._stop_r, self._stop_w = os.pipe()

    def serve(self) -> None:
        """Until :meth:`stop`."""
        while True:
            watched: list[int | socket.socket] = [self._master, self._listener, self._stop_r]
            if self._card is not None:
                watched.append(self._card)
            ready, _, _ = select.select(watched, [], [], 0.2)
            if self._stop_r in ready:
                return
            if self._listener in ready:
                self._accept()
            if self._card is not None and self._card in ready:
                self._card_spoke()
            if self._master in ready:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    data = b""  # no driver has the port open: nothing to do
                if data:
                    self._write(self.reader.feed(data))
                    card = self.reader.card
                    if isinstance(card, RemoteCard) and card.gone:
                        self._drop_card()  # pulled mid-command
            self._write(self.reader.notices())

    def _accept(self) -> None:
        sock, peer = self._listener.accept()
        if self._card is not None:
            log.warning("a second card from %s refused: the slot is taken", peer)
            sock.close()
            return
        self._card = sock
        self.reader.insert(RemoteCard(sock))
        log.info("card inserted (%s)", peer)

    def _card_spoke(self) -> None:
        """The card's socket is readable outside an exchange: it closed (pulled)."""
        assert self._card is not None
        try:
            data = self._card.recv(1, socket.MSG_PEEK)
        except OSError:
            data = b""
        if not data:
            self._drop_card()

    def _drop_card(self) -> None:
        if self._card is not None:
            with contextlib.suppress(OSError):
                self._card.close()
        self._card = None
        if self.reader.card is not None:
            self.reader.remove()
        log.info("card removed")

    def _write(self, data: bytes) -> None:
        if data:
            with contextlib.suppress(OSError):
                os.write(self._master, data)

    def stop(self) -> None:
        os.write(self._stop_w, b"x")

    def close(self) -> None:
        self._drop_card()
        self._listener.close()
        for fd in (self._master, self._slave, self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
