"""The ISO side's controls over HTTP (/iso on the acquirer simulator), in-process and through
``python -m simulators.acquirer --iso-port 0`` as a child process."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cardservice.acquiring import AcquirerLink, AcquirerTimeout, SaleResponse
from simulators.acquirer._iso_control import iso_control_router
from tests.simulators.acquirer_iso.conftest import TAK, DemoCard, Iso
from tests.simulators.acquirer_iso.test_iso_server import TODAY, sale_answer


@pytest.fixture
def http(iso: Iso) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(iso_control_router(iso.server))
    with TestClient(app) as client:
        yield client


def test_arm_and_see_the_controls(http: TestClient, iso: Iso, card: DemoCard) -> None:
    body = {
        "decline_next": "61",
        "corrupt_next_arpc": True,
        "script_next": {"command": "put-balance", "template": "72", "balance_fen": 100},
    }
    shown = http.post("/iso/control", json=body).json()
    assert shown["decline"] == "61"
    assert shown["corrupt_arpc"] is True
    assert shown["scripts"] == [{"command": "put-balance", "template": "72", "balance_fen": 100}]
    answer = sale_answer(iso, card.sale(100, stan=1))
    assert answer.response_code == "61"
    assert len(answer.scripts_after) == 1
    assert http.get("/iso/control").json() == {
        "decline": None,
        "timeout": None,
        "drop": None,
        "corrupt_arpc": False,
        "scripts": [],
    }


def test_timeout_over_http(http: TestClient, iso: Iso, card: DemoCard) -> None:
    assert http.post("/iso/control", json={"timeout_next": "applied"}).json()["timeout"] == "applied"
    with pytest.raises(AcquirerTimeout):
        iso.transact(card.sale(100, stan=1))
    assert http.get(f"/iso/accounts/{card.pan}").json() == {"balance_fen": 100_000 - 100, "pin_failures": 0}
    # "clear" comes first, then what the same request arms
    shown = http.post("/iso/control", json={"drop_next": "not-applied", "decline_next": "05"}).json()
    assert (shown["drop"], shown["decline"]) == ("not-applied", "05")
    shown = http.post("/iso/control", json={"drop_next": "applied", "clear": True}).json()
    assert (shown["drop"], shown["decline"]) == ("applied", None)


def test_clear(http: TestClient) -> None:
    http.post("/iso/control", json={"decline_next": "05", "drop_next": "applied"})
    assert http.post("/iso/control", json={"clear": True}).json()["decline"] is None


def test_accounts_and_transactions(http: TestClient, iso: Iso, card: DemoCard) -> None:
    assert http.post(f"/iso/accounts/{card.pan}", json={"balance_fen": 300}).json()["balance_fen"] == 300
    for stan in (1, 2, 3):
        sale_answer(iso, card.sale(10, stan=stan, pin="999999"))
    assert http.get(f"/iso/accounts/{card.pan}").json()["pin_failures"] == 3
    assert http.post(f"/iso/accounts/{card.pan}", json={"reset_pin_tries": True}).json()["pin_failures"] == 0
    assert sale_answer(iso, card.sale(100, stan=4)).approved
    rows = http.get("/iso/transactions", params={"day": TODAY}).json()["transactions"]
    assert [(r["status"], r["response_code"]) for r in rows] == [
        ("declined", "55"),
        ("declined", "55"),
        ("declined", "75"),
        ("approved", "00"),
    ]
    assert all(r["pan"] == "622848******0017" for r in rows)
    assert card.pan not in http.get("/iso/transactions", params={"day": TODAY}).text


@pytest.mark.parametrize(
    "body",
    [
        {"decline_next": "0"},
        {"timeout_next": "maybe"},
        {"script_next": {"command": "erase"}},
        {"script_next": {"command": "put-balance"}},
    ],
)
def test_bad_controls_are_422(http: TestClient, body: dict[str, object]) -> None:
    assert http.post("/iso/control", json=body).status_code == 422


def test_a_pan_must_be_digits(http: TestClient) -> None:
    assert http.get("/iso/accounts/not-a-pan").status_code == 422


def test_python_m_simulators_acquirer_with_iso_port(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        http_port = probe.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.acquirer",
            "--port",
            str(http_port),
            "--database",
            f"sqlite:///{tmp_path / 'acq.db'}",
            "--iso-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"acquirer iso8583: 127\.0\.0\.1:(\d+)\n", line)
        assert match, line
        link = AcquirerLink("127.0.0.1", int(match.group(1)), read_timeout=5)
        answer = link.transact(DemoCard().sale(100, stan=1), mac_key=TAK)
        assert isinstance(answer, SaleResponse)
        assert answer.approved
        deadline = time.monotonic() + 10
        while True:
            try:
                control = httpx.get(f"http://127.0.0.1:{http_port}/iso/control", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the HTTP side did not start"
                time.sleep(0.1)
        assert control.json()["decline"] is None
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
