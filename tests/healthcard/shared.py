"""Test helpers shared by the health-card command tests (in-process and through pcscd)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulators.cardos import CardOS
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
