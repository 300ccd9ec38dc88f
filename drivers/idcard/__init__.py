"""ID-card readers (身份证阅读器, GA/T 467 SAM_V) behind the library's contract,
:class:`cardservice.idcard.IdCardReader` (the library owns it and never imports this package: the daemon
finds the driver by configuration ``kind`` through the ``cardservice.idcard_readers`` entry points).

    SerialIdCardReader(device, baudrate=115200, timeout=3.0, fingerprint=False)   entry point ``serial``
    reader.find() / select() / read(with_fingerprint) / sam_status() / sam_id()
    reader.poll() -> Placed | Removed | None          the must-remove rule (cardservice.idcard.Presence)

Errors: only :class:`~cardservice.idcard.IdCardError` subclasses (the reader's SW3 through the library's
status table; ``idcard_timeout``, ``idcard_protocol``, ``idcard_reader_offline`` from the line); bad
options are a :class:`ValueError` naming each problem. The simulator to test against is
``python -m simulators.idcard`` (a pty).
"""

from drivers.idcard._serial import BAUD_RATES, SerialIdCardReader

__all__ = ["BAUD_RATES", "SerialIdCardReader"]
