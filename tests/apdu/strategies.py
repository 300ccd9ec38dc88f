"""Hypothesis strategies for APDU values."""

from __future__ import annotations

from hypothesis import strategies as st

from cardservice.apdu import CommandApdu

byte = st.integers(0, 255)


@st.composite
def command_apdus(draw: st.DrawFn) -> CommandApdu:
    """Every case, short and extended, including the boundaries 255/256 and 65535/65536."""
    short = draw(st.booleans())
    max_nc, max_ne = (255, 256) if short else (65535, 65536)
    nc = draw(
        st.one_of(st.just(0), st.integers(1, 8), st.sampled_from([max_nc]), st.integers(0, min(max_nc, 600)))
    )
    ne = draw(st.one_of(st.none(), st.integers(1, max_ne), st.sampled_from([1, 255, 256, max_ne])))
    return CommandApdu(
        draw(byte),
        draw(byte),
        draw(byte),
        draw(byte),
        draw(st.binary(min_size=nc, max_size=nc)),
        ne,
        extended=draw(st.booleans()),
    )
