"""One end of the PIN pad's line: acknowledgements, resends and duplicates, sans-I/O (time is a parameter).
The driver runs one for the host, the simulator one for the pad; the rules are the same both ways (OUR
CHOICE, like the frame: :mod:`._frames`):

- every frame is answered at once: ``ACK SEQ`` when it arrived whole, ``NAK`` when it was broken — a bad
  LEN, ETX or CRC, or cut short (no byte for ``frame_timeout`` in the middle of a frame);
- a sender has one frame in flight (stop-and-wait): the next one waits for its ACK;
- a NAK, or no ACK within ``ack_timeout``: the same bytes again, at most ``retries`` times; then the frame
  is dropped and the error raised — :class:`PinPadBadFrame` when the peer refused it (NAK),
  :class:`PinPadNoAnswer` when it said nothing;
- a frame equal to the last one received (same SEQ, same bytes) within ``resend_window`` is a resend whose
  ACK was lost: it is ACKed again and not delivered twice. Later, an equal frame is a new one (a restarted
  peer may reuse a SEQ);
- ``retries + 1`` broken frames in a row from the peer: :class:`PinPadBadFrame` (a noisy line or the
  wrong baud rate), so a host fails clearly instead of NAKing forever.

::

    link = Link(peer="pad")
    link.send(code, data)                      # queued; SEQ given (or the caller's, for a response)
    port.write(link.transmit(now))             # ACK/NAK owed, the next frame, or a resend that is due
    for frame in link.receive(port.read(...), now):
        ...                                    # each new frame once, in order
"""

from __future__ import annotations

from collections import deque

from cardservice.pinpad._errors import PinPadBadFrame, PinPadError, PinPadNoAnswer
from cardservice.pinpad._frames import Ack, BadFrame, Frame, FrameParser, Nak

__all__ = ["Link"]


class Link:
    """One end of the line. *peer* names the other end in error messages ("pad" or "host")."""

    def __init__(
        self,
        *,
        peer: str = "pad",
        ack_timeout: float = 0.3,
        retries: int = 3,
        frame_timeout: float = 0.3,
        resend_window: float = 2.0,
        first_seq: int = 0,
    ) -> None:
        self.peer = peer
        self.ack_timeout = ack_timeout
        self.retries = retries
        self.frame_timeout = frame_timeout
        self.resend_window = resend_window
        self._next_seq = first_seq & 0xFF
        self._parser = FrameParser()
        self._control = bytearray()  # ACK / NAK owed to the peer: they go ahead of any frame
        self._queue: deque[Frame] = deque()
        self._in_flight: Frame | None = None
        self._sent_at = 0.0
        self._sends = self._naks = 0
        self._nak_pending = False
        self._last_byte_at = 0.0
        self._last_received: tuple[bytes, float] | None = None
        self._bad_in_row = 0

    @property
    def idle(self) -> bool:
        """Nothing in flight, nothing queued."""
        return self._in_flight is None and not self._queue

    @property
    def unacknowledged(self) -> int:
        """Frames not acknowledged yet: the one in flight and those queued behind it."""
        return (self._in_flight is not None) + len(self._queue)

    @property
    def skipped(self) -> int:
        """Noise bytes the parser threw away."""
        return self._parser.skipped

    def reset(self) -> None:
        """Forget everything (the port was reopened): queue, frame in flight, bytes held, duplicates."""
        self._parser = FrameParser()
        self._control.clear()
        self._queue.clear()
        self._in_flight = None
        self._nak_pending = False
        self._last_received = None
        self._bad_in_row = 0

    def send(self, code: int, data: bytes = b"", *, seq: int | None = None) -> Frame:
        """Queue a frame; *seq* None takes the next number of this end."""
        if seq is None:
            seq, self._next_seq = self._next_seq, (self._next_seq + 1) & 0xFF
        frame = Frame(seq, code, data)
        self._queue.append(frame)
        return frame

    # -- bytes in -----------------------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> list[Frame]:
        """The new frames in *data*, in order; ACKs, NAKs and duplicates are handled here."""
        if data:
            self._last_byte_at = now
        delivered: list[Frame] = []
        for token in self._parser.parse(data):
            if isinstance(token, Frame):
                self._control += Ack(token.seq).encode()
                self._bad_in_row = 0
                wire = token.encode()
                last = self._last_received
                if last is not None and last[0] == wire and now - last[1] <= self.resend_window:
                    continue  # a resend: our ACK was lost
                self._last_received = (wire, now)
                delivered.append(token)
            elif isinstance(token, Ack):
                if self._in_flight is not None and token.seq == self._in_flight.seq:
                    self._in_flight = None
            elif isinstance(token, Nak):
                if self._in_flight is not None:
                    self._nak_pending = True
            else:
                self._broken(token)
        return delivered

    def _broken(self, bad: BadFrame) -> None:
        self._control += Nak().encode()
        self._bad_in_row += 1
        if self._bad_in_row > self.retries:
            count, self._bad_in_row = self._bad_in_row, 0
            raise PinPadBadFrame(
                f"{count} broken frames in a row from the {self.peer} (the last: {bad.problem}): "
                "a noisy line or the wrong baud rate",
                details={"problem": bad.problem, "frames": count},
            )

    # -- bytes out ----------------------------------------------------------------------------------------

    def transmit(self, now: float) -> bytes:
        """What to write now: the ACKs and NAKs owed, then a new frame or a resend that is due. Raises when
        a frame ran out of resends (it is dropped; what is owed stays for the next call)."""
        if self._parser.in_frame and now - self._last_byte_at >= self.frame_timeout:
            bad = self._parser.expire()
            if bad is not None:
                self._broken(bad)
        wire = b""
        if self._in_flight is None and self._queue:
            self._in_flight = self._queue.popleft()
            self._sends = self._naks = 0
            self._nak_pending = False
        frame = self._in_flight
        resend = self._nak_pending or now - self._sent_at >= self.ack_timeout
        if frame is not None and (self._sends == 0 or resend):
            if self._nak_pending:
                self._naks += 1
                self._nak_pending = False
            if self._sends > self.retries:
                self._in_flight = None
                raise self._failure(frame)
            self._sends += 1
            self._sent_at = now
            wire = self._wire(frame)
        out = bytes(self._control) + wire
        self._control.clear()
        return out

    def _wire(self, frame: Frame) -> bytes:
        """The bytes of *frame* on the line (a simulator's faults override this)."""
        return frame.encode()

    def _failure(self, frame: Frame) -> PinPadError:
        details = {"code": f"{frame.code:02X}", "sends": self._sends, "naks": self._naks}
        if self._naks:
            return PinPadBadFrame(
                f"the {self.peer} refused frame {frame.code:02X} (NAK) {self._naks} of {self._sends} times",
                details=details,
            )
        return PinPadNoAnswer(
            f"the {self.peer} did not acknowledge frame {frame.code:02X}, sent {self._sends} times",
            details=details,
        )
