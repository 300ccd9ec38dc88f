"""Synthetic ID cards for the simulator: JSON files (``cards/*.json``, format ``cardservice.idcard-sim/1``)
→ the person, the 256-byte text the card carries, a stand-in photo and fingerprint.

The photo and fingerprint are made-up bytes (a marker and a hash stream of the number), not WLT or a
fingerprint template: cardservice keeps them opaque, so their content does not matter — only their sizes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cardservice.idcard import LONG_TERM, PHOTO_SIZE, IdCardPerson, IdCardType, encode_text

__all__ = ["CARDS_DIR", "CardFileError", "SimulatedCard", "card_path", "load_card", "shipped_cards"]

CARDS_DIR = Path(__file__).parent / "cards"
FORMAT = "cardservice.idcard-sim/1"
_EXTRAS = ("address", "ethnicity", "english_name", "nationality", "permit_number", "issue_count",
           "card_version", "renewal_count")  # fmt: skip


class CardFileError(ValueError):
    """A card file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, repr=False)
class SimulatedCard:
    person: IdCardPerson  # with photo_wlt and fingerprint as the card holds them
    text: bytes

    @property
    def photo(self) -> bytes:
        return self.person.photo_wlt

    @property
    def fingerprint(self) -> bytes:
        """What a 30 10 read answers: the fingerprint, or no bytes when the card has none."""
        return self.person.fingerprint or b""

    def __repr__(self) -> str:
        return f"SimulatedCard({self.person!r})"


def _filler(marker: bytes, seed: str, size: int) -> bytes:
    stream = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(size // 32 + 1))
    return (marker + stream)[:size]


def shipped_cards() -> dict[str, Path]:
    """The synthetic cards that ship with the simulator, by name (``resident``, ``hmt-permit``, ...)."""
    return {path.stem: path for path in sorted(CARDS_DIR.glob("*.json"))}


def card_path(name_or_path: str | Path) -> Path:
    """A shipped card's name, or a path."""
    shipped = shipped_cards().get(str(name_or_path))
    return shipped if shipped is not None else Path(name_or_path)


def _date(data: dict[str, Any], key: str) -> _dt.date:
    return _dt.date.fromisoformat(str(data[key]))


def load_card(name_or_path: str | Path) -> SimulatedCard:
    path = card_path(name_or_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CardFileError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CardFileError(f"{path}: not a card file (format {FORMAT!r})")
    try:
        fingerprint_size = data.get("fingerprint")
        if fingerprint_size not in (None, 0, 512, 1024):
            raise ValueError("fingerprint: null, 0, 512 or 1024 (bytes)")
        number = str(data["id_number"])
        person = IdCardPerson(
            card_type=IdCardType(data["card_type"]),
            name=str(data.get("name", "")),
            sex_code=str(data["sex"]),
            birth_date=_date(data, "birth_date"),
            id_number=number,
            authority=str(data["authority"]),
            valid_from=_date(data, "valid_from"),
            valid_to=None if data["valid_to"] == LONG_TERM else _date(data, "valid_to"),
            **{
                ("ethnicity_code" if key == "ethnicity" else key): str(data[key])
                for key in _EXTRAS
                if key in data
            },
            photo_wlt=_filler(b"SIMULATED-NOT-WLT", number, PHOTO_SIZE),
            fingerprint=_filler(b"SIMULATED-FP", number, fingerprint_size) if fingerprint_size else None,
        )
        return SimulatedCard(person, encode_text(person))
    except (KeyError, ValueError, TypeError) as exc:
        raise CardFileError(f"{path}: {exc.__class__.__name__} {exc}") from None
