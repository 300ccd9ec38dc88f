"""Bridge between a :class:`~cardservice.transport.VirtualCard` and a vpcd reader slot (vsmartcard's pcscd
driver).

vpcd protocol (see shared/notes/platform.md): the bridge is the TCP *client*; vpcd listens, one port
per reader slot. Every message is a 2-byte big-endian length followed by the payload. A 1-byte payload is a
control byte — ``00`` power off, ``01`` power on, ``02`` reset (no reply to any of these), ``04`` "send the
ATR" (reply: the ATR as one framed message). A longer payload is a command APDU; the reply is the framed
response (data ‖ SW1 SW2). Connecting is inserting the card, closing the connection is pulling it.

vpcd checks presence by asking for the ATR on every pcscd poll (every 400 ms), so ``04`` must never reset the
card. vpcd reads a reply with a blocking ``recv`` and no timeout: while the bridge is muted the reader thread
of pcscd waits (``SCardTransmit`` hangs) until the bridge unmutes — then the held command is executed and
answered late — or the card is removed (the transmit fails, the card is gone). ``mute(timeout=S)`` models
a real reader's own timeout instead: a command held for S seconds makes the bridge pull the card (the
waiting application gets an error, not a hang); ``unmute`` puts it back.

Fault injection: :meth:`VpcdBridge.tear` arms ``card.faults.tear``; when
:class:`~cardservice.transport.PowerLost` comes out of ``process`` no reply is sent, the connection is
closed (the card is pulled mid-command) and the card goes back in after ``reinsert_delay`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from cardservice.transport import PowerLost, VirtualCard

__all__ = [
    "CTRL_ATR",
    "CTRL_POWER_OFF",
    "CTRL_POWER_ON",
    "CTRL_RESET",
    "VpcdBridge",
    "decode_frames",
    "encode_frame",
]

log = logging.getLogger(__name__)

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_ATR = 0x04

_BACKOFF_FIRST = 0.1
_BACKOFF_CAP = 2.0
_CONNECT_TIMEOUT = 2.0
# A reply must not block the bridge forever if vpcd stops reading; 5 s is far beyond any sane pcscd.
_SEND_TIMEOUT = 5.0
_SW_NO_PRECISE_DIAGNOSIS = b"\x6f\x00"


def encode_frame(payload: bytes) -> bytes:
    """One vpcd message: 2-byte big-endian length ‖ payload (1..65535 bytes)."""
    if not 0 < len(payload) <= 0xFFFF:
        raise ValueError("a vpcd payload is 1..65535 bytes")
    return len(payload).to_bytes(2, "big") + payload


def decode_frames(buffer: bytearray) -> list[bytes]:
    """Take every complete message out of *buffer* (what stays is an incomplete one).

    vpcd writes the length and the payload with separate ``send`` calls, so a message may arrive in
    any number of pieces. A zero length is malformed (no control byte, no APDU): :class:`ValueError`.
    """
    frames: list[bytes] = []
    while len(buffer) >= 2:
        length = int.from_bytes(buffer[:2], "big")
        if length == 0:
            raise ValueError("vpcd message of length 0")
        if len(buffer) < 2 + length:
            break
        frames.append(bytes(buffer[2 : 2 + length]))
        del buffer[: 2 + length]
    return frames


class _Leave(Exception):
    """Internal: end the current connection (removed, swapped, stopped, torn or a protocol error)."""


class VpcdBridge:
    """Puts one virtual card into one vpcd reader slot, from a background thread.

    ``VpcdBridge(load_card(path), "127.0.0.1", 40000).start()`` inserts the card; :meth:`remove` /
    :meth:`insert` pull and push it, :meth:`swap` exchanges it, :meth:`set_latency`, :meth:`mute` and
    :meth:`tear` inject faults. Every control method is thread-safe and returns at once; the effect is
    visible on the wire within milliseconds. A bridge with ``card=None`` stays out of the reader.

    ``reinsert_delay``: seconds a torn card stays out before going back in (``None``: until
    :meth:`insert`). ``on_event``: called (from the bridge thread) with one human-readable line per
    insertion, removal and vpcd outage — the CLI prints them.
    """

    #: Seconds a swapped card leaves the reader empty: longer than pcscd's 400 ms poll, so applications
    #: see a removal and an insertion rather than a silently different card.
    swap_gap = 0.5
    #: The slot's card feeder (``simulators.feeder.Feeder``), if ``serve --feeder`` made one.
    feeder: Any = None

    def __init__(
        self,
        card: VirtualCard | None,
        host: str,
        port: int,
        *,
        name: str = "card",
        reinsert_delay: float | None = 0.5,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.name = name
        self.reinsert_delay = reinsert_delay
        self._on_event = on_event
        self._card = card
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._inserted = True
        self._reinsert_at = 0.0
        self._generation = 0  # bumped by every control that must end the current connection
        self._latency = 0.0
        self._muted = False
        self._held: bytes | None = None  # an APDU read while muted, answered on unmute
        self._held_since = 0.0
        self._mute_timeout: float | None = None  # None: hold until unmute or remove
        self._mute_in: int | None = None  # APDUs still answered before a mute armed with after_commands
        self._armed_timeout: float | None = None
        self._out_until_unmute = False
        self._connected = False
        self._sock: socket.socket | None = None
        self._atr: bytes | None = None
        self._apdus = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the bridge thread; it connects (inserts the card) as soon as vpcd listens."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the bridge is already started")
            self._thread = threading.Thread(
                target=self._run, name=f"vpcd-{self.name}-{self.port}", daemon=True
            )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Pull the card and end the thread. Idempotent."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._poke()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    def __enter__(self) -> VpcdBridge:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- controls ----------------------------------------------------------------------------------

    def insert(self) -> None:
        """Put the card in (now). Without a card the reader stays empty."""
        with self._lock:
            self._inserted = True
            self._reinsert_at = 0.0
        self._poke()

    def remove(self) -> None:
        """Pull the card: the connection closes; pcscd reports the removal at its next poll."""
        with self._lock:
            self._inserted = False
            self._generation += 1
        self._poke()

    def swap(self, card: VirtualCard | None) -> None:
        """Exchange the card. If one was in the reader, the slot is empty for :attr:`swap_gap` seconds."""
        with self._lock:
            old, self._card = self._card, card
            self._atr = None
            self._held = None
            self._generation += 1
            if old is not None and self._inserted:
                self._reinsert_at = time.monotonic() + self.swap_gap
        self._poke()

    def set_latency(self, ms: float) -> None:
        """Delay every APDU response by *ms* milliseconds (control bytes and the ATR are not delayed)."""
        if ms < 0:
            raise ValueError("latency must not be negative")
        with self._lock:
            self._latency = ms / 1000.0
        self._poke()

    def mute(self, timeout: float | None = None, *, after_commands: int = 0) -> None:
        """Stop answering APDUs: the next command is read and held, with no reply.

        Without *timeout* the reader hangs until :meth:`unmute` (vpcd has no timeout of its own). With
        it, a command held for *timeout* seconds pulls the card, as a real reader gives up on a mute
        card; the card stays out until :meth:`unmute`. *after_commands*: answer that many more commands
        first (a card that goes mute in the middle of a transaction).
        """
        if timeout is not None and not timeout > 0:
            raise ValueError("mute timeout must be positive")
        if after_commands < 0:
            raise ValueError("after_commands must not be negative")
        with self._lock:
            if after_commands:
                self._mute_in, self._armed_timeout = after_commands, timeout
            else:
                self._muted = True
                self._mute_timeout = timeout
        self._poke()

    def unmute(self) -> None:
        """Answer again, starting with the held command if there is one; a card pulled by a mute
        timeout goes back in."""
        with self._lock:
            self._muted = False
            self._mute_timeout = None
            self._mute_in = None
            if self._out_until_unmute:
                self._out_until_unmute = False
                self._inserted = True
                self._reinsert_at = 0.0
        self._poke()

    def tear(self, after_commands: int = 0, after_nvm_writes: int = 0) -> None:
        """Arm a power cut in the card (``card.faults.tear``); see the module docstring."""
        with self._lock:
            faults = getattr(self._card, "faults", None)
            if faults is None:
                raise ValueError(f"the card in slot {self.name!r} has no fault injector")
            faults.tear(after_commands=after_commands, after_nvm_writes=after_nvm_writes)

    # -- inspection --------------------------------------------------------------------------------

    @property
    def card(self) -> VirtualCard | None:
        return self._card

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot: inserted, connected, muted, latency (ms), APDUs served, serial (hex)."""
        with self._lock:
            card = self._card
            serial = getattr(card, "serial", None)
            nodelay: bool | None = None
            if self._sock is not None:
                try:
                    nodelay = bool(self._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                except OSError:
                    nodelay = None
            return {
                "slot": self.name,
                "vpcd": f"{self.host}:{self.port}",
                "inserted": card is not None and self._inserted and time.monotonic() >= self._reinsert_at,
                "connected": self._connected,
                "muted": self._muted,
                "latency_ms": round(self._latency * 1000.0, 3),
                "apdus": self._apdus,
                "serial": serial.hex().upper() if isinstance(serial, bytes) else None,
                "image": getattr(card, "image_path", None),
                "tcp_nodelay": nodelay,
            }

    def wait_connected(self, timeout: float) -> bool:
        """Block until the card is connected to vpcd (inserted), at most *timeout* seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._connected, timeout)

    def wait_disconnected(self, timeout: float) -> bool:
        """Block until the card's connection is closed, at most *timeout* seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._connected, timeout)

    def __repr__(self) -> str:
        state = "connected" if self._connected else "out"
        return f"VpcdBridge({self.name!r}, {self.host}:{self.port}, {state})"

    # -- the bridge thread -------------------------------------------------------------------------

    def _poke(self) -> None:
        """Wake the bridge thread so it re-reads the controls."""
        # OSError: a wake-up is already pending (buffer full), or the bridge is stopped.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\x00")

    def _drain(self) -> None:
        try:
            self._wake_r.setblocking(False)
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        finally:
            self._wake_r.setblocking(True)

    def _wait(self, seconds: float | None) -> None:
        """Sleep until *seconds* pass or a control pokes the thread."""
        readable, _, _ = select.select([self._wake_r], [], [], seconds)
        if readable:
            self._drain()

    def _emit(self, message: str) -> None:
        log.info("%s", message)
        if self._on_event is not None:
            try:
                self._on_event(message)
            except Exception:  # a broken listener must not stop the card
                log.exception("on_event listener failed")

    def _describe_card(self) -> str:
        serial = getattr(self._card, "serial", None)
        return f" (serial {serial.hex().upper()})" if isinstance(serial, bytes) else ""

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        outage = False
        while True:
            with self._lock:
                if self._stopping:
                    return
                delay: float | None = None
                wanted = self._card is not None and self._inserted
                if wanted:
                    delay = self._reinsert_at - time.monotonic()
                    if self._reinsert_at and delay <= 0:
                        self._reinsert_at = 0.0
                generation = self._generation
            if not wanted:
                self._wait(None)
                continue
            if delay is not None and delay > 0:
                self._wait(delay)
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=_CONNECT_TIMEOUT)
            except OSError as exc:
                if not outage:
                    outage = True
                    self._emit(f"vpcd {self.host}:{self.port} not reachable ({exc}); retrying")
                self._wait(backoff)
                backoff = min(backoff * 2, _BACKOFF_CAP)
                continue
            outage, backoff = False, _BACKOFF_FIRST
            try:
                self._serve(sock, generation)
            except Exception:  # the thread must survive anything; the card is re-inserted
                log.exception("vpcd bridge %s: unexpected error", self.name)
                self._wait(_BACKOFF_FIRST)

    def _serve(self, sock: socket.socket, generation: int) -> None:
        """One insertion: from connect to close."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(_SEND_TIMEOUT)
        with self._changed:
            self._sock, self._connected = sock, True
            inserted_card = self._card
            self._changed.notify_all()
        self._emit(f"{self.name} inserted in vpcd {self.host}:{self.port}{self._describe_card()}")
        reason = "removed from"
        try:
            self._converse(sock, generation)
        except _Leave as leave:
            reason = str(leave) or reason
        finally:
            with self._changed:
                self._sock, self._connected = None, False
                self._held = None
                self._atr = None
                self._changed.notify_all()
            sock.close()
            if inserted_card is not None:
                inserted_card.power_off()  # pulled: volatile state goes, as in a real card
            self._emit(f"{self.name} {reason} vpcd {self.host}:{self.port}")

    def _check(self, generation: int) -> None:
        with self._lock:
            if self._stopping:
                raise _Leave("removed (bridge stopped) from")
            if self._generation != generation or not self._inserted:
                raise _Leave("removed from")

    def _converse(self, sock: socket.socket, generation: int) -> None:
        buffer = bytearray()
        quickack = getattr(socket, "TCP_QUICKACK", None)
        while True:
            self._check(generation)
            with self._lock:
                held = None if self._muted else self._held
                if held is not None:
                    self._held = None
            if held is not None:
                self._answer(sock, held, generation)
                continue
            readable, _, _ = select.select([sock, self._wake_r], [], [], self._mute_wait())
            if self._wake_r in readable:
                self._drain()
            if sock not in readable:
                continue
            try:
                chunk = sock.recv(65536)
            except OSError as exc:
                raise _Leave(f"lost the connection ({exc}) to") from None
            if not chunk:
                raise _Leave("disconnected by")
            if quickack is not None:
                # Linux clears quick-ACK mode after use: without re-arming it after every receive, vpcd's
                # split length/payload writes wait ~40 ms each for a delayed ACK.
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
            buffer += chunk
            try:
                frames = decode_frames(buffer)
            except ValueError as exc:
                log.warning("vpcd %s:%s: malformed message (%s); reconnecting", self.host, self.port, exc)
                raise _Leave("reconnecting to") from None
            for frame in frames:
                self._check(generation)
                if len(frame) == 1:
                    self._control(sock, frame[0], generation)
                    continue
                with self._lock:
                    if self._mute_in is not None:  # an armed mute: count the commands still answered
                        if self._mute_in == 0:
                            self._muted, self._mute_timeout, self._mute_in = True, self._armed_timeout, None
                        else:
                            self._mute_in -= 1
                    if self._muted or self._held is not None:
                        # vpcd sends nothing else until this is answered; keep the first one.
                        if self._held is None:
                            self._held, self._held_since = frame, time.monotonic()
                        log.debug("%s muted: holding %s", self.name, frame[:4].hex(" ").upper())
                        continue
                self._answer(sock, frame, generation)

    def _mute_wait(self) -> float | None:
        """Seconds until a held command times out (None: no timeout running); pulls the card when due."""
        with self._lock:
            if not self._muted or self._held is None or self._mute_timeout is None:
                return None
            remaining = self._held_since + self._mute_timeout - time.monotonic()
            if remaining > 0:
                return remaining
            self._held = None
            self._inserted = False
            self._out_until_unmute = True
            self._generation += 1
        raise _Leave("timed out (mute card); pulled from")

    def _control(self, sock: socket.socket, code: int, generation: int) -> None:
        with self._lock:
            self._check(generation)  # under the lock: a swap cannot slip in between
            card = self._card
            if card is None:
                raise _Leave("removed from")
            if code == CTRL_POWER_OFF:
                card.power_off()
            elif code in (CTRL_POWER_ON, CTRL_RESET):
                self._atr = card.power_on() if code == CTRL_POWER_ON else card.reset()
            elif code == CTRL_ATR:
                atr = self._atr or getattr(card, "atr", None)
                if not isinstance(atr, bytes):
                    # A presence check before any power on: vpcd polls with this, so it must not
                    # reset a powered card — only a card never powered gets its cold reset here.
                    atr = self._atr = card.power_on()
                reply = encode_frame(atr)
            else:
                log.warning("vpcd sent unknown control byte %02X; ignored", code)
                return
        if code == CTRL_ATR:
            self._send(sock, reply)

    def _answer(self, sock: socket.socket, apdu: bytes, generation: int) -> None:
        with self._lock:
            latency = self._latency
        deadline = time.monotonic() + latency
        while (remaining := deadline - time.monotonic()) > 0:
            self._wait(remaining)
            self._check(generation)  # a removal during the delay wins: no reply
        with self._lock:
            self._check(generation)
            card = self._card
            if card is None:
                raise _Leave("removed from")
            try:
                response = card.process(apdu)
            except PowerLost:
                self._after_tear()
                raise _Leave("lost power (torn command); pulled from") from None
            except Exception:  # VirtualCard.process must not raise; if it does, the reader still gets an SW
                log.exception("%s: card raised on %s", self.name, apdu[:4].hex(" ").upper())
                response = _SW_NO_PRECISE_DIAGNOSIS
            self._apdus += 1
        log.debug("%s: %s -> %s", self.name, apdu[:4].hex(" ").upper(), response[-2:].hex().upper())
        self._send(sock, encode_frame(response))

    def _after_tear(self) -> None:
        """Called with the lock held: keep the torn card out, then back in after ``reinsert_delay``."""
        self._generation += 1
        if self.reinsert_delay is None:
            self._inserted = False
        else:
            self._reinsert_at = time.monotonic() + self.reinsert_delay

    def _send(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendall(data)
        except OSError as exc:
            raise _Leave(f"lost the connection ({exc}) to") from None
