"""Test helpers shared by the health-card command tests (in-process and through pcscd)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cardservice.apdu import CommandApdu
from cardservice.transport import InProcessTransport
from simulators.cardos import CardOS, load_card
from simulators.health import DEMO_HOLDER_PATH

DEMO: dict[str, Any] = json.loads(Path(DEMO_HOLDER_PATH).read_text(encoding="utf-8"))
OUTPATIENT = {
    "institution_name": "测试医院",
    "institution_code": "1101050099",
    "visit_time": "2025-03-04T10:15:00",
    "outpatient_number": "MZ000777",
    "department": "内科",
    "diagnoses": [{"diagnosis_name": "高血压", "diagnosis_code": "I10"}],
}


#: Serial of the end-to-end card: its ATR's last 8 bytes, the level-1 factor of facts sheet §4.4.
SERIAL = bytes.fromhex("0085865300018034")


class CountingTransport:
    """InProcessTransport that records every command sent to the card."""

    def __init__(self, inner: InProcessTransport) -> None:
        self.inner = inner
        self.sent: list[bytes] = []

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def transmit(self, apdu: bytes) -> bytes:
        self.sent.append(bytes(apdu))
        return self.inner.transmit(apdu)

    def commands(self) -> list[CommandApdu]:
        return [CommandApdu.decode(raw) for raw in self.sent]


def connect(path: Path) -> CountingTransport:
    """The virtual card image at *path*, powered, behind a CountingTransport."""
    transport = InProcessTransport(load_card(path))
    transport.connect()
    return CountingTransport(transport)


class CountingCard:
    """A virtual card that counts the EXTERNAL AUTHENTICATE commands (INS 82) reaching it."""

    def __init__(self, card: CardOS) -> None:
        self.card = card
        self.external_authentications = 0

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def reset(self) -> bytes:
        return self.card.reset()

    def process(self, apdu: bytes) -> bytes:
        if len(apdu) >= 4 and apdu[1] == 0x82:
            self.external_authentications += 1
        return self.card.process(apdu)


class CloneCard:
    """An emulated card (a programmable card, a phone) carrying a copy of a real card: the victim's ATR
    and every answer the victim's card gave a terminal reading its identity, replayed by the command
    (and, but for a SELECT, the file selected last).

    It has none of the card's keys, so it cannot check a terminal: GET CHALLENGE answers random bytes
    and every EXTERNAL AUTHENTICATE is accepted. INTERNAL AUTHENTICATE (INS 88) gets *internal*: a
    status word (default ``6A88``: no such key) or, with ``guess=True``, random bytes of the length
    asked for. Anything never recorded answers ``6A82``."""

    def __init__(
        self,
        atr: bytes,
        answers: dict[tuple[bytes, bytes], bytes],
        *,
        internal: bytes = b"\x6a\x88",
        guess: bool = False,
    ) -> None:
        self.atr, self.answers, self.internal, self.guess = atr, answers, internal, guess
        self.instructions: list[int] = []
        self._selected = b""

    @classmethod
    def copy_of(cls, card: Any, sam: Any, **options: Any) -> CloneCard:
        """Record *card* (a :class:`~cardservice.transport.VirtualCard`) being read by a terminal
        with *sam*, as a skimmer would."""
        from cardservice.healthcard import HealthCardSession

        answers: dict[tuple[bytes, bytes], bytes] = {}
        selected = [b""]

        class Recorder:
            atr = card.power_on()

            @staticmethod
            def transmit(apdu: bytes) -> bytes:
                response: bytes = card.process(apdu)
                select = apdu[1] == 0xA4  # a SELECT answers the same from anywhere
                answers[(b"" if select else selected[0], bytes(apdu))] = response
                if select:
                    selected[0] = bytes(apdu)
                return response

        HealthCardSession(Recorder(), sam).read_identity()
        card.power_off()
        return cls(Recorder.atr, answers, **options)

    def power_on(self) -> bytes:
        self._selected = b""
        return self.atr

    def power_off(self) -> None:
        self._selected = b""

    def reset(self) -> bytes:
        return self.power_on()

    def process(self, apdu: bytes) -> bytes:
        import secrets

        ins = apdu[1] if len(apdu) > 1 else -1
        self.instructions.append(ins)
        if ins == 0x84:
            return secrets.token_bytes(apdu[4] or 256) + b"\x90\x00"
        if ins == 0x82:
            return b"\x90\x00"
        if ins == 0x88:
            return secrets.token_bytes(apdu[4]) + b"\x90\x00" if self.guess else self.internal
        if ins == 0xA4:
            self._selected = bytes(apdu)
            return self.answers.get((b"", bytes(apdu)), b"\x6a\x82")
        return self.answers.get((self._selected, bytes(apdu)), b"\x6a\x82")
