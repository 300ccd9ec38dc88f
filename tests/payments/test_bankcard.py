"""BankcardMethod with real parts but pcscd: the virtual card in process (card-sim's CardOS), the ISO 8583
bank on a loopback socket, the journal in SQLite, an in-memory PIN pad. The journal's every state is driven,
including those a killed daemon leaves (rows written by hand, then a fresh method asked); the bank judges.

Through pcscd and the real serial PIN pad: tests/pcsc/test_bankcard_pcsc.py and test_bankcard_kill_pcsc.py.
"""

from __future__ import annotations

import datetime as _dt
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cardservice.acquiring import AcquirerLink
from cardservice.his import CHINA_TZ
from cardservice.payments import BankcardBook, BankcardMethod, IsoAcquirer, Ledger, MethodStatus, reconcile
from cardservice.payments._bankcard_book import CardData
from cardservice.payments._interactive import ChargeContext, charge_context
from cardservice.pboc import TerminalConfig, load_ca_keys
from cardservice.pinpad.testing import FakePinPad
from cardservice.store import Database, open_database
from simulators.acquirer._iso_server import IsoAcquirerServer
from simulators.acquirer._iso_store import IsoStore
from simulators.acquirer._issuer import Issuer
from simulators.cardos import CardOS, load_card
from simulators.demo import demo_patient
from simulators.health import create_health_card
from simulators.pboc import DEMO_PIN, demo_bank_key

PAN = "6228489999999996"
PATIENT = demo_patient()
TERMINAL, MERCHANT = "00000001", "898110000000001"


class Handle:
    def __init__(self, card: CardOS) -> None:
        self.card = card

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)


class Runner:
    """The reader manager's part the method uses: run an operation on the card, on a worker of its own."""

    def __init__(self, card: CardOS) -> None:
        self.card = card
        self._pool = ThreadPoolExecutor(1)

    def submit(
        self, reader: str, operation: Callable[[Any], Any], *, card_id: str | None = None
    ) -> Future[Any]:
        return self._pool.submit(operation, Handle(self.card))


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bankcard") / "card.json"
    create_health_card(path)
    return path


class World:
    def __init__(self, tmp: Path, image: Path) -> None:
        shutil.copy(image, tmp / "card.json")
        self.card = load_card(tmp / "card.json")
        self.card.power_on()
        self.database: Database = open_database(f"sqlite:///{tmp / 'db.sqlite'}")
        self.key = secrets.token_bytes(32)
        self.bank_store = IsoStore(tmp / "bank.db")
        self.server = IsoAcquirerServer(Issuer(self.bank_store), port=0, hold_seconds=5).start()
        self.pad = FakePinPad(working_key=demo_bank_key("TPK"))
        self.runner = Runner(self.card)
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.method = self.make()

    def make(self, *, read_timeout: float = 5.0, terminal_id: str = TERMINAL) -> BankcardMethod:
        book = BankcardBook(
            self.database, terminal_id=terminal_id, merchant_id=MERCHANT, journal_key=self.key
        )
        link = AcquirerLink(*self.server.address, connect_timeout=1, read_timeout=read_timeout)
        terminal = TerminalConfig(terminal_id=terminal_id, ca_keys=load_ca_keys())
        acquirer = IsoAcquirer(link, book, mac_key=demo_bank_key("TAK"))
        return BankcardMethod(book, self.runner, acquirer, terminal, pin_pad=self.pad, pin_timeout=30)

    def charge(self, reference: str, amount: int = 1000, method: BankcardMethod | None = None) -> Any:
        self.pad.will_enter(DEMO_PIN)
        context = ChargeContext(
            reader="card", progress=lambda stage, detail: self.events.append((stage, dict(detail)))
        )
        with charge_context(context):
            return (method or self.method).charge(reference, amount, PATIENT, idempotency_key=reference)

    def balance(self) -> int:
        return self.bank_store.account(PAN).balance_fen

    def bank_sales(self) -> list[Any]:
        day = _dt.datetime.now(CHINA_TZ).date().isoformat()
        return [record for record in self.bank_store.records(day) if record.kind == "sale"]

    def close(self) -> None:
        self.server.stop()
        self.bank_store.close()
        self.database.close()


@pytest.fixture
def world(tmp_path: Path, image: Path) -> Iterator[World]:
    made = World(tmp_path, image)
    yield made
    made.close()


def test_an_approved_sale_is_completed_listed_and_settled(world: World) -> None:
    before = world.balance()
    result = world.charge("P1", 1500)
    assert result.status is MethodStatus.APPROVED
    assert world.balance() == before - 1500
    (row,) = world.method._book.all()
    assert (row.state, row.masked_pan, row.amount_fen) == ("completed", "622848******9996", 1500)
    assert result.transaction_id == row.rrn
    stages = [stage for stage, _ in world.events]
    assert stages == ["reading_card", "enter_pin", *["pin_digits"] * 6, "processing", "remove_card"]
    assert [detail["digits"] for stage, detail in world.events if stage == "pin_digits"] == [1, 2, 3, 4, 5, 6]
    assert all(PAN not in repr(detail) for _, detail in world.events)
    (record,) = world.method.records(_dt.datetime.now(CHINA_TZ).date())
    assert (record.reference, record.kind, record.amount_fen) == ("P1", "charge", 1500)
    settlement = world.method.settlement(_dt.datetime.now(CHINA_TZ).date())
    assert settlement.balanced
    assert settlement.ours.debit_amount_fen == 1500


