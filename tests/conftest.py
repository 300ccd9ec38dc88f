"""Shared test helpers. Fixtures for the PC/SC stack live in tests/pcsc/conftest.py."""

from __future__ import annotations


def unhex(text: str) -> bytes:
    """Hex fixture as the standards print them: ``unhex("00 A4 04 00 07 A0...")``."""
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))
