"""Fixtures: a card built from a declarative test profile, and host-side helpers that compute the
health-card conventions independently of the card (straight from cardservice.keys primitives)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cardservice.keys import BlockCipher, encrypt_cbc, encrypt_ecb
from simulators.cardos import (
    NEVER,
    AuthScheme,
    CardImage,
    CardOptions,
    CardOS,
    DfSpec,
    EfSpec,
    FileStructure,
    KeySpec,
    KeyUsage,
    SmMode,
    after_auth,
    load_card,
)
from tests.conftest import unhex

SERIAL = unhex("01 02 03 04 05 06 07 08")
TRANSPORT = bytes(range(16))
RK = unhex("11111111111111111111111111111111")
UK = unhex("22222222222222222222222222222222")
STK = unhex("33333333333333333333333333333333")
IRK = unhex("44444444444444444444444444444444")
PIN = b"123456"
TERMINAL_DATA = unhex("11 22 33 44 55 66 77 88")
APP_NAME = b"TEST.APP.01"


def app_df() -> DfSpec:
    return DfSpec(
        fid=0xDF01,
        name=APP_NAME,
        keys=(
            KeySpec(0x84, RK),
            KeySpec(0x85, UK),
            KeySpec(0x10, STK, usage=KeyUsage.SECURE_MESSAGING),
            KeySpec(0x20, IRK, usage=KeyUsage.INTERNAL_AUTH),
            KeySpec(0x81, PIN, usage=KeyUsage.PIN, max_tries=3),
        ),
        children=(
            EfSpec(0x0001, size=64, sfi=1, update=after_auth(0x85), content=b"hello"),
            EfSpec(
                0x0002,
                FileStructure.LINEAR_VARIABLE,
                record_length=32,
                max_records=5,
                simple_tlv=True,
                sfi=2,
                read=after_auth(0x84),
                update=after_auth(0x85, SmMode.ENCRYPTED_MAC),
                append=after_auth(0x85),
                content=(unhex("01 01 31"), unhex("02 04 56 31 2E 31"), unhex("03 02 AA BB")),
            ),
            EfSpec(
                0x0003,
                FileStructure.CYCLIC,
                record_length=4,
                max_records=3,
                sfi=3,
                update=NEVER,
                append=after_auth(0x85),
            ),
            EfSpec(
                0x0004,
                FileStructure.LINEAR_FIXED,
                record_length=1,
                max_records=3,
                sfi=4,
                update=after_auth(0x85, SmMode.MAC),
                content=(b"\xff", b"\xff", b"\xff"),
            ),
            EfSpec(0x0005, size=16, read=after_auth(0x81), update=after_auth(0x81)),
        ),
    )


def build_image(**options: object) -> CardImage:
    mf = DfSpec(
        fid=0x3F00,
        keys=(KeySpec(0x01, TRANSPORT, scheme=AuthScheme.PLAIN),),
        create=after_auth(0x01),
        write_key=after_auth(0x01),
        children=(app_df(), EfSpec(0x2F00, size=8, update=NEVER, content=b"MF-EF")),
    )
    return CardImage.build(mf, serial=SERIAL, profile="test", options=CardOptions.from_mapping(options))


Send = Callable[[str], tuple[bytes, int]]


def send(card: CardOS, apdu: str | bytes) -> tuple[bytes, int]:
    raw = unhex(apdu) if isinstance(apdu, str) else apdu
    response = card.process(raw)
    assert len(response) >= 2
    return response[:-2], int.from_bytes(response[-2:], "big")


@pytest.fixture
def card() -> CardOS:
    """The test profile in memory (no image file), powered on."""
    os_ = CardOS(build_image())
    os_.power_on()
    return os_


@pytest.fixture
def card_file(tmp_path: Path) -> Path:
    path = tmp_path / "card.json"
    build_image().save(path)
    return path


@pytest.fixture
def file_card(card_file: Path) -> CardOS:
    os_ = load_card(card_file)
    os_.power_on()
    return os_


# -- host-side conventions, computed independently ---------------------------------------------


def complement(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def sm4(key: bytes, block: bytes) -> bytes:
    return encrypt_ecb(BlockCipher.SM4, key, block)


def health_session(key: bytes, challenge: bytes) -> bytes:
    """SM4_enc(K, R ‖ ~R) (spec/README.md conventions)."""
    return sm4(key, challenge + complement(challenge))


def health_cryptogram(key: bytes, challenge: bytes, terminal_data: bytes = TERMINAL_DATA) -> bytes:
    out = sm4(health_session(key, challenge), terminal_data + bytes(8))
    return bytes(a ^ b for a, b in zip(out[:8], out[8:], strict=True))


def challenge(card: CardOS, n: int = 8) -> bytes:
    data, sw = send(card, f"00 84 00 00 {n:02X}")
    assert sw == 0x9000
    assert len(data) == n
    return data


def ext_auth_health(card: CardOS, ref: int, key: bytes, *, wrong: bool = False) -> int:
    r = challenge(card)
    cryptogram = health_cryptogram(key, r)
    if wrong:
        cryptogram = bytes([cryptogram[0] ^ 1]) + cryptogram[1:]
    apdu = bytes([0x00, 0x82, 0x00, ref, 0x11]) + cryptogram + TERMINAL_DATA + b"\x01"
    return send(card, apdu)[1]


def ext_auth_plain(card: CardOS, ref: int, key: bytes) -> int:
    r = challenge(card)
    apdu = bytes([0x00, 0x82, 0x00, ref, 0x10]) + sm4(key, r + bytes(8))
    return send(card, apdu)[1]


def pad_m2(data: bytes) -> bytes:
    data = data + b"\x80"
    return data + bytes(-len(data) % 16)


def sm_mac(session: bytes, data: bytes) -> bytes:
    return encrypt_cbc(BlockCipher.SM4, session, bytes(16), pad_m2(data))[-16:][:4]


def sm_command(
    card: CardOS,
    cla: int,
    ins: int,
    p1: int,
    p2: int,
    plain: bytes,
    *,
    encrypt: bool,
    stk: bytes = STK,
    corrupt: bool = False,
) -> bytes:
    """Build an SM command after a fresh challenge (the card's latest challenge R)."""
    session = health_session(stk, challenge(card))
    body = sm4_ecb(session, pad_m2(bytes([len(plain)]) + plain)) if encrypt else plain
    header = bytes([cla, ins, p1, p2, len(body) + 4])
    mac = sm_mac(session, header + body)
    if corrupt:
        mac = bytes([mac[0] ^ 0x01]) + mac[1:]
    return header + body + mac


def sm4_ecb(key: bytes, data: bytes) -> bytes:
    return b"".join(sm4(key, data[i : i + 16]) for i in range(0, len(data), 16))
