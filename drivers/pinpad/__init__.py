"""Encrypting PIN pads (密码键盘) behind the library's contract, :class:`cardservice.pinpad.PinPad` (the
library owns it and never imports this package: the daemon finds the driver by configuration ``kind``
through the ``cardservice.pinpads`` entry points).

    SerialPinPad(device, baudrate=9600, timeout=2.0)       entry point ``serial``
    pad.read_pin(pan, min_len=4, max_len=6, timeout=30, on_event=...) -> PinEntry
    pad.abort() / status() / version() / load_working_key(encrypted_key, check_value=...) / close()

Errors: only :class:`~cardservice.pinpad.PinPadError` subclasses (``pinpad_offline``, ``pinpad_timeout``,
``pinpad_protocol`` from the line; the pad's status through the library's table); bad options and
arguments are a :class:`ValueError` naming each problem. The simulator to test against is
``python -m simulators.pinpad`` (a pty).
"""

from drivers.pinpad._serial import BAUD_RATES, SerialPinPad

__all__ = ["BAUD_RATES", "SerialPinPad"]
