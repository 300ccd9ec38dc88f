"""The daemon killed with SIGKILL at random points of 200 bank-card payments, and restarted: every sale either
completed once or was reversed, the bank and the ledger agree, and no PIN block or full PAN is in any log.

``cardservice serve --demo`` — the card's bank application on vpcd behind pcscd, the PIN pad on a pty, the
ISO 8583 bank as a child with its own SQLite — takes 200 top-ups paid by bank card from a kiosk that retries
each request with its Idempotency-Key until the order is final (a failed one is paid anew under a new key).
A killer SIGKILLs the daemon's process group at random moments (seeded, printed; ``BANKCARD_KILL_SEED``
replays one) and starts it again: a sale killed between its 0200 and its TC comes back as a reversal.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from cardservice.his import CHINA_TZ
from cardservice.keys import BlockCipher, encrypt_ecb
from cardservice.payments import Ledger, prepaid_account
from cardservice.pboc import pin_block_format_0
from cardservice.store import BankcardTransactionRow, open_database
from simulators.acquirer._iso_store import IsoStore
from simulators.demo import demo_patient
from simulators.pboc import DEMO_PIN, demo_bank_key
from tests.pcsc.test_daemon_pcsc import _free_port
from tests.pcsc.test_payments_kill_pcsc import DEMO_BALANCE, Daemon, _pay

pytestmark = pytest.mark.pcsc

PAYMENTS = 200
KILLS = 5
PAN = "6228489999999996"


class LoggingDaemon(Daemon):
    """The kill test's daemon, with its log in a file per start (DEBUG: the most it could ever say)."""

    def start(self) -> None:
        os.environ["CARDSERVICE_LOG_FILE"] = str(self.home / f"daemon-{self.starts}.log")
        os.environ["CARDSERVICE_LOG_LEVEL"] = "DEBUG"
        try:
            super().start()
        finally:
            del os.environ["CARDSERVICE_LOG_FILE"], os.environ["CARDSERVICE_LOG_LEVEL"]


def test_sigkill_at_random_points_of_200_bank_card_payments(tmp_path: Path) -> None:
    seed = int(os.environ.get("BANKCARD_KILL_SEED", random.randrange(1 << 30)))
    chance = random.Random(seed)
    where = f"seed {seed}"
    amounts = [chance.randrange(100, 10_000) for _ in range(PAYMENTS)]
    home = tmp_path / "home"
    home.mkdir()
    daemon = LoggingDaemon(home, _free_port())
    daemon.start()
    # Enough money at the bank for every payment: a decline for funds would hide nothing but end the run.
    bank = json.loads((home / "demo-api-keys.json").read_text())["acquirer"]
    httpx.post(f"{bank}/iso/accounts/{PAN}", json={"balance_fen": 10**10}, timeout=10).raise_for_status()
    stop = threading.Event()
    settled: dict[int, dict[str, object]] = {}
    abandoned: list[dict[str, object]] = []

    def kiosk() -> None:
        for number, amount in enumerate(amounts):
            for attempt in range(5):
                order = _pay(daemon, f"card-{number:03d}-{attempt}", amount, stop, method="bankcard")
                if order["status"] == "settled":
                    settled[number] = order
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
    anew = [(order["status"], order["message"]) for order in abandoned]
    assert len(settled) == PAYMENTS, f"{where}: {len(settled)} settled; paid anew: {anew}"
    assert {a["status"] for a in abandoned} <= {"failed", "declined"}, f"{where}: {abandoned}"

    with open_database(f"sqlite:///{home / 'cardservice.db'}") as database:
        with database.session(readonly=True) as session:
            journal = {
                row.reference: (row.state, row.stan, row.amount_fen)
                for row in session.query(BankcardTransactionRow)
            }
        trial = Ledger(database).verify()
        assert trial.balanced, f"{where}: {trial.problems}"
        balance = Ledger(database).balance(prepaid_account(demo_patient().card_number))
    assert balance == DEMO_BALANCE + sum(amounts), where

    # Every sale the journal knows is over: completed, or nothing taken (declined / not sent / reversed).
    states = {state for state, _, _ in journal.values()}
    assert states <= {"completed", "declined", "not_sent", "reversed"}, f"{where}: {states}"
    completed = {stan: amount for state, stan, amount in journal.values() if state == "completed"}
    assert {str(order["reference"]) for order in settled.values()} == {
        reference for reference, (state, _, _) in journal.items() if state == "completed"
    }, where

    # The bank keeps exactly the completed sales, once each; a killed one came back as a reversal.
    day = dt.datetime.now(CHINA_TZ).date().isoformat()
    store = IsoStore(home / "acquirer.db")
    try:
        sales = [record for record in store.records(day) if record.kind == "sale"]
    finally:
        store.close()
    kept = [record for record in sales if record.status == "approved"]
    assert sorted(record.stan for record in kept) == sorted(completed), (
        f"{where}: the bank and the journal differ"
    )
    assert all(completed[record.stan] == record.amount_fen for record in kept), where
    reversed_ = [record for record in sales if record.status == "reversed"]
    print(f"{where}: {len(kept)} sales kept, {len(reversed_)} reversed, {len(abandoned)} orders paid anew")

    logs = "".join(path.read_text(encoding="utf-8") for path in home.glob("daemon-*.log"))
    assert "622848******9996" in logs  # the masked PAN is logged: the next check is not vacuous
    assert PAN not in logs
    block = encrypt_ecb(BlockCipher.TDES, demo_bank_key("TPK"), pin_block_format_0(DEMO_PIN, PAN))
    assert block.hex() not in logs.lower()
