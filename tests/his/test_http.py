"""HttpHis against the reference server (cardservice.his._server over an EmbeddedHis) served by uvicorn
on a real 127.0.0.1 port: every method end to end, retries only where repeating is harmless, timeouts,
and replies that are not the contract. A fault-injecting ASGI wrapper plays the misbehaving HIS."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from cardservice.his import (
    CHINA_TZ,
    AlreadySettled,
    AmountMismatch,
    EmbeddedHis,
    HisProtocolError,
    HisRejected,
    HisTimeout,
    HisUnavailable,
    HttpHis,
    HttpHisConfig,
    NotFound,
    SlotFull,
)
from cardservice.his._server import create_app
from simulators.demo import demo_patient
from tests.his.conftest import TODAY, make_patient

ALICE = make_patient(101, "王小红")
BOB = make_patient(202, "赵大伟")
TOKEN = "test-token-0123456789"


class Faults:
    """ASGI wrapper: per "METHOD /path", a queue of faults played before the real app; counts hits."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.plan: dict[str, list[str]] = {}
        self.hits: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            key = f"{scope['method']} {scope['path']}"
            self.hits[key] += 1
            queue = self.plan.get(key)
            fault = queue.pop(0) if queue else None
            if fault == "slow":
                await asyncio.sleep(1.0)  # then the real app still runs: the HIS did it, the client gave up
            elif fault is not None:
                await reply(send, *CANNED[fault])
                return
        await self.app(scope, receive, send)


_SLOT = {
    "id": "S1", "department_id": "D01", "start": "2026-11-23T08:00:00+08:00",
    "end": "2026-11-23T08:30:00+08:00", "session": "上午", "fee_fen": "1000", "capacity": 2, "remaining": 1,
}  # fmt: skip
_DOWN = {"error": {"code": "his_unavailable", "message": "maintenance", "message_zh": "维护中"}}
_BILL = {
    "id": "SF-OTHER", "title": "药费", "items": [], "total_fen": 0, "status": "settled",
    "created_at": "2026-11-22T10:20:00+08:00",
}  # fmt: skip
CANNED: dict[str, tuple[int, bytes, bytes]] = {
    "503": (503, json.dumps(_DOWN).encode(), b"application/json"),
    "500": (500, b"Internal Server Error", b"text/plain"),
    "not-json": (200, b"{departments: oops", b"application/json"),
    "wrong-shape": (200, b'{"departments": [{"id": 7, "name": "x"}]}', b"application/json"),
    "string-money": (200, json.dumps({"slots": [_SLOT]}).encode(), b"application/json"),
    "no-queue-number": (200, b'{"registrations": [{"id": "GH1"}]}', b"application/json"),
    "naive-time": (
        200,
        json.dumps({"bill": {**_BILL, "created_at": "2026-11-22T10:20:00"}}).encode(),
        b"application/json",
    ),
    "other-bill": (200, json.dumps({"bill": _BILL}).encode(), b"application/json"),
}


