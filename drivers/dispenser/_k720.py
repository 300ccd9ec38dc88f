"""A TTCE K720 / K750 card dispenser on a serial line (pyserial): a
:class:`cardservice.issuance.CardDispenser`, kind ``k720``.

Every command is the exchange of :mod:`drivers.dispenser._protocol`: the frame, the device's ACK, our ENQ,
and for a status query the reply frame. A motion (FC7, FC4, CP, RS) is acknowledged at once and then
done by the machine; the driver polls the status (``AP``) until the card is where it was sent, as the
vendor's reference process describes, and turns the status bits into :class:`DispenserError` codes:
a jam → ``dispenser_jam``, an empty stack on a move → ``dispenser_empty``, other error bits →
``dispenser_fault``, no answer or a motion past its time → ``dispenser_timeout``, bytes that are not the
protocol (or a NAK) → ``dispenser_protocol``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from cardservice.issuance import DispenserError, DispenserStatus
from drivers.dispenser._protocol import (
    ACK,
    COMMANDS,
    ENQ,
    NAK,
    control,
    decode_frame,
    decode_status,
    encode_frame,
    frame_length,
    status_of,
)

__all__ = ["K720Dispenser", "k720_dispenser"]


class Port(Protocol):
    """What the driver needs of a serial port (a ``serial.Serial``; its ``timeout`` bounds each read)."""

    def write(self, data: bytes) -> int | None: ...

    def read(self, size: int) -> bytes: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


class K720Dispenser:
    """The dispenser at *address* (its DIP switch, 0..15) on *port*. *reply_timeout*: seconds for an
    ACK or a reply (the port's read timeout should be the same); *motion_timeout*: seconds for a card
    to arrive where it was sent; *poll*: seconds between status queries while a card moves."""

    kind = "k720"

    def __init__(
        self,
        port: Port,
        *,
        address: int = 0,
        reply_timeout: float = 1.0,
        motion_timeout: float = 15.0,
        poll: float = 0.2,
        name: str = "",
    ) -> None:
        control(ACK, address)  # a bad address fails here, not at the first command
        self._port = port
        self.address = address
        self.reply_timeout = reply_timeout
        self.motion_timeout = motion_timeout
        self.poll = poll
        self.name = name or f"K720 at address {address}"
        self._lock = threading.Lock()

    # -- the contract ------------------------------------------------------------------------------

    def status(self) -> DispenserStatus:
        payload = self._exchange("status")
        return status_of(decode_status(payload))

    def to_read_position(self) -> None:
        status = self.status()
        if status.card_at_read_position:
            return
        self._refuse(status)
        if status.card_at_mouth:
            raise DispenserError("dispenser_fault", "a card waits at the mouth: take it out first")
        if status.stack_empty:
            raise DispenserError("dispenser_empty", f"status {status.raw}")
        self._move("to_read_position", lambda s: s.card_at_read_position)

    def present(self) -> None:
        self._refuse(self.status())
        self._move("present", lambda s: not s.card_at_read_position)

    def capture(self) -> None:
        self._refuse(self.status())
        self._move("capture", lambda s: not (s.card_at_read_position or s.card_at_mouth))

    def reset(self) -> None:
        self._move("reset", lambda s: True, check=False)

    def close(self) -> None:
        self._port.close()

    def __repr__(self) -> str:
        return f"K720Dispenser({self.name!r})"

    # -- motions -----------------------------------------------------------------------------------

    @staticmethod
    def _refuse(status: DispenserStatus) -> None:
        """Before a motion: the device's own state forbids it (jam, error bits)."""
        problem = status.problem()
        if problem is not None:
            raise problem

    def _move(self, name: str, arrived: Callable[[DispenserStatus], bool], *, check: bool = True) -> None:
        self._exchange(name)
        deadline = time.monotonic() + self.motion_timeout
        while True:
            status = self.status()
            if not status.busy:
                if check and name == "to_read_position" and status.stack_empty and not arrived(status):
                    raise DispenserError("dispenser_empty", f"status {status.raw}")
                if check:
                    self._refuse(status)
                if arrived(status):
                    return
            if time.monotonic() >= deadline:
                late = f"{name}: not done after {self.motion_timeout:g} s (status {status.raw})"
                raise DispenserError("dispenser_timeout", late)
            time.sleep(self.poll)

    # -- the exchange ------------------------------------------------------------------------------

    def _exchange(self, name: str) -> bytes:
        """Send the command *name*; its reply frame's payload (empty for a motion)."""
        command = COMMANDS[name]
        with self._lock:
            self._port.reset_input_buffer()
            self._port.write(encode_frame(self.address, command.code))
            answer = self._read(3, f"acknowledgement of {name}")
            if answer == control(NAK, self.address):
                raise DispenserError("dispenser_protocol", f"{name}: the dispenser answered NAK")
            if answer != control(ACK, self.address):
                raise DispenserError("dispenser_protocol", f"{name}: {answer.hex(' ')} is no ACK")
            self._port.write(control(ENQ, self.address))
            if not command.replies:
                return b""
            header = self._read(5, f"reply to {name}")
            frame = header + self._read(frame_length(header) - 5, f"rest of the reply to {name}")
            address, payload = decode_frame(frame)
            if address != self.address:
                raise DispenserError("dispenser_protocol", f"{name}: reply from address {address}")
            return payload

    def _read(self, size: int, what: str) -> bytes:
        data = self._port.read(size)
        if len(data) < size:
            got = f" (got {data.hex(' ')})" if data else ""
            raise DispenserError("dispenser_timeout", f"no {what} within {self.reply_timeout:g} s{got}")
        return bytes(data)


def _number(options: dict[str, str], key: str, default: float, kind: type = float) -> float:
    text = options.pop(key, None)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{key} must not be negative")
    return float(value)


def k720_dispenser(device: str, **options: str) -> K720Dispenser:
    """The ``k720`` entry point: ``k720:DEVICE[,address=N][,baudrate=9600][,timeout=S]
    [,motion_timeout=S][,poll=S]`` (DEVICE: ``/dev/ttyUSB0``, ``/dev/ttyS0``, a simulator's pty).
    A bad option is a :class:`ValueError`; a port that cannot be opened a ``dispenser_fault``."""
    import serial

    settings = dict(options)
    address = int(_number(settings, "address", 0, int))
    baudrate = int(_number(settings, "baudrate", 9600, int))
    reply = _number(settings, "timeout", 1.0)
    motion = _number(settings, "motion_timeout", 15.0)
    poll = _number(settings, "poll", 0.2)
    if settings:
        raise ValueError(f"unknown option(s) {', '.join(sorted(settings))} (known: address, baudrate, "
                         "timeout, motion_timeout, poll)")  # fmt: skip
    if not device:
        raise ValueError("give the dispenser's serial device, e.g. k720:/dev/ttyUSB0")
    control(ACK, address)  # a bad address: ValueError before the port is opened
    try:
        port = serial.Serial(device, baudrate=baudrate, timeout=reply, write_timeout=reply)
    except (serial.SerialException, OSError) as exc:
        raise DispenserError("dispenser_fault", f"cannot open {device}: {exc}") from None
    return K720Dispenser(
        port, address=address, reply_timeout=reply, motion_timeout=motion, poll=poll, name=device
    )
