"""Card dispensers (发卡机) on serial lines: :class:`cardservice.issuance.CardDispenser` drivers.

    K720Dispenser(port, address=0, ...)     TTCE K720 / K730 / K750 (kind ``k720``), over pyserial
    k720_dispenser(device, **options)       the entry point (``card-issuer batch --dispenser k720:DEVICE``)

The protocol — one table of commands, one of status bits, the frame codec, and the sources it was read
from (confirmed facts and our own choices) — is :mod:`drivers.dispenser._protocol`, sans I/O; the
simulator (:mod:`simulators.dispenser`) speaks it from the same tables.
"""

from drivers.dispenser._k720 import K720Dispenser, k720_dispenser
from drivers.dispenser._protocol import COMMANDS, STATUS_BITS, Command, StatusBit

__all__ = ["COMMANDS", "STATUS_BITS", "Command", "K720Dispenser", "StatusBit", "k720_dispenser"]
