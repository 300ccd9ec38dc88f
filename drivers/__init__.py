"""Device drivers: the wire-level code of every device, behind the small contracts cardservice owns.

    drivers.readers     card readers over PC/SC (pyscard, pcscd; serial readers too, through pcscd's
                        serial CCID driver): PcscTransport (a cardservice.transport.Transport),
                        PcscBackend (a cardservice.readers.ReaderBackend), PcscCardSource (a
                        cardservice.issuance.CardSource)
    drivers.printers    ESC/POS receipt printers over python-escpos (network, serial, USB, file) and
                        DummyPrinter: cardservice.printing.ReceiptPrinter
    drivers.feeders     card feeders: card-sim's virtual feeder
    drivers.dispenser   card dispensers (发卡机) on serial lines: the TTCE K720 / K750 protocol as tables,
                        K720Dispenser (a cardservice.issuance.CardDispenser, kind "k720")
    drivers.idcard      resident ID-card readers (GA/T 467 SAM_V) over pyserial: SerialIdCardReader (a
                        cardservice.idcard.IdCardReader, kind "serial")

Drivers depend on the library, never the reverse: the daemon and the command line find a driver by the
``kind`` of its configuration, through the entry points in pyproject.toml (:mod:`cardservice.plugins`).
A new device is a new subpackage here that implements a contract of cardservice and declares its entry
point; the PIN pad on a serial line comes next.
"""

__all__: list[str] = []