async def reply(send: Any, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def faults(embedded: EmbeddedHis) -> Faults:
    return Faults(create_app(embedded, token=TOKEN))


@pytest.fixture
def base_url(faults: Faults) -> Iterator[str]:
    """The app served by uvicorn on a free 127.0.0.1 port, in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        faults, log_level="warning", lifespan="off", ws="none", access_log=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(base_url: str, sleeps: list[float]) -> Iterator[HttpHis]:
    config = HttpHisConfig(base_url, token=TOKEN, read_timeout=0.5, connect_timeout=1.0, retries=2)
    with HttpHis(config, sleep=sleeps.append) as his:
        yield his


def test_every_method_end_to_end(client: HttpHis, embedded: EmbeddedHis) -> None:
    assert client.departments() == embedded.departments()
    assert client.doctors("D03") == embedded.doctors("D03")
    slots = client.slots("D01", doctor_id="D01-01", date_from=TODAY, date_to=TODAY + dt.timedelta(days=2))
    assert slots == embedded.slots(
        "D01", doctor_id="D01-01", date_from=TODAY, date_to=TODAY + dt.timedelta(days=2)
    )
    assert slots
    booked = client.book(ALICE, slots[0].id, idempotency_key="http-b1")
    assert (booked.queue_number, booked.fee_fen, booked.doctor_name) == (1, 5000, "王建国")
    assert client.book(ALICE, slots[0].id, idempotency_key="http-b1") == booked
    [bill] = client.bills(ALICE)
    assert bill == embedded.bills(ALICE)[0]
    settled = client.settle_bill(
        ALICE, bill.id, payment_reference="WX-1", amount_fen=5000, idempotency_key="http-s1"
    )
    assert (settled.status, settled.payment_reference) == ("settled", "WX-1")
    second = client.book(ALICE, slots[1].id, idempotency_key="http-b2")
    cancelled = client.cancel_registration(ALICE, second.id, idempotency_key="http-c1")
    assert cancelled.status == "cancelled"
    patient = demo_patient()
    assert patient is not None
    reports = client.lab_reports(patient)
    assert reports == embedded.lab_reports(patient)
    assert reports[2].items[0].abnormal == "↑"
    birth = client.birth_record(patient, "O110000001")
    assert birth == embedded.birth_record(patient, "O110000001")
    assert (birth.name, birth.relation) == ("李小宝", "51")
    with pytest.raises(NotFound):
        client.birth_record(ALICE, "O110000001")  # not her child: the same answer as an unknown one


def test_registrations_and_one_bill_end_to_end(
    client: HttpHis, embedded: EmbeddedHis, faults: Faults
) -> None:
    slots = client.slots("D01", doctor_id="D01-01", date_from=TODAY, date_to=TODAY + dt.timedelta(days=2))
    paid = client.book(ALICE, slots[0].id, idempotency_key="q-b1")
    dropped = client.book(ALICE, slots[-1].id, idempotency_key="q-b2")
    client.settle_bill(ALICE, paid.bill_id, payment_reference="WX-7", amount_fen=5000, idempotency_key="q-s1")
    cancelled = client.cancel_registration(ALICE, dropped.id, idempotency_key="q-c1")
    listed = client.registrations(ALICE)
    assert listed == embedded.registrations(ALICE) == [cancelled, paid]  # newest visit first
    assert [r.status for r in listed] == ["cancelled", "booked"]
    assert client.registrations(BOB) == []
    receipt = client.bill(ALICE, paid.bill_id)
    assert receipt == embedded.bill(ALICE, paid.bill_id)
    assert (receipt.status, receipt.payment_reference, receipt.settled_at) == (
        "settled", "WX-7", dt.datetime.combine(TODAY, dt.time(7, 0), CHINA_TZ),
    )  # fmt: skip
    assert client.bill(ALICE, dropped.bill_id).status == "cancelled"
    for patient, bill_id in [(BOB, paid.bill_id), (ALICE, "SF-NONE")]:
        with pytest.raises(NotFound) as missing:
            client.bill(patient, bill_id)
        assert missing.value.message_zh == "未找到该账单"
    assert faults.hits[f"POST /v1/bills/{paid.bill_id}/query"] == 2  # Alice's, then Bob's once: not retried
    assert not any(ALICE.card_number in path or BOB.card_number in path for path in faults.hits)


@pytest.mark.parametrize("path", ["POST /v1/registrations/query", "POST /v1/bills/SF-DEMO-0001/query"])
def test_the_read_only_queries_are_retried(
    client: HttpHis, faults: Faults, sleeps: list[float], path: str
) -> None:
    patient = demo_patient()
    assert patient is not None
    faults.plan[path] = ["503", "slow"]
    if "registrations" in path:
        assert client.registrations(patient) == []
    else:
        assert client.bill(patient, "SF-DEMO-0001").title == "药费"
    assert faults.hits[path] == 3
    assert sleeps == [0.25, 0.5]


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        ("no-queue-number", r"registrations\.0\.queue_number"),
        ("naive-time", r"bill\.created_at"),
        ("other-bill", "another bill"),
    ],
)
def test_a_query_reply_that_is_not_the_contract_is_a_protocol_error(
    client: HttpHis, faults: Faults, fault: str, match: str
) -> None:
    call: Callable[[], object]
    if fault == "no-queue-number":
        path, call = "POST /v1/registrations/query", lambda: client.registrations(ALICE)
    else:
        path, call = "POST /v1/bills/SF-X/query", lambda: client.bill(ALICE, "SF-X")
    faults.plan[path] = [fault]
    with pytest.raises(HisProtocolError, match=match) as broken:
        call()
    assert broken.value.code == "his_protocol"
    assert faults.hits[path] == 1  # a broken reply is not retried


def test_his_errors_cross_the_wire_with_their_codes(client: HttpHis, faults: Faults) -> None:
    with pytest.raises(NotFound) as missing:
        client.doctors("D99")
    assert missing.value.message_zh == "未找到该科室"
    slot = client.slots("D01", doctor_id="D01-01", date_from=TODAY, date_to=TODAY)[0]
    for n in range(slot.capacity):
        client.book(make_patient(600 + n), slot.id, idempotency_key=f"fill-{n}")
    with pytest.raises(SlotFull):
        client.book(ALICE, slot.id, idempotency_key="full-1")
    assert faults.hits["POST /v1/registrations"] == slot.capacity + 1  # a refusal is never retried
    patient = demo_patient()
    assert patient is not None
    drugs = next(b for b in client.bills(patient) if b.title == "药费")
    with pytest.raises(AmountMismatch) as mismatch:
        client.settle_bill(patient, drugs.id, payment_reference="P1", amount_fen=1, idempotency_key="m1")
    assert mismatch.value.details == {"expected_fen": drugs.total_fen, "amount_fen": 1}
    client.settle_bill(
        patient, drugs.id, payment_reference="P1", amount_fen=drugs.total_fen, idempotency_key="m2"
    )
    with pytest.raises(AlreadySettled):
        client.settle_bill(
            patient, drugs.id, payment_reference="P2", amount_fen=drugs.total_fen, idempotency_key="m3"
        )


def test_a_get_is_retried_after_503_and_timeouts_with_backoff(
    client: HttpHis, faults: Faults, sleeps: list[float]
) -> None:
    faults.plan["GET /v1/departments"] = ["503", "slow"]
    assert len(client.departments()) == 9
    assert faults.hits["GET /v1/departments"] == 3
    assert sleeps == [0.25, 0.5]


def test_a_timed_out_booking_is_retried_with_its_key_and_books_once(
    client: HttpHis, faults: Faults, embedded: EmbeddedHis
) -> None:
    slot = client.slots("D01", doctor_id="D01-01", date_from=TODAY, date_to=TODAY)[0]
    faults.plan["POST /v1/registrations"] = ["slow"]
    booked = client.book(ALICE, slot.id, idempotency_key="slow-1")
    assert faults.hits["POST /v1/registrations"] == 2
    time.sleep(1.0)  # the first, abandoned request completes on the server too
    after = embedded.slots("D01", doctor_id="D01-01", date_from=TODAY, date_to=TODAY)[0]
    assert after.remaining == slot.remaining - 1
    assert [b.id for b in embedded.bills(ALICE)] == [booked.bill_id]


def test_a_call_without_an_idempotency_key_is_tried_once(client: HttpHis, faults: Faults) -> None:
    faults.plan["POST /v1/registrations"] = ["503"]
    body = {"patient": {"card_number": ALICE.card_number, "name": ALICE.name}, "slot_id": "x"}
    with pytest.raises(HisUnavailable):
        client.request("POST", "/v1/registrations", json=body)
    assert faults.hits["POST /v1/registrations"] == 1
    faults.plan["POST /v1/bills/query"] = ["slow"]
    with pytest.raises(HisTimeout):
        client.request("POST", "/v1/bills/query", json={"patient": body["patient"]})
    assert faults.hits["POST /v1/bills/query"] == 1


def test_a_500_is_not_retried_even_for_a_get(client: HttpHis, faults: Faults) -> None:
    faults.plan["GET /v1/departments"] = ["500"]
    with pytest.raises(HisUnavailable):
        client.departments()
    assert faults.hits["GET /v1/departments"] == 1


def test_a_timeout_after_the_last_retry_is_his_timeout(base_url: str, faults: Faults) -> None:
    faults.plan["GET /v1/departments"] = ["slow", "slow"]
    config = HttpHisConfig(base_url, token=TOKEN, read_timeout=0.3, retries=1, backoff=0)
    with HttpHis(config) as his, pytest.raises(HisTimeout) as timed_out:
        his.departments()
    assert timed_out.value.code == "his_timeout"
    assert faults.hits["GET /v1/departments"] == 2


@pytest.mark.parametrize(
    ("fault", "path", "match"),
    [
        ("not-json", "GET /v1/departments", "not JSON"),
        ("wrong-shape", "GET /v1/departments", r"departments\.0\.id"),
        ("string-money", "GET /v1/departments/D01/slots", r"slots\.0\.fee_fen"),
    ],
)
def test_a_reply_that_is_not_the_contract_is_a_protocol_error(
    client: HttpHis, faults: Faults, fault: str, path: str, match: str
) -> None:
    faults.plan[path] = [fault]
    call = (
        (lambda: client.slots("D01", date_from=TODAY, date_to=TODAY))
        if "slots" in path
        else client.departments
    )
    with pytest.raises(HisProtocolError, match=match) as broken:
        call()
    assert broken.value.code == "his_protocol"
    assert faults.hits[path] == 1  # a broken reply is not retried


def test_a_wrong_token_and_a_missing_key_are_refused(base_url: str, client: HttpHis) -> None:
    with (
        HttpHis(HttpHisConfig(base_url, token="wrong", retries=0)) as his,
        pytest.raises(HisRejected) as refused,
    ):
        his.departments()
    assert refused.value.message_zh == "认证失败"
    with pytest.raises(HisRejected, match="Idempotency-Key"):
        client.request(
            "POST",
            "/v1/registrations/GH1/cancel",
            json={"patient": {"card_number": ALICE.card_number, "name": "x"}},
        )
    with pytest.raises(HisRejected, match=r"malformed request: body\.slot_id"):
        client.request(
            "POST",
            "/v1/registrations",
            json={"patient": {"card_number": "1", "name": "x"}},
            idempotency_key="k",
        )
    with pytest.raises(HisRejected, match="patient: card number"):
        client.request("POST", "/v1/bills/query", json={"patient": {"card_number": "1", "name": "x"}})


def test_an_unreachable_his_is_unavailable_after_the_retries(sleeps: list[float]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = HttpHisConfig(f"http://127.0.0.1:{port}", retries=2)
    with HttpHis(config, sleep=sleeps.append) as his, pytest.raises(HisUnavailable) as down:
        his.departments()
    assert type(down.value) is HisUnavailable
    assert sleeps == [0.25, 0.5]


def test_the_config_hides_the_token_and_checks_itself() -> None:
    assert TOKEN not in repr(HttpHisConfig("https://his.example", token=TOKEN))
    with pytest.raises(ValueError, match="http"):
        HttpHisConfig("his.example")
    with pytest.raises(ValueError, match="timeouts"):
        HttpHisConfig("https://his.example", read_timeout=0)
