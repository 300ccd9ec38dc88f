"""Moving APDU bytes: the contracts, and the one transport that needs no device.

- :class:`Transport` — one small contract (connect, transmit, disconnect, reconnect, transaction) every
  card transport implements. The PC/SC one (pyscard) is a driver: :mod:`drivers.readers`.
- :class:`VirtualCard` and :class:`PowerLost` — what a virtual card implements (``simulators`` provide
  them); :class:`InProcessTransport` carries APDUs to one in this process.

Transports move bytes only. Status words, GET RESPONSE and tracing are handled once, above every
transport, by :func:`cardservice.apdu.transceive`.
"""

from cardservice.transport._base import Disposition, Transport
from cardservice.transport._inprocess import InProcessTransport
from cardservice.transport._virtual import PowerLost, VirtualCard

__all__ = ["Disposition", "InProcessTransport", "PowerLost", "Transport", "VirtualCard"]
