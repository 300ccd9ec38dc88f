"""The /v1 API in process: virtual cards in an :class:`InProcessBackend`, the real reader manager, an
in-memory key table and an audit recorder. No pcscd."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import simulators.health  # noqa: F401  (registers the "health" and "sam" card profiles)
from cardservice.api import EventHub, RateLimiter, Services, create_app
from cardservice.keys import SoftwareSam
from cardservice.readers import InProcessBackend, ReaderBinding, ReaderInfo, ReaderManager, load_profiles
from cardservice.transport import VirtualCard
from simulators.cardos import CardOS
from simulators.health import DEMO_HOLDER_PATH, DEMO_SAM_PIN
from tests.virtualcards import make_card, wait_for

CARD_READER = "vcard 00 00"
SAM_READER = "vcard 00 01"
READER = "vcard-00-00"  # the API's id for CARD_READER
BASE_URL = "http://127.0.0.1:8765"
WS_URL = "ws://127.0.0.1:8765/v1/events/ws"  # TestClient.websocket_connect ignores base_url
EXTRA_HOST = "kiosk.local:8765"
HIS_ORIGIN = "https://his.example"

HOLDER: dict[str, Any] = json.loads(Path(DEMO_HOLDER_PATH).read_text(encoding="utf-8"))
ID_NUMBER = HOLDER["DDF1/EF06"]["id_number"]
CARD_NUMBER = HOLDER["DDF1/EF05"]["card_number"]


@dataclass(frozen=True)
class Client:
    name: str
    scopes: tuple[str, ...]


KIOSK_KEY, HIS_KEY, ADMIN_KEY, OTHER_KIOSK_KEY = "csk_kiosk", "csk_his", "csk_admin", "csk_kiosk2"
ISSUER_KEY = "csk_issuer"
KEYS = {
    KIOSK_KEY: Client("kiosk-1", ("kiosk",)),
    HIS_KEY: Client("his-1", ("his",)),
    ADMIN_KEY: Client("admin-1", ("admin",)),
    OTHER_KIOSK_KEY: Client("kiosk-2", ("kiosk",)),
    ISSUER_KEY: Client("issuer-1", ("issuer",)),
}
KIOSK = {"X-API-Key": KIOSK_KEY}
HIS = {"X-API-Key": HIS_KEY}
ADMIN = {"X-API-Key": ADMIN_KEY}
ISSUER = {"X-API-Key": ISSUER_KEY}


@dataclass
class Stack:
    """Everything a test may poke: the backend (insert/remove cards), the manager, the app, the audit."""

    backend: InProcessBackend
    manager: ReaderManager
    services: Services
    app: FastAPI
    audit_calls: list[dict[str, Any]]
    folder: Path

    def new_card(self, profile: str = "health") -> CardOS:
        return make_card(self.folder, profile)

    def reader(self, reader_id: str = READER) -> ReaderInfo:
        return next(info for info in self.manager.readers() if info.id == reader_id)

    def wait_state(
        self, state: str, reader_id: str = READER, *, other_than: str | None = None, timeout: float = 10.0
    ) -> ReaderInfo:
        """Poll the manager until the reader is in *state* (with a card id other than *other_than*)."""
        info: ReaderInfo = wait_for(
            lambda: next(
                (
                    info
                    for info in self.manager.readers()
                    if info.id == reader_id
                    and info.state == state
                    and (other_than is None or info.card_id != other_than)
                ),
                None,
            ),
            timeout,
            f"reader {reader_id} to be {state}",
        )
        return info


class Recorder:
    """The audit callable: records every call's keyword arguments (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, **record: Any) -> None:
        with self._lock:
            self.calls.append(record)


StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[StackFactory]:
    """Build (and later stop) a stack; by default a demo card in CARD_READER and a PSAM in SAM_READER.

    *cards*: reader name → card (None: an empty reader); *bindings*, *software_sams*: the manager's;
    *wait*: the reader ids to wait for until ready; *his*, *payments*, *print_queue*, *idcard* (an
    IdCardMonitor): the services (None: not configured, 503)."""
    managers: list[ReaderManager] = []

    def build(
        *,
        cards: dict[str, VirtualCard | None] | None = None,
        bindings: list[ReaderBinding] | None = None,
        software_sams: dict[int, SoftwareSam] | None = None,
        limiter: RateLimiter | None = None,
        blacklist: Callable[[str, str | None], str | None] | None = None,
        card_timeout: float = 15.0,
        wait: tuple[str, ...] = (READER,),
        allowed_hosts: tuple[str, ...] = (EXTRA_HOST,),
        his: Any = None,
        payments: Any = None,
        print_queue: Any = None,
        idcard: Any = None,
        hospital_name: str = "测试医院",
    ) -> Stack:
        folder = tmp_path / f"stack-{len(managers)}"
        folder.mkdir()
        if cards is None:
            cards = {CARD_READER: make_card(folder, "health"), SAM_READER: make_card(folder, "sam")}
        backend = InProcessBackend(cards)
        hub, audit = EventHub(), Recorder()
        manager = ReaderManager(
            backend,
            bindings=bindings or [ReaderBinding(card=CARD_READER, sam=SAM_READER, kind="in-process")],
            profiles=load_profiles(),
            software_sams=software_sams,
            sam_pins={0: DEMO_SAM_PIN} if software_sams is None else None,
            blacklist=blacklist,
            on_event=hub.publish,
            audit=audit,
        )
        services = Services(
            manager=manager,
            authenticate=KEYS.get,
            audit=audit,
            hub=hub,
            limiter=limiter or RateLimiter(1000.0, 1000),
            card_timeout=card_timeout,
            his=his,
            payments=payments,
            print_queue=print_queue,
            idcard=idcard,
            hospital_name=hospital_name,
        )
        app = create_app(services, allowed_hosts=allowed_hosts, allowed_origins=(HIS_ORIGIN,))
        stack = Stack(backend, manager, services, app, audit.calls, folder)
        managers.append(manager)
        manager.start()
        for reader_id in wait:
            stack.wait_state("ready", reader_id)
        return stack

    yield build
    for manager in managers:
        manager.stop()


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    return make_stack()


@pytest.fixture
def client(stack: Stack) -> Iterator[TestClient]:
    with TestClient(stack.app, base_url=BASE_URL) as test_client:
        yield test_client


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The error body of *response*, after checking its status, code and shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "message_zh", "details"}
    assert error["code"] == code
    assert error["message"]
    assert error["message_zh"]
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    return error
