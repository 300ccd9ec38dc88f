"""``python -m simulators.acquirer``: a real process whose books survive being killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.payments.conftest import Acquirer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(port: int, db: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.acquirer", "--port", str(port), "--database", f"sqlite:///{db}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).raise_for_status()
            return process
        except httpx.HTTPError:
            assert process.poll() is None, "the acquirer exited"
            assert time.monotonic() < deadline, "the acquirer did not start"
            time.sleep(0.1)


def test_a_charge_survives_a_kill_and_is_never_charged_twice(tmp_path: Path) -> None:
    port, db = free_port(), tmp_path / "acq.db"
    url = f"http://127.0.0.1:{port}"
    process = start(port, db)
    try:
        first = httpx.post(f"{url}/v1/charges", json={"reference": "PO1", "amount_fen": 500}).json()
        assert first["status"] == "approved"
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    process = start(port, db)
    try:
        again = httpx.post(f"{url}/v1/charges", json={"reference": "PO1", "amount_fen": 500}).json()
        assert again == first  # the stored charge, not a second one
        reused = httpx.post(f"{url}/v1/charges", json={"reference": "PO1", "amount_fen": 501})
        assert reused.status_code == 409
        closed = httpx.post(f"{url}/v1/transactions/PO2/close").json()
        assert closed["status"] == "closed"
        late = httpx.post(f"{url}/v1/charges", json={"reference": "PO2", "amount_fen": 100}).json()
        assert late["status"] == "declined"  # a closed reference never charges
        day = first["day"]
        listed = httpx.get(f"{url}/v1/transactions", params={"day": day}).json()["transactions"]
        assert [(t["reference"], t["status"]) for t in listed] == [("PO1", "approved")]
    finally:
        process.terminate()
        process.wait(10)


def test_closing_a_reference_answers_what_the_acquirer_has_and_bars_it_otherwise(acquirer: Acquirer) -> None:
    """What the gateway's query relies on: close is the answer for a known reference; an unknown one is
    closed for good, so a charge or refund still on its way is declined and never listed."""
    with httpx.Client(base_url=acquirer.url) as client:
        charged = client.post("/v1/charges", json={"reference": "PO1", "amount_fen": 700}).json()
        assert client.post("/v1/transactions/PO1/close").json() == charged  # approved: answered as such
        assert client.post("/v1/transactions/PO2/close").json()["status"] == "closed"
        assert client.post("/v1/charges", json={"reference": "PO2", "amount_fen": 100}).json()["status"] == (
            "declined"
        )
        assert client.post("/v1/transactions/RF1/close").json()["status"] == "closed"
        late_refund = {"charge_reference": "PO1", "refund_reference": "RF1", "amount_fen": 700}
        assert client.post("/v1/refunds", json=late_refund).json()["status"] == "declined"
        assert client.post("/v1/transactions/PO2/close").json()["status"] == "closed"  # stays closed
        day = charged["day"]
        listed = client.get("/v1/transactions", params={"day": day}).json()["transactions"]
    assert [(t["reference"], t["status"]) for t in listed] == [("PO1", "approved")]
