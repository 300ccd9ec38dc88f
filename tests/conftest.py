"""Shared test helpers. Fixtures for the PC/SC stack live in tests/pcsc/conftest.py."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Per-example deadlines measure the machine, not the code: on a loaded 2-core CI box they fail
# at random. Speed is shown by bench/, never by timed assertions in tests.
settings.register_profile(
    "cardservice", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("cardservice")


def unhex(text: str) -> bytes:
    """Hex fixture as the standards print them: ``unhex("00 A4 04 00 07 A0...")``."""
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))
