"""Personalising a blank card-sim card with the issuer's flow, then reading it as a terminal would."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from cardservice.apdu import run_flow, transceive
from cardservice.errors import StatusWordError
from cardservice.healthcard import (
    HEALTH_KEYS,
    HealthCardSession,
    card_factor,
    city_factor,
    file_contents,
    load_holder,
)
from cardservice.issuance import CardKey, NotBlankError, TransportKeys, personalise, verify_contents
from cardservice.keys import BlockCipher, SoftwareSam, diversify, encrypt_ecb
from simulators.cardos import BLANK_TRANSPORT_KEY, CardOS, create_image, load_card
from simulators.health import DEMO_HOLDER_PATH, demo_master_keys, demo_sm2_private_key
from tests.conftest import unhex

TRANSPORT = TransportKeys(BLANK_TRANSPORT_KEY, BLANK_TRANSPORT_KEY)


class _Reader:
    def __init__(self, card: CardOS) -> None:
        self.card = card
        self.atr = card.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)


def _keys(atr: bytes, city: str) -> dict[str, CardKey]:
    masters = demo_master_keys()
    factors = [card_factor(atr), city_factor(city)]
    return {k.name: CardKey(k, diversify(masters[k.name], factors[: k.levels])) for k in HEALTH_KEYS}


@pytest.fixture
def blank(tmp_path: Path) -> _Reader:
    create_image(tmp_path / "card.json")
    return _Reader(load_card(tmp_path / "card.json"))


def test_personalised_card_reads_back_with_terminal_keys(blank: _Reader, demo_sam: SoftwareSam) -> None:
    holder = load_holder(DEMO_HOLDER_PATH)
    contents = file_contents(holder, demo_sm2_private_key())
    keys = _keys(blank.atr, holder.issuer.city_code or "")
    sent = run_flow(personalise(contents, keys, TRANSPORT), partial(transceive, blank.transmit))
    assert 200 < sent < 400
    session = HealthCardSession(blank, demo_sam)
    assert verify_contents(session.read_file, contents) == []
    identity = session.read_identity()
    assert identity.cardholder.name == "李明"
    # locked: EF06 (NEVER after issuance) refuses a write even after the transport key
    assert blank.transmit(unhex("00 A4 04 0C 0C") + b"WS.SYS.DDF01")[-2:] == b"\x90\x00"
    assert blank.transmit(unhex("00 A4 00 0C 02 EF 06"))[-2:] == b"\x90\x00"
    challenge = blank.transmit(unhex("00 84 00 00 08"))[:-2]
    cryptogram = encrypt_ecb(BlockCipher.SM4, BLANK_TRANSPORT_KEY, challenge + bytes(8))
    assert blank.transmit(unhex("00 82 00 01 10") + cryptogram)[-2:] == b"\x90\x00"
    assert blank.transmit(unhex("00 DC 01 04 03 0B 01 41"))[-2:] == b"\x69\x82"
    # a second run finds DDF1 and stops before writing anything
    with pytest.raises(NotBlankError):
        run_flow(personalise(contents, keys, TRANSPORT), partial(transceive, blank.transmit))


def test_wrong_transport_key_writes_nothing(blank: _Reader) -> None:
    holder = load_holder(DEMO_HOLDER_PATH)
    contents = file_contents(holder)
    wrong = TransportKeys(bytes(16), bytes(16))
    with pytest.raises(StatusWordError):
        run_flow(
            personalise(contents, _keys(blank.atr, "110105"), wrong), partial(transceive, blank.transmit)
        )
    assert "DDF1" not in blank.card.describe()
