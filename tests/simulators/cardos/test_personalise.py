"""Personalising a blank card with APDUs only (CREATE FILE / WRITE KEY formats of simulators.cardos._fs)."""

from __future__ import annotations

from pathlib import Path

from cardservice.keys import BlockCipher, encrypt_ecb
from simulators.cardos import BLANK_TRANSPORT_KEY, create_image, load_card
from tests.conftest import unhex
from tests.simulators.cardos.conftest import challenge, ext_auth_health, send

DF_KEY = unhex("A0A1A2A3A4A5A6A7A8A9AAABACADAEAF")
READ_KEY = unhex("B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF")
DDF_NAME = b"WS.SYS.DDF01"


def test_personalise_blank_card_then_use_it(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    create_image(path, serial=unhex("00 81 86 6B 00 00 10 15"))
    card = load_card(path)
    card.power_on()
    df_template = unhex("62 1D 82 01 38 83 02 DD F1 84 0C") + DDF_NAME + unhex("86 06 01 00 00 01 00 00")
    assert send(card, unhex("80 E0 00 00") + bytes([len(df_template)]) + df_template)[1] == 0x6982
    r = challenge(card)
    cryptogram = encrypt_ecb(BlockCipher.SM4, BLANK_TRANSPORT_KEY, r + bytes(8))
    assert send(card, unhex("00 82 00 01 10") + cryptogram)[1] == 0x9000
    assert send(card, unhex("80 E0 00 00") + bytes([len(df_template)]) + df_template) == (b"", 0x9000)
    assert card.state.current_df == (0x3F00, 0xDDF1)
    assert send(card, unhex("80 E0 00 00") + bytes([len(df_template)]) + df_template)[1] == 0x6982
    # WRITE KEY into an empty DF is allowed (initial key loading): DF master key 01, health scheme
    key_record = unhex("01 01 01 0F") + DF_KEY
    assert send(card, unhex("80 D4 00 01 14") + key_record) == (b"", 0x9000)
    # from now on the DF's write-key right (key 01) applies
    read_record = unhex("01 01 01 0F") + READ_KEY
    assert send(card, unhex("80 D4 00 04 14") + read_record)[1] == 0x6982
    assert ext_auth_health(card, 0x01, DF_KEY) == 0x9000
    assert send(card, unhex("80 D4 00 04 14") + read_record) == (b"", 0x9000)
    assert send(card, unhex("80 D4 00 05 05 09 01 01 0F 00"))[1] == 0x6A80  # bad usage
    assert send(card, unhex("80 D4 00 05 08 01 01 01 0F 00 00 00 00"))[1] == 0x6A80  # short key
    # EF05: linear variable simple-TLV, 10 records of up to 182 bytes, read free, update key 01
    ef_template = unhex(
        "62 1D 82 05 05 21 00 B6 0A 83 02 EF 05 80 02 07 1C 86 0C 00 00 00 01 00 00 01 00 00 FF 00 00"
    )
    assert send(card, unhex("00 E0 00 00") + bytes([len(ef_template)]) + ef_template) == (b"", 0x9000)
    assert send(card, unhex("00 E0 00 00") + bytes([len(ef_template)]) + ef_template)[1] == 0x6A89
    assert send(card, "00 E2 00 00 05 39 03 13 01 85") == (b"", 0x9000)
    # EF06 transparent 8 bytes read after key 04
    ef6 = unhex("62 19 82 01 01 83 02 EF 06 80 02 00 08 86 0C 04 00 00 01 00 00 01 00 00 01 00 00")
    assert send(card, unhex("00 E0 00 00") + bytes([len(ef6)]) + ef6) == (b"", 0x9000)
    assert send(card, "00 E0 00 00 04 62 02 82 01")[1] == 0x6A80  # no FID
    # use it after a restart, as a terminal would
    card = load_card(path)
    card.power_on()
    data, sw = send(card, "00 A4 04 00 0C" + DDF_NAME.hex())
    assert (data, sw) == (unhex("6F 10 84 0C") + DDF_NAME + unhex("A5 00"), 0x9000)
    send(card, "00 A4 00 0C 02 EF 05")
    assert send(card, "00 B2 39 00 05") == (unhex("39 03 13 01 85"), 0x9000)
    send(card, "00 A4 00 0C 02 EF 06")
    assert send(card, "00 B0 00 00 08")[1] == 0x6982
    assert ext_auth_health(card, 0x04, READ_KEY) == 0x9000
    assert send(card, "00 B0 00 00 08") == (bytes(8), 0x9000)
    text = card.describe()
    assert "DDF1 DF name" in text
    assert "(WS.SYS.DDF01)" in text
    assert "EF05 EF linear variable simple-TLV 1/10 records of 182" in text
    assert DF_KEY.hex() not in text.lower()
