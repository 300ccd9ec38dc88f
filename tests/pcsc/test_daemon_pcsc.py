"""``cardservice serve --demo`` as a new user meets it: a real process, pcscd + vpcd, card-sim, HTTP.

The README's walk-through: identity with the printed demo key; 401 without a key; 403 with the wrong
scope; ``Host: evil.example`` refused; ``card-sim ctl remove`` → a card.removed event and
``card_removed`` from the identity endpoint. Then keys made with ``cardservice token``, a blacklisted
card refused, many clients on one reader, and an intact audit log at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from drivers.readers import wait_for_removal
from simulators.control import default_control_path, send_control
from tests.healthcard.shared import DEMO
from tests.pcsc.conftest import CARD_PORT, CARD_READER, EVENT_TIMEOUT, SAM_READER, stop_process_group

pytestmark = pytest.mark.pcsc

BIN = Path(sys.executable).parent


@dataclass
class Daemon:
    home: Path
    base: str
    key: str
    process: subprocess.Popen[str]
    announced: list[str] = field(default_factory=list)  # what it printed at start, up to the demo key

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key if key is not None else self.key}"} if key != "" else {}
        return httpx.Client(base_url=self.base, headers=headers, timeout=20)

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "cardservice"), "--home", str(self.home), *argv],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ctl(command: str) -> None:
    reply = send_control(default_control_path(CARD_PORT), {"cmd": command})
    assert reply.get("ok"), reply


@contextlib.contextmanager
def start_daemon(home: Path, env: dict[str, str] | None = None) -> Iterator[Daemon]:
    """``cardservice serve --demo`` on a free port with data directory *home* (and extra environment
    *env*), ready: the demo card read. Stopped with its whole process group afterwards."""
    port = _free_port()
    environment = {
        **os.environ,
        "CARDSERVICE_HOME": str(home),
        "PATH": f"{BIN}:{os.environ['PATH']}",
        # One key plays many clients here; the per-client rate limit is tested in tests/api.
        "CARDSERVICE_RATE_LIMIT": json.dumps({"per_second": 1000, "burst": 1000}),
        **(env or {}),
    }
    process = subprocess.Popen(
        [str(BIN / "cardservice"), "serve", "--demo", "--port", str(port)],
        env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: teardown reaches its card-sim child too
    )  # fmt: skip
    assert process.stdout is not None
    key = ""
    announced: list[str] = []
    deadline = time.monotonic() + 30
    while not key:
        line = process.stdout.readline()
        assert line, f"serve --demo exited: {process.stderr.read() if process.stderr else ''}"
        assert time.monotonic() < deadline, "no demo key printed"
        announced.append(line.rstrip("\n"))
        if "demo API key" in line:
            key = line.rsplit(" ", 1)[-1].strip()
    for stream in (process.stdout, process.stderr):
        # Drained and closed by its own thread: closing it here could block on the reader's lock.
        threading.Thread(target=lambda s=stream: (s.read(), s.close()), daemon=True).start()
    running = Daemon(home, f"http://127.0.0.1:{port}", key, process, announced)
    try:
        # Start-up (migrations, card-sim attaching to vpcd, pcscd's polling, the identity read) on a
        # loaded CI machine: a generous first wait.
        wait_for_state(running, "ready", timeout=45)
        yield running
    finally:
        # The whole group: a daemon slow to stop (or killed) must not leave its card-sim in the readers.
        stop_process_group(process)
        # The next daemon or module puts its own cards in: this card-sim must have left both slots.
        for reader in (CARD_READER, SAM_READER):
            assert wait_for_removal(reader, EVENT_TIMEOUT + 5), f"{reader} still holds the daemon's card"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with start_daemon(tmp_path_factory.mktemp("daemon-home")) as running:
        yield running


def wait_for_state(daemon: Daemon, state: str, timeout: float = EVENT_TIMEOUT + 5) -> dict[str, Any]:
    """Reader state through the API; for setup and teardown (the tests wait on events)."""
    deadline = time.monotonic() + timeout
    with daemon.client() as client:
        while True:
            try:
                reader = client.get("/v1/readers/default").json()
                if reader.get("state") == state:
                    return dict(reader)
            except httpx.TransportError:
                pass  # not listening yet
            assert time.monotonic() < deadline, f"reader never reached {state!r}"
            time.sleep(0.1)


class EventStream:
    def __init__(self, daemon: Daemon) -> None:
        self.events: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self._client = daemon.client()
        with self._client as client:
            ticket = client.post("/v1/events/tickets").json()["ticket"]
        self._client = httpx.Client(base_url=daemon.base, timeout=None)
        self._thread = threading.Thread(target=self._read, args=(ticket,), daemon=True)
        self._thread.start()

    def _read(self, ticket: str) -> None:
        try:
            with self._client.stream("GET", "/v1/events", params={"ticket": ticket}) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        with self.changed:
                            self.events.append(json.loads(line[6:]))
                            self.changed.notify_all()
        except httpx.HTTPError:
            return

    def wait(self, kind: str, timeout: float = EVENT_TIMEOUT + 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for event in self.events:
                    if event["type"] == kind:
                        return event
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"no {kind} event; got {[e['type'] for e in self.events]}"
                self.changed.wait(remaining)

    def close(self) -> None:
        self._client.close()


def test_identity_with_the_printed_demo_key(daemon: Daemon) -> None:
    with daemon.client() as client:
        body = client.get("/v1/readers/default/card/identity").json()
    assert body["name"] == DEMO["DDF1/EF06"]["name"]
    assert body["id_number"] == DEMO["DDF1/EF06"]["id_number"]  # the demo key has the his scope
    assert body["files"]["DDF1/EF06"]["XM"] == DEMO["DDF1/EF06"]["name"]


def test_no_key_wrong_scope_and_foreign_host_are_refused(daemon: Daemon) -> None:
    with daemon.client(key="") as anonymous:
        refused = anonymous.get("/v1/readers/default/card/identity")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
    with daemon.client() as client:
        wrong_scope = client.get("/metrics")
        assert wrong_scope.status_code == 403
        assert wrong_scope.json()["error"]["code"] == "forbidden"
        rebinding = client.get("/v1/readers/default/card/identity", headers={"Host": "evil.example"})
        assert rebinding.status_code == 421
        assert rebinding.json()["error"]["code"] == "host_not_allowed"


def test_pulling_the_card_is_an_event_and_card_removed(daemon: Daemon) -> None:
    events = EventStream(daemon)
    try:
        ctl("remove")
        removed = events.wait("card.removed")
        assert removed["reader"] == "cardservice-vpcd-00-00"
        with daemon.client() as client:
            answer = client.get("/v1/readers/default/card/identity")
            assert answer.status_code == 409
            assert answer.json()["error"]["code"] == "card_removed"
            ctl("insert")
            inserted = events.wait("card.inserted")
            assert inserted["state"] == "ready"
            assert DEMO["DDF1/EF06"]["id_number"] not in json.dumps(events.events)  # no personal data
            assert client.get("/v1/readers/default/card/identity").json()["card_id"] == inserted["card_id"]
    finally:
        events.close()
        ctl("insert")
        wait_for_state(daemon, "ready")


def test_keys_made_with_the_token_command(daemon: Daemon) -> None:
    made = daemon.cli("token", "create", "kiosk-7", "--scope", "kiosk")
    assert made.returncode == 0, made.stderr
    kiosk_key = made.stdout.strip()
    with daemon.client(kiosk_key) as kiosk:
        identity = kiosk.get("/v1/readers/default/card/identity").json()
        assert identity["masked"] is True
        assert identity["id_number"] == "1101************30"
        assert kiosk.get("/v1/readers/default/card/health").json()["error"]["code"] == "forbidden"
        assert daemon.cli("token", "revoke", "kiosk-7").returncode == 0
        deadline = time.monotonic() + 10  # other processes see a revocation within the 5 s cache
        while kiosk.get("/v1/readers").status_code != 401:
            assert time.monotonic() < deadline, "a revoked key kept working"
            time.sleep(0.5)
    listing = daemon.cli("token", "list").stdout
    assert "kiosk-7" in listing
    assert kiosk_key not in listing


def test_a_blacklisted_card_is_refused(daemon: Daemon) -> None:
    number = DEMO["DDF1/EF05"]["card_number"]
    assert daemon.cli("blacklist", "add", number, "--reason", "挂失").returncode == 0
    try:
        events = EventStream(daemon)
        try:
            ctl("remove")
            events.wait("card.removed")
            ctl("insert")
            assert events.wait("card.inserted")["state"] == "refused"
        finally:
            events.close()
        with daemon.client() as client:
            refused = client.get("/v1/readers/default/card/identity")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "card_blacklisted"
        assert refused.json()["error"]["details"]["reason"] == "挂失"
    finally:
        assert daemon.cli("blacklist", "remove", number).returncode == 0
        ctl("remove")
        ctl("insert")
        wait_for_state(daemon, "ready")


def test_many_clients_on_one_reader(daemon: Daemon) -> None:
    def work(index: int) -> list[int]:
        with daemon.client() as client:
            statuses = [client.get("/v1/readers/default/card/identity").status_code]
            statuses.append(client.get("/v1/readers/default/card/health").status_code)
            statuses.append(
                client.post(
                    "/v1/readers/default/card/immunisations", json={"vaccine": f"疫苗{index}"}
                ).status_code
            )
            return statuses

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(work, range(12)))
    # Interleaved APDUs would break authentication or secure messaging: every request succeeds.
    assert all(statuses == [200, 200, 201] for statuses in results), results
    with daemon.client() as client:
        immunisations = client.get(
            "/v1/readers/default/card/health", params={"files": "DDF1/DF02/EF08"}
        ).json()
    names = {entry["MYJZMC"] for entry in immunisations["files"]["DDF1/DF02/EF08"]}
    assert len(names & {f"疫苗{i}" for i in range(12)}) >= 5  # a cyclic file keeps the newest entries


def test_a_spoofed_forwarded_for_does_not_reach_the_audit(daemon: Daemon) -> None:
    """Every local client may send X-Forwarded-For: the audit names the real peer, not what it claims."""
    with daemon.client() as client:
        spoofed = {"X-Forwarded-For": "203.0.113.66", "Forwarded": "for=203.0.113.67"}
        assert client.get("/v1/readers/default/card/identity", headers=spoofed).status_code == 200
    shown = daemon.cli("audit", "show", "--limit", "20", "--json")
    entries = [entry for entry in json.loads(shown.stdout) if entry["action"] == "card.read_identity"]
    assert entries
    assert entries[-1]["client"].startswith("127.0.0.1")
    assert "203.0.113" not in shown.stdout


def test_the_audit_log_is_intact_and_masked(daemon: Daemon) -> None:
    verified = daemon.cli("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit log intact" in verified.stdout
    shown = daemon.cli("audit", "show", "--limit", "500", "--json")
    entries = json.loads(shown.stdout)
    actions = {entry["action"] for entry in entries}
    assert {"card.insert", "card.read_identity", "card.read_health", "card.append_immunisation"} <= actions
    assert DEMO["DDF1/EF06"]["id_number"] not in shown.stdout
