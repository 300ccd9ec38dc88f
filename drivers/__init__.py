"""Device drivers: the wire-level code of every device, behind the small contracts cardservice owns.

    drivers.readers     card readers over PC/SC (pyscard, pcscd; serial readers too, through pcscd's
                        serial CCID driver): PcscTransport (a cardservice.transport.Transport),
                        PcscBackend (a cardservice.readers.ReaderBackend), PcscCardSource (a
                        cardservice.issuance.CardSource)
    drivers.printers    ESC/POS receipt printers over python-escpos (network, serial, USB, file) and
                        DummyPrinter: cardservice.printing.ReceiptPrinter
    drivers.feeders     card feeders and dispensers: card-sim's virtual feeder

Drivers depend on the library, never the reverse: the daemon and the command line find a driver by the
``kind`` of its configuration, through the entry points in pyproject.toml (:mod:`cardservice.plugins`).
A new device is a new subpackage here that implements a contract of cardservice and declares its entry
point; the ID-card reader (GA/T 467), the PIN pad and the card dispenser on serial lines come next.
"""

__all__: list[str] = []
