"""Fixtures: one demo health card carrying the bank application (built once, copied per test), and the
terminal's and issuer's halves of a transaction computed by hand with :mod:`cardservice.pboc._crypto`."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from cardservice.apdu import decode_ber_tlv
from cardservice.pboc import (
    AcScheme,
    application_cryptogram,
    arpc_method_1,
    card_master_key,
    cryptogram_input,
    script_mac,
    session_key,
)
from cardservice.pboc._profile import DEMO_ACCOUNT
from simulators.cardos import CardOS, load_card
from simulators.health import create_health_card
from simulators.pboc import demo_bank_key
from tests.conftest import unhex

SERIAL = unhex("00 81 86 6B 00 00 20 26")
AID = unhex("A0 00 00 03 33 01 01 01")
PAN, PSN = DEMO_ACCOUNT.pan, DEMO_ACCOUNT.psn
AIP = unhex("7C 00")
#: PDOL 9F1A02 9F7A01 9F0206 5F2A02: China, EC not supported, ¥1.00, CNY.
PDOL_DATA = unhex("0156 00 000000000100 0156")
#: The CDOL1 values of a ¥1.00 sale (9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 9F21 9F4E), in CDOL1 order.
CDOL1_VALUES = {
    0x9F02: unhex("000000000100"),
    0x9F03: unhex("000000000000"),
    0x9F1A: unhex("0156"),
    0x95: unhex("0000000000"),
    0x5F2A: unhex("0156"),
    0x9A: unhex("261206"),
    0x9C: unhex("00"),
    0x9F37: unhex("1E78EEBC"),
    0x9F21: unhex("101500"),
    0x9F4E: b"DEMO HOSPITAL KIOSK ".ljust(20, b" "),
}
APPROVED = b"00"  # ARC 3030


@pytest.fixture(scope="session")
def bank_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pboc-images") / "card.json"
    create_health_card(path, serial=SERIAL)
    return path


@pytest.fixture
def card_path(bank_image: Path, tmp_path: Path) -> Path:
    path = tmp_path / "card.json"
    shutil.copy(bank_image, path)
    return path


@pytest.fixture
def card(card_path: Path) -> CardOS:
    loaded = load_card(card_path)
    loaded.power_on()
    return loaded


def send(card: CardOS, apdu: str | bytes) -> tuple[bytes, int]:
    raw = unhex(apdu) if isinstance(apdu, str) else apdu
    response = card.process(raw)
    return response[:-2], int.from_bytes(response[-2:], "big")


def tlvs(data: bytes) -> dict[int, bytes]:
    """The primitive data objects of a response, one level below its template."""
    (template,) = decode_ber_tlv(data)
    return {item.tag: item.value for item in template.children}


# -- the issuer's side, by hand ------------------------------------------------------------------------


def issuer_session_key(name: str, atc: int, scheme: AcScheme = AcScheme.PBOC_TDES) -> bytes:
    """SK of the transaction: IMK → MK (option A, PAN ‖ PSN) → PBOC session key of the ATC."""
    return session_key(card_master_key(demo_bank_key(name), PAN, PSN, scheme), atc, scheme)


def expected_cryptogram(
    values: dict[int, bytes], atc: int, cvr: bytes, scheme: AcScheme = AcScheme.PBOC_TDES, aip: bytes = AIP
) -> bytes:
    return application_cryptogram(
        issuer_session_key("IMK-AC", atc, scheme), cryptogram_input(values, aip, atc, cvr), scheme
    )


def arpc(arqc: bytes, atc: int, arc: bytes = APPROVED, scheme: AcScheme = AcScheme.PBOC_TDES) -> bytes:
    return arpc_method_1(issuer_session_key("IMK-AC", atc, scheme), arqc, arc, scheme)


def script(header: str, data: bytes, atc: int, arqc: bytes, good: bool = True) -> bytes:
    """An issuer script command: ``CLA INS P1 P2 Lc ‖ data ‖ MAC`` under MK-SMI's session key."""
    head = unhex(header) + bytes([len(data) + 4])
    mac = script_mac(issuer_session_key("IMK-SMI", atc), head + atc.to_bytes(2, "big") + arqc + data)
    if not good:
        mac = bytes([mac[0] ^ 0x01]) + mac[1:]
    return head + data + mac


# -- the terminal's side ---------------------------------------------------------------------------------


@dataclass
class Cryptogram:
    """A GENERATE AC answer, format 2 taken apart."""

    cid: int
    atc: int
    ac: bytes
    iad: bytes

    @property
    def cvr(self) -> bytes:
        return self.iad[3:7]


def select_application(card: CardOS) -> int:
    return send(card, bytes([0x00, 0xA4, 0x04, 0x00, len(AID)]) + AID + b"\x00")[1]


def gpo(card: CardOS, pdol_data: bytes = PDOL_DATA) -> tuple[bytes, int]:
    body = bytes([0x83, len(pdol_data)]) + pdol_data
    return send(card, bytes([0x80, 0xA8, 0x00, 0x00, len(body)]) + body + b"\x00")


def generate_ac(card: CardOS, p1: int, data: bytes) -> tuple[Cryptogram | None, int]:
    answer, sw = send(card, bytes([0x80, 0xAE, p1, 0x00, len(data)]) + data + b"\x00")
    if sw != 0x9000:
        return None, sw
    items = tlvs(answer)
    assert set(items) == {0x9F27, 0x9F36, 0x9F26, 0x9F10}
    cryptogram = Cryptogram(
        items[0x9F27][0], int.from_bytes(items[0x9F36], "big"), items[0x9F26], items[0x9F10]
    )
    return cryptogram, sw


def cdol1_data(values: dict[int, bytes] = CDOL1_VALUES) -> bytes:
    return b"".join(
        values[tag] for tag in (0x9F02, 0x9F03, 0x9F1A, 0x95, 0x5F2A, 0x9A, 0x9C, 0x9F37, 0x9F21, 0x9F4E)
    )


def cdol2_data(arc: bytes = APPROVED, tvr: bytes = bytes(5), un: bytes = unhex("11223344")) -> bytes:
    return arc + tvr + un


def external_authenticate(card: CardOS, arpc_value: bytes, arc: bytes = APPROVED) -> int:
    return send(card, unhex("00 82 00 00 0A") + arpc_value + arc)[1]


def start(card: CardOS) -> Cryptogram:
    """SELECT, GPO and a first GENERATE AC asking for an ARQC."""
    assert select_application(card) == 0x9000
    assert gpo(card)[1] == 0x9000
    first, sw = generate_ac(card, 0x80, cdol1_data())
    assert sw == 0x9000
    assert first is not None
    return first


def get_data(card: CardOS, tag: int) -> bytes:
    data, sw = send(card, bytes([0x80, 0xCA, tag >> 8, tag & 0xFF, 0x00]))
    assert sw == 0x9000, hex(sw)
    (item,) = decode_ber_tlv(data)
    assert item.tag == tag
    return item.value
