"""The synthetic demo cardholder (no real person; the ID number is made up but well-formed)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_HOLDER_PATH"]

DEMO_HOLDER_PATH = Path(__file__).parent / "data" / "demo-holder.json"
