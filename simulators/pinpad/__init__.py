"""A virtual encrypting PIN pad (密码键盘) for tests and demos, on a pseudo-terminal: the serial driver
(``drivers.pinpad``) talks to it as to a real pad, in the protocol of :mod:`cardservice.pinpad`.

    pad = VirtualPinPad()                         # DEMO master key; the demo bank's TPK in slot 0
    with PtyPinPad(pad, link=tmp / "pinpad") as pty:
        ... SerialPinPad(str(tmp / "pinpad")).read_pin(pan) ...   # meanwhile, the patient:
        pad.wait_for_entry(); pad.type("123456"); pad.enter()   # also backspace, clear, cancel, expire
        pad.will_press("123456", "enter")        # keys for the next entry, pressed as it starts
        pad.set_fault("garble", times=1)         # garble | nak | mute | device

``python -m simulators.pinpad --link PATH`` runs it with a control socket (:mod:`._control`).
"""

from simulators.pinpad._control import ControlSocket, handle_request
from simulators.pinpad._device import DEMO_MASTER_KEY, FAULTS, INFO, VirtualPinPad, demo_key_cryptogram
from simulators.pinpad._pty import PtyPinPad

__all__ = [
    "DEMO_MASTER_KEY",
    "FAULTS",
    "INFO",
    "ControlSocket",
    "PtyPinPad",
    "VirtualPinPad",
    "demo_key_cryptogram",
    "handle_request",
]
