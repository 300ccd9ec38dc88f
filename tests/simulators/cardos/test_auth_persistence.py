"""EXTERNAL AUTHENTICATE with the health-card convention, retry counters, and image persistence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cardservice.keys import BlockCipher, encrypt_ecb
from cardservice.transport import VirtualCard
from simulators.cardos import (
    BLANK_TRANSPORT_KEY,
    PROFILES,
    CardImage,
    CardOS,
    ImageError,
    create_image,
    load_card,
)
from tests.conftest import unhex
from tests.simulators.cardos.conftest import (
    RK,
    TERMINAL_DATA,
    UK,
    challenge,
    ext_auth_health,
    health_cryptogram,
    send,
)


def test_health_external_authenticate_known_answer(card: CardOS) -> None:
    """Facts sheet §4.5 step 6: ``00 82 00 P2 11`` cryptogram ‖ terminal data ‖ 01."""
    send(card, "00 A4 00 0C 02 DF 01")
    r = challenge(card)
    apdu = unhex("00 82 00 84 11") + health_cryptogram(RK, r) + TERMINAL_DATA + b"\x01"
    assert send(card, apdu) == (b"", 0x9000)
    assert send(card, apdu) == (b"", 0x6985)  # challenge consumed
    assert 0x84 in card.state.granted


def test_wrong_cryptogram_counts_down_and_blocks(card: CardOS) -> None:
    send(card, "00 A4 00 0C 02 DF 01")
    assert ext_auth_health(card, 0x84, RK, wrong=True) == 0x63CE
    assert ext_auth_health(card, 0x84, RK, wrong=True) == 0x63CD
    assert ext_auth_health(card, 0x84, RK) == 0x9000  # success restores the counter
    assert card.image.fs.tries_left((0x3F00, 0xDF01), 0x84) == 15
    for left in range(14, -1, -1):
        assert ext_auth_health(card, 0x84, RK, wrong=True) == 0x63C0 | left
    assert ext_auth_health(card, 0x84, RK) == 0x6983
    assert 0x84 not in card.state.granted


def test_external_authenticate_errors(card: CardOS) -> None:
    send(card, "00 A4 00 0C 02 DF 01")
    ok = unhex("00 82 00 84 11") + bytes(8) + TERMINAL_DATA + b"\x01"
    assert send(card, ok)[1] == 0x6985  # no challenge
    challenge(card)
    assert send(card, unhex("00 82 00 84 10") + bytes(16))[1] == 0x6700
    assert send(card, ok)[1] == 0x6985  # the failed attempt consumed the challenge
    challenge(card)
    assert send(card, ok[:-1] + b"\x02")[1] == 0x6A80
    assert send(card, "00 82 01 84 00")[1] == 0x6A86
    assert send(card, "00 82 00 81 00")[1] == 0x6A88  # a PIN is not an authentication key
    assert card.image.fs.tries_left((0x3F00, 0xDF01), 0x84) == 15  # malformed data costs no try


def test_counter_survives_reload(file_card: CardOS, card_file: Path) -> None:
    send(file_card, "00 A4 00 0C 02 DF 01")
    assert ext_auth_health(file_card, 0x85, UK, wrong=True) == 0x63CE
    again = load_card(card_file)
    again.power_on()
    send(again, "00 A4 00 0C 02 DF 01")
    assert ext_auth_health(again, 0x85, UK, wrong=True) == 0x63CD


def test_data_survives_reload(file_card: CardOS, card_file: Path) -> None:
    send(file_card, "00 A4 00 0C 02 DF 01")
    assert ext_auth_health(file_card, 0x85, UK) == 0x9000
    assert send(file_card, "00 D6 81 00 03 41 42 43")[1] == 0x9000
    again = load_card(card_file)
    assert isinstance(again, VirtualCard)
    again.power_on()
    send(again, "00 A4 00 0C 02 DF 01")
    assert send(again, "00 B0 81 00 05") == (b"ABClo", 0x9000)


def test_create_image_blank_profile(tmp_path: Path) -> None:
    path = tmp_path / "blank.json"
    create_image(path, serial=unhex("AA BB CC DD EE FF 00 11"))
    with pytest.raises(FileExistsError):
        create_image(path)
    create_image(path, overwrite=True, t0_get_response=True)
    with pytest.raises(ValueError, match="unknown card option"):
        create_image(tmp_path / "x.json", colour="red")
    with pytest.raises(ValueError, match="unknown card profile"):
        create_image(tmp_path / "x.json", "nonesuch")
    card = load_card(path)
    assert card.image_path == str(path)
    assert card.serial != unhex("AA BB CC DD EE FF 00 11")  # overwritten with a random serial
    assert card.power_on()[-9:-1] == card.serial
    assert "blank" in PROFILES
    assert "3F00 MF" in card.describe()
    assert BLANK_TRANSPORT_KEY.hex() not in card.describe().lower()


def test_blank_transport_key_plain_scheme(tmp_path: Path) -> None:
    path = tmp_path / "blank.json"
    create_image(path)
    card = load_card(path)
    card.power_on()
    r = challenge(card)
    cryptogram = encrypt_ecb(BlockCipher.SM4, BLANK_TRANSPORT_KEY, r + bytes(8))
    assert send(card, unhex("00 82 00 01 10") + cryptogram) == (b"", 0x9000)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="other/9"), "unknown image format"),
        (lambda d: d.update(serial="0102"), "serial"),
        (lambda d: d["nvm"]["areas"].pop("3F00#h"), "no MF"),
        (lambda d: d["nvm"]["areas"].update({"3F00#h": "6203820138"}), "damaged"),
        (lambda d: d["nvm"]["areas"].update({"3F00#h": "zz"}), "invalid hex"),
        (lambda d: d.pop("nvm"), "damaged"),
        (lambda d: d["options"].update(protocols="T=2"), "damaged"),
    ],
)
def test_damaged_image_gives_clear_error(tmp_path: Path, mutate: object, message: str) -> None:
    path = tmp_path / "card.json"
    create_image(path)
    document = json.loads(path.read_text())
    mutate(document)  # type: ignore[operator]
    path.write_text(json.dumps(document))
    with pytest.raises(ImageError, match=message):
        load_card(path)


def test_not_json_image(tmp_path: Path) -> None:
    path = tmp_path / "card.json"
    path.write_bytes(b"\x00\xff garbage")
    with pytest.raises(ImageError, match="not a card image"):
        load_card(path)
    path.write_text("[1, 2")
    with pytest.raises(ImageError, match="not a card image"):
        CardImage.load(path)
