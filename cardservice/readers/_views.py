"""What the reader manager shows of readers, SAMs and cards: plain values (the first two without personal
data), and the URL-safe ids of readers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cardservice.healthcard import Identity

__all__ = ["CardView", "ReaderInfo", "SamInfo", "reader_id"]


def reader_id(name: str) -> str:
    """A URL-safe, stable id for a reader name: ``"cardservice-vpcd 00 00"`` → ``cardservice-vpcd-00-00``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "reader"


@dataclass(frozen=True)
class SamInfo:
    reader: str
    id: str
    kind: str
    present: bool
    atr: str | None
    problem: str | None


@dataclass(frozen=True)
class ReaderInfo:
    id: str
    name: str
    role: str  # "card", "sam", "issuer", "unassigned"
    card_present: bool
    state: str  # empty, reading, ready, refused, unsupported, error, mute
    card_id: str | None
    atr: str | None
    profile: str | None
    sam: str | None
    problem: dict[str, Any] | None


@dataclass(frozen=True)
class CardView:
    """The card now in a reader, with its identity read at insertion. Personal data: never logged."""

    reader_id: str
    card_id: str
    atr: bytes
    profile: str
    identity: Identity = field(repr=False)
    masked_card_number: str
