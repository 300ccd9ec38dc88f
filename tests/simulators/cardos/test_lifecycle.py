"""File life cycle: files created in the initialisation state are written under the issuer's
transport rights, then ACTIVATE FILE puts their own rules in force for good."""

from __future__ import annotations

import pytest

from cardservice.keys import BlockCipher, encrypt_ecb
from simulators.cardos import BLANK_TRANSPORT_KEY, CardOS, create_image, load_card
from simulators.cardos._fs import FileHeader, Lifecycle
from simulators.cardos._sw import SwError
from tests.conftest import unhex
from tests.simulators.cardos.conftest import challenge, ext_auth_health, send, sm_command

DDF_NAME = b"WS.SYS.DDF01"
KEY = unhex("A0A1A2A3A4A5A6A7A8A9AAABACADAEAF")
# DF, initialisation state, create and write key NEVER once operational
DF = unhex("62 20 82 01 38 83 02 DD F1 84 0C") + DDF_NAME + unhex("86 06 FF 00 00 FF 00 00 8A 01 03")
# transparent EF of 8 bytes: read after key 04, update NEVER, initialisation state
EF = unhex("62 1C 82 01 01 83 02 EF 06 80 02 00 08 86 0C 04 00 00 FF 00 00 FF 00 00 FF 00 00 8A 01 03")


def _transport(card: CardOS) -> int:
    r = challenge(card)
    return send(
        card, unhex("00 82 00 01 10") + encrypt_ecb(BlockCipher.SM4, BLANK_TRANSPORT_KEY, r + bytes(8))
    )[1]


def _create(card: CardOS, template: bytes) -> int:
    return send(card, unhex("80 E0 00 00") + bytes([len(template)]) + template)[1]


def _key_record(ref_value: bytes) -> bytes:
    return unhex("01 01 01 0F") + ref_value


def test_personalise_in_initialisation_state_then_activate(tmp_path) -> None:
    path = tmp_path / "card.json"
    create_image(path, serial=unhex("00 81 86 6B 00 00 10 15"))
    card = load_card(path)
    card.power_on()
    assert _create(card, DF) == 0x6982  # the MF's create right: transport key 01
    assert _transport(card) == 0x9000
    assert _create(card, DF) == 0x9000
    # a new DF clears the security state; the MF's rights stand in for the DF's NEVER rules
    assert _create(card, EF) == 0x6982
    assert _transport(card) == 0x9000
    # key values must travel encrypted under the transport SM key 02: plain WRITE KEY is refused
    assert send(card, unhex("80 D4 00 04 14") + _key_record(KEY))[1] == 0x6982
    command = sm_command(
        card, 0x84, 0xD4, 0x00, 0x04, _key_record(KEY), encrypt=True, stk=BLANK_TRANSPORT_KEY
    )
    assert send(card, command) == (b"", 0x9000)
    assert _create(card, EF) == 0x9000
    # the EF's own rules (update NEVER, read after key 04) are not in force yet
    assert send(card, "00 D6 00 00 04 01 02 03 04") == (b"", 0x9000)
    assert send(card, "00 B0 00 00 04") == (unhex("01 02 03 04"), 0x9000)
    assert send(card, "00 44 00 00 01 00")[1] == 0x6700
    send(card, "00 A4 00 0C 02 3F 00")
    assert send(card, "00 A4 00 0C 02 DD F1")[1] == 0x9000
    assert send(card, "00 44 00 00")[1] == 0x6982  # activation needs the stand-in right too
    assert _transport(card) == 0x9000
    assert send(card, "00 44 00 00") == (b"", 0x9000)
    assert send(card, "00 44 00 00") == (b"", 0x9000)  # already operational: no change

    card = load_card(path)  # activation is persistent
    card.power_on()
    send(card, "00 A4 04 0C 0C" + DDF_NAME.hex())
    assert _transport(card) == 0x9000  # the transport key no longer opens anything here
    send(card, "00 A4 00 0C 02 EF 06")
    assert send(card, "00 B0 00 00 04")[1] == 0x6982
    assert send(card, "00 D6 00 00 01 FF")[1] == 0x6982
    assert _create(card, EF.replace(unhex("EF 06"), unhex("EF 09"))) == 0x6982
    assert ext_auth_health(card, 0x04, KEY) == 0x9000
    assert send(card, "00 B0 00 00 04") == (unhex("01 02 03 04"), 0x9000)
    assert "EF06 EF transparent 8 bytes" in card.describe()


def test_lifecycle_status_byte_is_validated() -> None:
    header = FileHeader.decode(EF)
    assert header.lifecycle is Lifecycle.INITIALISATION
    assert FileHeader.decode(header.encode()) == header
    for bad in ("8A 01 07", "8A 02 03 03", "8A 00"):
        template = EF[:-3] + unhex(bad)
        template = bytes([0x62, len(template) - 2]) + template[2:]
        with pytest.raises(SwError) as raised:
            FileHeader.decode(template)
        assert raised.value.sw == 0x6A80
