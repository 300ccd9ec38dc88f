"""``process`` never raises for any input: always data ‖ a valid status word."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.cardos import STANDARD_INSTRUCTIONS, CardOS
from tests.simulators.cardos.conftest import build_image

_VALID_SW1 = {0x61, 0x62, 0x63, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x90}
_CARD = CardOS(build_image())
_CARD.power_on()


def _check(response: bytes) -> None:
    assert len(response) >= 2
    assert response[-2] in _VALID_SW1
    if response[-2:] != b"\x90\x00" and response[-2] not in (0x61, 0x62):
        assert len(response) == 2  # errors carry no data
    assert response[-2:] != b"\x6f\x00"  # no handler crashed


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    _check(_CARD.process(raw))


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from([0x00, 0x04, 0x0C, 0x80, 0x84]),
    st.sampled_from(sorted(STANDARD_INSTRUCTIONS)),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=40),
    st.one_of(st.none(), st.integers(1, 256)),
)
def test_structured_commands(cla: int, ins: int, p1: int, p2: int, data: bytes, ne: int | None) -> None:
    raw = bytes([cla, ins, p1, p2])
    if data:
        raw += bytes([len(data)]) + data
    if ne is not None:
        raw += bytes([ne & 0xFF])
    _check(_CARD.process(raw))
    if ins == 0xA4 and p1 == 0x00:  # wander through the tree between examples
        _CARD.process(bytes.fromhex("00A4000C02DF01"))
