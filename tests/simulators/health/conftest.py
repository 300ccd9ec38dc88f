"""Fixtures: one demo health card and one demo PSAM (images built once per session, copied per test)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cardservice.healthcard import card_factor, city_factor, health_key
from cardservice.keys import KeyStore, ScryptParams
from simulators.cardos import CardOS, load_card
from simulators.health import create_health_card, create_sam, write_demo_keystore
from tests.conftest import unhex

SERIAL = unhex("00 81 86 6B 00 00 10 15")
TERMINAL_DATA = unhex("11 22 33 44 55 66 77 88")
CITY = "110105"


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("health-images")
    create_health_card(base / "card.json", serial=SERIAL)
    create_sam(base / "sam.json", serial=unhex("53 41 4D 00 00 00 00 01"))
    return base / "card.json", base / "sam.json"


@pytest.fixture
def health_card(images: tuple[Path, Path], tmp_path: Path) -> CardOS:
    path = tmp_path / "card.json"
    shutil.copy(images[0], path)
    card = load_card(path)
    card.power_on()
    return card


@pytest.fixture
def sam(images: tuple[Path, Path], tmp_path: Path) -> CardOS:
    path = tmp_path / "sam.json"
    shutil.copy(images[1], path)
    card = load_card(path)
    card.power_on()
    return card


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    path = tmp_path_factory.mktemp("keystore") / "demo.keystore"
    write_demo_keystore(path, kdf_params=ScryptParams(n=2**10))
    return KeyStore.open(path, "demo")


def send(card: CardOS, apdu: str | bytes) -> tuple[bytes, int]:
    raw = unhex(apdu) if isinstance(apdu, str) else apdu
    response = card.process(raw)
    return response[:-2], int.from_bytes(response[-2:], "big")


def sam_call(sam: CardOS, apdu: bytes) -> tuple[bytes, int]:
    """A SAM command and, on 61xx, its GET RESPONSE (T=0)."""
    data, sw = send(sam, apdu)
    if sw >> 8 == 0x61:
        return send(sam, bytes([0x00, 0xC0, 0x00, 0x00, sw & 0xFF]))
    return data, sw


def factors(card: CardOS, key_name: str, city: str = CITY) -> bytes:
    key = health_key(key_name)
    parts = [card_factor(card.atr), city_factor(city)]
    return b"".join(parts[: key.levels])


def derive(sam: CardOS, card: CardOS, key_name: str, challenge: bytes, city: str = CITY) -> int:
    key = health_key(key_name)
    data = factors(card, key_name, city) + challenge
    return sam_call(sam, bytes([0x80, 0xDE, key.sam_p1, key.sam_index, len(data)]) + data)[1]


def authenticate(card: CardOS, sam: CardOS, key_name: str, city: str = CITY) -> int:
    """Facts sheet §4.5: GET CHALLENGE, 80 DE, 80 FA + GET RESPONSE, fold, 00 82 00 P2 11."""
    challenge, sw = send(card, "00 84 00 00 08")
    assert sw == 0x9000
    assert derive(sam, card, key_name, challenge, city) == 0x9000
    block, sw = sam_call(sam, unhex("80 FA 00 00 10") + TERMINAL_DATA + bytes(8))
    assert sw == 0x9000
    assert len(block) == 16
    cryptogram = bytes(a ^ b for a, b in zip(block[:8], block[8:], strict=True))
    apdu = (
        bytes([0x00, 0x82, 0x00, health_key(key_name).card_ref, 0x11]) + cryptogram + TERMINAL_DATA + b"\x01"
    )
    return send(card, apdu)[1]


def select(card: CardOS, *fids: int) -> None:
    for fid in fids:
        assert send(card, bytes([0x00, 0xA4, 0x00, 0x0C, 0x02]) + fid.to_bytes(2, "big"))[1] == 0x9000


def read_records(card: CardOS, count: int) -> list[bytes]:
    records = []
    for number in range(1, count + 1):
        data, sw = send(card, bytes([0x00, 0xB2, number, 0x04, 0x00]))
        assert sw == 0x9000, hex(sw)
        records.append(data)
    return records
