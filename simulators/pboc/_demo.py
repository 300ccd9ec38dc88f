"""DEMO ONLY: the bank-side key set shared by the virtual card, PIN pad and acquirer simulators.

Every value is derived from a published string (first 16 bytes of SM3("cardservice DEMO bank key " ‖ name)),
so anyone can recompute it: these keys protect nothing and must never reach a real card, pad or host.
They exist so that a demo card personalised here, the demo PIN pad and the demo acquirer's issuer agree
without setup — as a real issuer's IMKs, a real pad's TPK and a real host's zone keys would agree.

* ``IMK-AC`` / ``IMK-SMI`` / ``IMK-SMC``: the issuer master keys the card's MK-AC / MK-SMI / MK-SMC are
  diversified from (by PAN and PSN, :func:`cardservice.pboc.card_master_key`).
* ``TPK``: the PIN pad's PIN encryption key (ISO 9564 format 0 blocks leave the pad under it).
* ``TAK``: the terminal's MAC key for ISO 8583 field 64.
* :data:`DEMO_PIN`: the online PIN of every demo card (the issuer simulator checks it).
"""

from __future__ import annotations

from cardservice.keys import sm3_digest

__all__ = ["DEMO_BANK_KEY_NAMES", "DEMO_PIN", "demo_bank_key"]

DEMO_BANK_KEY_NAMES = ("IMK-AC", "IMK-SMI", "IMK-SMC", "TPK", "TAK")
DEMO_PIN = "123456"
_LABEL = b"cardservice DEMO bank key "


def demo_bank_key(name: str) -> bytes:
    """DEMO ONLY: the 16-byte (two-key 3DES) key *name* of :data:`DEMO_BANK_KEY_NAMES`."""
    if name not in DEMO_BANK_KEY_NAMES:
        raise KeyError(name)
    return sm3_digest(_LABEL + name.encode("ascii"))[:16]
