"""The daemon killed with SIGKILL at random points of 200 payments, and restarted: the ledger balances,
every payment is recorded exactly once, nothing is lost or doubled.

``cardservice serve --demo`` (pcscd + vpcd, the virtual card, the embedded HIS, the simulated acquirer
as its child with its own SQLite) takes 200 card top-ups (充值, a card payment through the acquirer
each) from a kiosk that retries every request with its Idempotency-Key until it gets an answer — the
behaviour the API asks of its clients. A killer SIGKILLs the daemon's process group at random moments
(seeded, printed; ``PAYMENT_KILL_SEED`` replays one) and starts it again. At the end: the prepaid
balance is the sum of the top-ups, the acquirer approved each settled reference exactly once and no
failed one (a payment killed before it reached the bank fails, and the kiosk pays anew with a new key),
and the ledger's trial balance holds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from cardservice.his import CHINA_TZ
from cardservice.payments import Ledger, prepaid_account
from cardservice.store import open_database
from drivers.readers import wait_for_removal
from simulators.acquirer import AcquirerStore
from simulators.demo import demo_patient
from tests.pcsc.conftest import CARD_READER, EVENT_TIMEOUT, SAM_READER, stop_process_group
from tests.pcsc.test_daemon_pcsc import BIN, _free_port

pytestmark = pytest.mark.pcsc

PAYMENTS = 200
KILLS = 5
DEMO_BALANCE = 50_000  # cardservice.daemon.DEMO_PREPAID_TOP_UP_FEN


class Daemon:
    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.process: subprocess.Popen[str] | None = None
        self.key = ""
        self.lock = threading.Lock()
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "CARDSERVICE_HOME": str(self.home), "PATH": f"{BIN}:{os.environ['PATH']}",
               "CARDSERVICE_RATE_LIMIT": json.dumps({"per_second": 1000, "burst": 1000}),
               # One daemon on its database: what a killed run left is its own, taken after 2 s
               # (the default minute leaves room for other daemons' payments in flight).
               "CARDSERVICE_PAYMENT_RECOVERY_MIN_AGE": "2"}  # fmt: skip
        process = subprocess.Popen(
            [str(BIN / "cardservice"), "serve", "--demo", "--port", str(self.port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        assert process.stdout is not None
        key = ""
        deadline = time.monotonic() + 60
        while not key:
            line = process.stdout.readline()
            assert line, "serve --demo exited"
            assert time.monotonic() < deadline, "no demo key printed"
            if "demo API key" in line:
                key = line.rsplit(" ", 1)[-1].strip()
        stream = process.stdout
        threading.Thread(target=lambda: (stream.read(), stream.close()), daemon=True).start()
        with self.lock:
            self.process, self.key = process, key
            self.starts += 1

    def kill(self) -> None:
        with self.lock:
            process = self.process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
        for reader in (CARD_READER, SAM_READER):
            assert wait_for_removal(reader, EVENT_TIMEOUT + 5), f"the killed daemon's card-sim kept {reader}"

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
        # The next module puts its own cards in: the daemon's card-sim must have left both slots.
        for reader in (CARD_READER, SAM_READER):
            assert wait_for_removal(reader, EVENT_TIMEOUT + 5), f"{reader} still holds the daemon's card"


def _pay(
    daemon: Daemon, key: str, amount: int, stop: threading.Event, *, method: str = "gateway"
) -> dict[str, object]:
    """One top-up, retried with its key until the daemon answers with a final order."""
    while not stop.is_set():
        with daemon.lock:
            token = daemon.key
        try:
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
            base = f"http://127.0.0.1:{daemon.port}"
            with httpx.Client(base_url=base, timeout=20, headers=headers) as client:
                answer = client.post("/v1/payments/top-ups", json={"amount_fen": amount, "method": method})
                if answer.status_code == 200:
                    order: dict[str, object] = answer.json()
                    if order["final"]:
                        return order
                    reference = order["reference"]
                    answer = client.get(f"/v1/payments/orders/{reference}")
                    if answer.status_code == 200 and answer.json()["final"]:
                        return dict(answer.json())
        except httpx.HTTPError:
            pass  # killed mid-request, or not up yet: the kiosk tries again with the same key
        time.sleep(0.2)
    raise AssertionError(f"payment {key} never finished")


def test_sigkill_at_random_points_of_200_payments(tmp_path: Path) -> None:
    seed = int(os.environ.get("PAYMENT_KILL_SEED", random.randrange(1 << 30)))
    chance = random.Random(seed)
    where = f"seed {seed}"
    amounts = [chance.randrange(100, 10_000) for _ in range(PAYMENTS)]
    daemon = Daemon(tmp_path / "home", _free_port())
    daemon.start()
    stop = threading.Event()
    results: dict[int, dict[str, object]] = {}

    abandoned: list[dict[str, object]] = []  # failed: not paid (a kiosk then tries anew, with a new key)

    def kiosk() -> None:
        for number, amount in enumerate(amounts):
            for attempt in range(5):
                order = _pay(daemon, f"storm-{number:03d}-{attempt}", amount, stop)
                if order["status"] == "settled":
                    results[number] = order
                    break
                abandoned.append(order)

    worker = threading.Thread(target=kiosk, daemon=True)
    worker.start()
    try:
        for _ in range(KILLS):
            time.sleep(chance.uniform(0.3, 2.5))
            if not worker.is_alive():
                break
            daemon.kill()
            daemon.start()
        worker.join(600)
        assert not worker.is_alive(), f"{where}: the payments did not finish"
    finally:
        stop.set()
        daemon.stop()
    assert daemon.starts >= 2, f"{where}: the daemon was never killed mid-run"

    assert len(results) == PAYMENTS, f"{where}: {len(results)} settled"
    assert len({r["reference"] for r in results.values()}) == PAYMENTS  # one order per request
    assert {a["status"] for a in abandoned} <= {"failed", "declined"}, f"{where}: {abandoned}"

    day = dt.datetime.now(CHINA_TZ).date()
    acquirer = AcquirerStore(tmp_path / "home" / "acquirer.db")
    try:
        charges = [
            t for t in acquirer.transactions(day.isoformat()) if t.kind == "charge" and t.status == "approved"
        ]
    finally:
        acquirer.close()
    by_reference: dict[str, int] = {}
    for charge in charges:
        by_reference[charge.reference] = by_reference.get(charge.reference, 0) + 1
    # the bank took money for exactly the settled orders, once each; none for an order that failed
    assert set(by_reference) == {str(r["reference"]) for r in results.values()}, where
    assert set(by_reference.values()) == {1}, f"{where}: a payment charged twice"
    assert not {str(a["reference"]) for a in abandoned} & set(by_reference), where

    with open_database(f"sqlite:///{tmp_path / 'home' / 'cardservice.db'}") as database:
        trial = Ledger(database).verify()
        assert trial.balanced, f"{where}: {trial.problems}"
        patient = demo_patient()
        assert patient is not None
        assert Ledger(database).balance(prepaid_account(patient.card_number)) == DEMO_BALANCE + sum(amounts)