def test_the_same_reference_is_never_sent_twice(world: World) -> None:
    assert world.charge("P2").status is MethodStatus.APPROVED
    assert world.charge("P2").status is MethodStatus.APPROVED  # from the journal
    assert len(world.bank_sales()) == 1


def test_no_answer_is_reversed_at_once_and_nothing_is_kept(world: World) -> None:
    before = world.balance()
    world.server.timeout_next(applied=True)  # the bank books the sale and says nothing
    method = world.make(read_timeout=0.5)
    result = world.charge("P3", 900, method)
    assert result.status is MethodStatus.DECLINED
    assert "reversed" in result.message
    assert world.balance() == before
    assert [sale.status for sale in world.bank_sales()] == ["reversed"]
    assert method._book.find("P3").state == "reversed"


def test_a_reversal_not_acknowledged_stays_in_doubt_until_query_reverses_it(world: World) -> None:
    method = world.make(read_timeout=0.5)
    world.server.timeout_next(applied=True)
    world.server.drop_next(applied=False)  # the first reversal is lost too
    result = world.charge("P4", 700, method)
    assert result.status is MethodStatus.IN_DOUBT
    assert method.pending_reversals() == ["P4"]
    assert method.query("P4").status is MethodStatus.NOT_FOUND  # reversed now: nothing will be kept
    assert method.pending_reversals() == []
    assert [sale.status for sale in world.bank_sales()] == ["reversed"]


@pytest.mark.parametrize("state", ["sent", "approved", "reversal_pending"])
def test_a_sale_a_killed_daemon_left_owing_is_reversed_by_query(world: World, state: str) -> None:
    world.charge("P5", 1200)  # a real sale at the bank, then the journal says it never completed
    book = world.method._book
    book.move("P5", ("completed",), state, card=CardData(PAN, "01", "341231"))
    fresh = world.make()  # the restarted daemon
    assert fresh.query("P5").status is MethodStatus.NOT_FOUND
    assert book.find("P5").state == "reversed"
    assert [sale.status for sale in world.bank_sales()] == ["reversed"]


def test_a_sale_that_never_went_out_is_closed_so_a_late_charge_sends_nothing(world: World) -> None:
    book = world.method._book
    book.start("P6", "sale", "P6", 500)
    assert world.make().query("P6").status is MethodStatus.NOT_FOUND
    assert book.find("P6").state == "not_sent"
    assert world.charge("P6").status is MethodStatus.DECLINED
    assert world.bank_sales() == []


def test_a_completed_sale_survives_the_loss_of_its_order(world: World) -> None:
    world.charge("P7", 300)
    assert world.make().query("P7").status is MethodStatus.APPROVED


def test_another_terminals_sale_in_flight_is_left_alone(world: World) -> None:
    other = world.make(terminal_id="00000002")
    other._book.start("P8", "sale", "P8", 500)
    assert world.method.query("P8").status is MethodStatus.IN_DOUBT
    assert other._book.find("P8").state == "started"


def test_recovery_leaves_a_sale_waiting_for_its_pin_alone(world: World) -> None:
    entered = threading.Event()
    release = threading.Event()
    original = world.pad.read_pin

    def slow_pin(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        release.wait(5)
        return original(*args, **kwargs)

    world.pad.read_pin = slow_pin  # type: ignore[method-assign]
    answer: list[Any] = []
    worker = threading.Thread(target=lambda: answer.append(world.charge("P9")))
    worker.start()
    assert entered.wait(5)
    assert world.method.query("P9").status is MethodStatus.IN_DOUBT
    release.set()
    worker.join(10)
    assert answer[0].status is MethodStatus.APPROVED


def test_a_pin_cancelled_on_the_pad_sends_nothing(world: World) -> None:
    world.pad.will_cancel()
    with charge_context(ChargeContext(reader="card")):
        result = world.method.charge("P10", 500, PATIENT, idempotency_key="P10")
    assert result.status is MethodStatus.DECLINED
    assert world.method._book.find("P10").state == "not_sent"
    assert world.bank_sales() == []


def test_a_card_that_loses_power_after_the_approval_is_reversed(world: World) -> None:
    world.card.faults.tear(12, 0)  # EXTERNAL AUTHENTICATE, right after the approval
    result = world.charge("P11", 640)
    assert result.status is MethodStatus.DECLINED
    assert [sale.status for sale in world.bank_sales()] == ["reversed"]


def test_refunds_go_through_the_bank_and_never_exceed_the_sale(world: World) -> None:
    world.charge("P12", 1000)
    before = world.balance()
    assert world.method.refund("P12", 400, "R1").status is MethodStatus.APPROVED
    assert world.method.refund("P12", 400, "R1").status is MethodStatus.APPROVED  # idempotent
    assert world.method.refund("P12", 700, "R2").status is MethodStatus.DECLINED
    assert world.balance() == before + 400
    settlement = world.method.settlement(_dt.datetime.now(CHINA_TZ).date())
    assert settlement.balanced
    assert (settlement.ours.credit_count, settlement.ours.credit_amount_fen) == (1, 400)


def test_a_batch_the_bank_does_not_balance_is_a_reconciliation_line(world: World) -> None:
    world.charge("P13", 800)
    book = world.method._book
    ghost = book.start("P14", "sale", "P14", 50)  # a completed sale the bank never saw
    book.move(ghost.reference, ("started",), "completed")
    report = reconcile(Ledger(world.database), [world.method], _dt.datetime.now(CHINA_TZ).date())
    kinds = {mismatch.kind for mismatch in report.mismatches}
    assert "settlement" in kinds
