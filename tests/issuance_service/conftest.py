"""The issuance service on a real loopback port (uvicorn, real WebSockets), the registry on SQLite and
PostgreSQL (tests/dbfixtures.py), and kiosks whose dispenser is the virtual K720 in process: the K720 driver
over a loopback line to the machine, the reader at its read position handing over the card image there.
No pcscd."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cardservice.access import ApiKeys, Blacklist, Scope
from cardservice.issuance import (
    BankIssuer,
    ContentCipher,
    DispenserCardSource,
    IssuerProfile,
    IssuerSetup,
    KioskRelay,
    PersonIn,
    Registry,
)
from cardservice.issuance_service import IssuanceService, create_app
from cardservice.keys import KeyStore, ScryptParams, SoftwareSam
from cardservice.store import Database
from drivers.dispenser import K720Dispenser
from simulators.dispenser import VirtualDispenser
from tests.dbfixtures import database, database_url
from tests.issuance.test_batch import EXAMPLES, TRANSPORT
from tests.issuance.test_dispenser import Loopback, ReadPosition

__all__ = ["database", "database_url"]


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    from simulators.health import write_demo_keystore

    return write_demo_keystore(
        tmp_path_factory.mktemp("keys") / "demo.json", kdf_params=ScryptParams(n=2**10)
    )


_COLUMNS = ("id_number", "name", "sex", "ethnicity", "address", "phone")


def people() -> list[PersonIn]:
    """examples/people.csv as a kiosk sends them (ID card data, phone, consent)."""
    rows = [line.split(",") for line in (EXAMPLES / "people.csv").read_text("utf-8").splitlines()]
    header, *data = rows
    return [
        PersonIn.model_validate({**{key: row[header.index(key)] for key in _COLUMNS}, "consent": True})
        for row in data
    ]


class Audit:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, **record: Any) -> None:
        self.records.append(record)


@dataclass
class Service:
    service: IssuanceService
    url: str
    registry: Registry
    blacklist: Blacklist
    keys: ApiKeys
    audit: Audit
    store: KeyStore

    def token(self, name: str) -> str:
        return self.keys.create(name, [Scope.ISSUER], created_by="test")[1]


@pytest.fixture
def served(database: Database, demo_store: KeyStore) -> Iterator[Service]:
    """The service over the demo key store (bank application without ODA: the service's default)."""
    bank = BankIssuer.from_keystore(demo_store)
    setup = IssuerSetup(
        registry=Registry(database, ContentCipher.from_keystore(demo_store)), blacklist=Blacklist(database),
        keystore=demo_store, sam=SoftwareSam(demo_store), transport=TRANSPORT, issuer=IssuerProfile(),
        bank=BankIssuer(bank.master_keys, bank.scheme, None, bank.bin),
    )  # fmt: skip
    keys = ApiKeys(database)
    audit = Audit()
    service = IssuanceService(setup, keys.authenticate, audit, answer_timeout=5.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(service),
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
            ws_max_size=64 * 1024,
            timeout_graceful_shutdown=3,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    try:
        url = f"ws://127.0.0.1:{sock.getsockname()[1]}"
        yield Service(service, url, setup.registry, setup.blacklist, keys, audit, demo_store)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        keys.close()


class RecordingRelay(KioskRelay):
    """A kiosk's relay that keeps every frame it sent and received, in order (``frames``: (direction,
    parsed JSON)); *cut_after*: the link breaks once that many APDUs were answered (the kiosk unplugged);
    *cut_at_op*: it breaks when that operation arrives, before the kiosk does it (the kiosk killed)."""

    def __init__(
        self, *args: Any, cut_after: int | None = None, cut_at_op: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.frames: list[tuple[str, dict[str, Any]]] = []
        self.cut_after = cut_after
        self.cut_at_op = cut_at_op

    def _connect(self) -> Any:
        link = super()._connect()
        relay = self

        class Recorded:
            def __enter__(self) -> Recorded:
                link.__enter__()
                return self

            def __exit__(self, *exc: object) -> None:
                link.__exit__(None, None, None)

            def send(self, text: str) -> None:
                relay.frames.append(("kiosk", json.loads(text)))
                if (
                    relay.cut_after is not None
                    and sum(1 for d, f in relay.frames if "r" in f) >= relay.cut_after
                ):
                    relay.cut_after = None
                    link.close()  # the kiosk's cable pulled: this answer never leaves
                link.send(text)

            def recv(self, timeout: float | None = None) -> str:
                text = link.recv(timeout=timeout)
                assert isinstance(text, str)
                frame = json.loads(text)
                relay.frames.append(("service", frame))
                if relay.cut_at_op is not None and frame.get("op") == relay.cut_at_op:
                    relay.cut_at_op = None
                    link.close()
                    return str(link.recv(timeout=timeout))  # ConnectionClosed: the kiosk is gone
                return text

        return Recorded()

    def ops(self, name: str) -> list[dict[str, Any]]:
        return [
            frame for direction, frame in self.frames if direction == "service" and frame.get("op") == name
        ]


@dataclass
class Kiosk:
    """One kiosk: the virtual K720 with *cards* blank cards, its source, and its relay to the service."""

    machine: VirtualDispenser
    source: DispenserCardSource
    relay: RecordingRelay
    stages: list[str] = field(default_factory=list)

    def issue(self, person: PersonIn) -> Any:
        return self.relay.issue(person, on_stage=self.stages.append)


KioskFactory = Callable[..., Kiosk]


@pytest.fixture
def make_kiosk(tmp_path: Path) -> Iterator[KioskFactory]:
    made: list[Kiosk] = []

    def make(service: Service, name: str = "kiosk-1", *, cards: int = 4, token: str | None = None,
             machine: VirtualDispenser | None = None, **options: Any) -> Kiosk:  # fmt: skip
        machine = machine or VirtualDispenser(tmp_path / f"{name}-cards", cards)
        dispenser = K720Dispenser(Loopback(machine), poll=0.0, motion_timeout=1.0)
        source = DispenserCardSource(dispenser, lambda out: ReadPosition(machine, out, set()))
        relay = RecordingRelay(service.url, token or service.token(name), source, timeout=10.0, **options)
        kiosk = Kiosk(machine, source, relay)
        made.append(kiosk)
        return kiosk

    yield make
    for kiosk in made:
        kiosk.relay.close()
