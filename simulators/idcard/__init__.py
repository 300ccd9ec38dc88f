"""A virtual ID-card reader (身份证阅读器, GA/T 467 SAM_V) for tests and demos, on a pseudo-terminal: the
serial driver (``drivers.idcard``) talks to it as to a real reader.

    card = load_card("resident")                  # shipped synthetic cards: cards/*.json (or a path)
    reader = VirtualIdCardReader(card)            # bytes in, bytes out: commands, must-remove rule, faults
    with PtyReader(reader, link=tmp / "idcard") as pty:
        ... SerialIdCardReader(str(tmp / "idcard")) ...
        reader.remove(); reader.place(load_card("hmt-permit")); reader.set_fault("read_fail", times=1)

``python -m simulators.idcard --link PATH`` runs it with a control socket (:mod:`._control`).
"""

from simulators.idcard._cards import CARDS_DIR, CardFileError, SimulatedCard, load_card, shipped_cards
from simulators.idcard._control import ControlSocket, handle_request
from simulators.idcard._device import FAULTS, VirtualIdCardReader
from simulators.idcard._pty import PtyReader

__all__ = [
    "CARDS_DIR",
    "FAULTS",
    "CardFileError",
    "ControlSocket",
    "PtyReader",
    "SimulatedCard",
    "VirtualIdCardReader",
    "handle_request",
    "load_card",
    "shipped_cards",
]
