"""A virtual card dispenser (发卡机): a TTCE K720 on a pseudo-terminal, speaking the protocol of
:mod:`drivers.dispenser._protocol`, with card-sim blank cards in its stack and the reader at its read
position served to pcscd through vpcd — so issuing through it is real card I/O.

    python -m simulators.dispenser --pty ./ttyDISP --vpcd 127.0.0.1:40000 --cards 20 --dir DIR
    python -m simulators.dispenser ctl jam at=present after=6          # faults, through the control socket

In Python: :class:`DispenserSimulator` (machine + pty + vpcd bridge + control socket),
:class:`VirtualDispenser` (the machine and the protocol's device side), :func:`control_handler`.
"""

from simulators.dispenser._control import DISPENSER_COMMANDS, control_handler
from simulators.dispenser._line import LoopbackLine, PtyLine
from simulators.dispenser._machine import MOTIONS, REJECT_BIN_CAPACITY, VirtualDispenser
from simulators.dispenser._serve import DispenserSimulator

__all__ = [
    "DISPENSER_COMMANDS",
    "MOTIONS",
    "REJECT_BIN_CAPACITY",
    "DispenserSimulator",
    "LoopbackLine",
    "PtyLine",
    "VirtualDispenser",
    "control_handler",
]
