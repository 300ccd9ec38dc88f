"""The ISO 8583 acquirer simulator on a loopback port the OS picks, and a demo card that makes real ARQCs
and PIN blocks (the card's and the PIN pad's side, computed here with cardservice.pboc)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from cardservice.acquiring import AcquirerLink, SaleRequest, build_icc_data
from cardservice.keys import BlockCipher, encrypt_ecb
from cardservice.pboc import (
    application_cryptogram,
    card_master_key,
    cryptogram_input,
    pin_block_format_0,
    session_key,
)
from simulators.acquirer._iso_server import IsoAcquirerServer
from simulators.acquirer._iso_store import IsoStore
from simulators.acquirer._issuer import Issuer
from simulators.acquirer._store import CHINA_TZ
from simulators.pboc._demo import DEMO_PIN, demo_bank_key

TAK = demo_bank_key("TAK")
TID, MID = "10000019", "850100082410002"
IAD = bytes.fromhex("07 01 01 03A00000 01".replace(" ", ""))  # CVR 03 A0 00 00: ARQC at the first GENERATE AC


@dataclasses.dataclass
class DemoCard:
    """A demo card's bank application: it counts its ATC and answers a first GENERATE AC with an ARQC."""

    pan: str = "6228480000000017"
    psn: str = "01"
    atc: int = 0x0010
    last_session: bytes = b""
    last_arqc: bytes = b""

    def session(self, imk_name: str = "IMK-AC") -> bytes:
        return session_key(card_master_key(demo_bank_key(imk_name), self.pan, self.psn), self.atc)

    def icc_data(self, amount_fen: int, *, spoil: bool = False) -> bytes:
        self.atc += 1
        atc = self.atc.to_bytes(2, "big")
        values = {
            0x9F02: bytes.fromhex(f"{amount_fen:012d}"),
            0x9F03: bytes(6),
            0x9F1A: bytes.fromhex("0156"),
            0x95: bytes(5),
            0x5F2A: bytes.fromhex("0156"),
            0x9A: bytes.fromhex(dt.datetime.now(CHINA_TZ).strftime("%y%m%d")),
            0x9C: b"\x00",
            0x9F37: secrets.token_bytes(4),
        }
        aip = bytes.fromhex("7C00")
        self.last_session = self.session()
        self.last_arqc = application_cryptogram(
            self.last_session, cryptogram_input(values, aip, atc, IAD[3:7])
        )
        arqc = bytes((self.last_arqc[0] ^ 1,)) + self.last_arqc[1:] if spoil else self.last_arqc
        tlvs = {0x9F26: arqc, 0x9F27: b"\x80", 0x9F10: IAD, **values, 0x82: aip, 0x9F36: atc}
        return build_icc_data(tlvs)

    def pin_block(self, pin: str) -> bytes:
        """What the PIN pad sends: format 0, encrypted under its TPK."""
        return encrypt_ecb(BlockCipher.TDES, demo_bank_key("TPK"), pin_block_format_0(pin, self.pan))

    def sale(
        self, amount_fen: int, stan: int, *, pin: str | None = DEMO_PIN, batch: int = 1, spoil: bool = False
    ) -> SaleRequest:
        return SaleRequest(
            pan=self.pan,
            amount_fen=amount_fen,
            stan=stan,
            terminal_id=TID,
            merchant_id=MID,
            batch=batch,
            pos_entry_mode="051" if pin else "052",
            psn=self.psn,
            expiry="3012",
            pin_block=self.pin_block(pin) if pin else None,
            icc_data=self.icc_data(amount_fen, spoil=spoil),
        )


@dataclasses.dataclass
class Iso:
    server: IsoAcquirerServer
    issuer: Issuer
    store: IsoStore
    link: AcquirerLink
    path: Path

    def transact(self, request: object) -> object:
        return self.link.transact(request, mac_key=TAK)  # type: ignore[arg-type]

    def balance(self, pan: str) -> int:
        return self.store.account(pan).balance_fen


@pytest.fixture
def iso(tmp_path: Path) -> Iterator[Iso]:
    path = tmp_path / "acquirer.db"
    store = IsoStore(path, opening_balance_fen=100_000)
    issuer = Issuer(store)
    server = IsoAcquirerServer(issuer, hold_seconds=5).start()
    host, port = server.address
    try:
        yield Iso(server, issuer, store, AcquirerLink(host, port, connect_timeout=2, read_timeout=2), path)
    finally:
        server.stop()
        store.close()


@pytest.fixture
def card() -> DemoCard:
    return DemoCard()
