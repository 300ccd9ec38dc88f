"""Card transports: one contract (:class:`Transport`), several implementations.

- :class:`PcscTransport` — a PC/SC reader through pyscard (real readers, and the
  simulator attached to pcscd through vpcd); :func:`list_readers`, :func:`wait_for_card` and
  :func:`wait_for_removal` wait on PC/SC events, never on fixed sleeps.
- :class:`InProcessTransport` — a virtual card from :mod:`simulators` in the same process.

Transports move bytes only. Status words, GET RESPONSE and tracing are handled once, above
every transport, by :func:`cardservice.apdu.transceive`.
"""

from cardservice.transport._base import Disposition, Transport
from cardservice.transport._inprocess import InProcessTransport
from cardservice.transport._pcsc import PcscTransport, list_readers, wait_for_card, wait_for_removal

__all__ = [
    "Disposition",
    "InProcessTransport",
    "PcscTransport",
    "Transport",
    "list_readers",
    "wait_for_card",
    "wait_for_removal",
]
