"""Card readers over PC/SC (pyscard, pcscd): the transport, the reader backend of the daemon's reader
manager, and the blank-card source of the card issuer.

    PcscTransport(reader, share="shared" | "exclusive")   a cardservice.transport.Transport
    list_readers(), wait_for_card(reader, timeout), wait_for_removal(reader, timeout)
    PcscBackend()                                          a cardservice.readers.ReaderBackend, kind "pcsc"
    PcscCardSource(reader, eject_via=..., wait=...)        a cardservice.issuance.CardSource

Readers on serial lines are served by pcscd too (the serial CCID driver), so they are PC/SC readers
here. All waits are PC/SC events (``SCardGetStatusChange``), never fixed sleeps.
"""

from drivers.readers._backend import PcscBackend
from drivers.readers._pcsc import PcscTransport, list_readers, wait_for_card, wait_for_removal
from drivers.readers._source import PcscCardSource

__all__ = [
    "PcscBackend",
    "PcscCardSource",
    "PcscTransport",
    "list_readers",
    "wait_for_card",
    "wait_for_removal",
]
