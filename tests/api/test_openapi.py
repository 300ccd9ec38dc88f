"""The app's own OpenAPI document is its contract, and the answers keep to it.

- Every status an operation can answer is listed for it: one well-formed request per operation is sent
  in each state that makes the shared refusals (the rate limit refusing, no HIS / payments / printer
  configured, no card, the HIS down or slow or garbled, the audit failing, the guard refusing), and
  every status that comes back must be in the operation's ``responses``.
- A property-based run (schemathesis, every check it has) over every operation but the event stream, on
  the daemon's default rate limit: whatever a client sends, the answer is never a 5xx, its status, content
  type, headers and body are ones the document lists, data the schema forbids is refused and data it
  allows is not refused as malformed. The seed is fixed, so the suite is deterministic;
  ``SCHEMATHESIS_RANDOM=1`` (``make test``) draws a new one each run, and ``SCHEMATHESIS_SEED=n``
  replays one — a failure says which.

The card is virtual, so writes are fine; one fresh card per run. Left out of the fuzzing: ``GET
/v1/events`` (it streams until the client goes; tests/api/test_events.py covers it). The WebSocket is not
in the document.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from pprint import pformat
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import load_all_checks

from cardservice.api import RateLimiter
from cardservice.daemon import RateLimit
from cardservice.healthcard import mask_id_number
from cardservice.his import HisProtocolError, HisTimeout, HisUnavailable, open_embedded_his
from cardservice.idcard import IdCardMonitor
from cardservice.idcard.testing import FakeIdCardReader
from cardservice.issuance import IssuanceResult, PersonIn
from cardservice.payments import CashDesk, Ledger, Payments, PrepaidAccount
from cardservice.printing import PrintQueue
from cardservice.store import open_database
from drivers.printers import escpos_printer
from simulators.demo import demo_patient
from simulators.idcard import load_card
from tests.api.conftest import ADMIN, BASE_URL, CARD_READER, Stack, StackFactory, assert_error

OUTPATIENT = json.loads(
    (Path(__file__).parents[2] / "examples" / "outpatient-record.json").read_text("utf-8")
)

load_all_checks()
# Every check schemathesis has, not a chosen few (one written as a class runs by itself, from the registry).
CHECKS = [check for check in CHECK_REGISTRY.get_all() if not isinstance(check, type)]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_documented_error_has_the_one_error_shape(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)


def test_every_operation_but_health_is_documented_with_401_and_403(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    for method, path, op in operations(document):
        if path == "/v1/health":  # no key needed: only the guard refuses it (a foreign Origin, 403)
            assert "401" not in op["responses"]
            assert op["responses"]["403"]["description"] == "error codes: origin_not_allowed"
        else:
            assert {"401", "403"} <= set(op["responses"]), (method, path)


def test_a_405_names_every_method_of_the_path(client: TestClient) -> None:
    """Starlette's 405 named only the methods of the first route whose path matched (found by
    schemathesis: OPTIONS on /encounters/{kind} answered ``Allow: GET`` beside its POST)."""
    response = client.options("/v1/readers/default/card/encounters/outpatient", headers=ADMIN)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"


# -- the hospital services the API is fuzzed and probed over ---------------------------------------------


class FlakyHis:
    """The embedded HIS — or, once :attr:`failure` is set, that error from every call (payments and the
    print queue are built over this, so their calls to the HIS fail too)."""

    def __init__(self, his: Any) -> None:
        self._his = his
        self.failure: Exception | None = None

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._his, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.failure is not None:
                raise self.failure
            return attribute(*args, **kwargs)

        return call


@dataclass
class Hospital:
    his: FlakyHis
    payments: Payments
    print_queue: PrintQueue


@pytest.fixture
def hospital(tmp_path: Path) -> Iterator[Hospital]:
    """The embedded HIS, payments and a print queue (a file printer) on SQLite: the hospital routes are
    fuzzed against the real thing."""
    database = open_database(f"sqlite:///{tmp_path / 'his.db'}")
    his = FlakyHis(open_embedded_his(database, patient=demo_patient()))
    ledger = Ledger(database)
    payments = Payments(database, his, [PrepaidAccount(ledger), CashDesk(ledger)], ledger=ledger)
    printer = escpos_printer({"kind": "file", "path": str(tmp_path / "printer.bin")})
    try:
        with PrintQueue(database, {"front": printer}, audit=lambda **_: None, poll_interval=0.05) as queue:
            yield Hospital(his, payments, queue)
    finally:
        database.close()


def idcard_monitor() -> IdCardMonitor:
    """An ID-card reader with the simulator's synthetic resident card on it, read."""
    monitor = IdCardMonitor({"desk": FakeIdCardReader(load_card("resident").person)})
    monitor.poll_once("desk")
    return monitor


class IssuanceDesk:
    """Issues every applicant a card at once (the service and the dispenser: tests/issuance_service)."""

    def issue(self, person: PersonIn, *, on_stage: Callable[[str], None]) -> IssuanceResult:
        on_stage("dispensing")
        return IssuanceResult(mask_id_number(person.id_number), "active", "0000000001")

    def terms(self) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(issuer_name="演示发卡机构", card_fee_fen=0, bank_application=True)

    def record_id_number(self, **given: str) -> dict[str, str]:
        return {"status": "active"}


def hospital_stack(make_stack: StackFactory, hospital: Hospital, limiter: RateLimiter) -> Stack:
    stack = make_stack(his=hospital.his, payments=hospital.payments, print_queue=hospital.print_queue,
                       limiter=limiter, idcard=idcard_monitor())  # fmt: skip
    stack.services.issuance = IssuanceDesk()
    return stack


# -- every status an operation answers is documented --------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A well-formed request for one operation: past validation and the route's own checks of the
    request, so that it meets the shared refusals."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    idempotent: bool = False  # sends an Idempotency-Key


CARD = "/v1/readers/default/card"
CHILD = {"birth_certificate": "O110000001", "name": "李小宝", "sex": "2", "birth_date": "2026-10-01",
         "relation": "52"}  # fmt: skip
PROBES: dict[str, Probe] = {
    "GET /v1/health": Probe("/v1/health"),
    "GET /metrics": Probe("/metrics"),
    "GET /v1/readers": Probe("/v1/readers"),
    "GET /v1/readers/{reader}": Probe("/v1/readers/default"),
    "GET /v1/sams": Probe("/v1/sams"),
    "GET /v1/readers/{reader}/card": Probe(CARD),
    "GET /v1/readers/{reader}/card/identity": Probe(f"{CARD}/identity"),
    "GET /v1/readers/{reader}/card/health": Probe(f"{CARD}/health", {"files": ["DDF1/EF05"]}),
    "GET /v1/readers/{reader}/card/items": Probe(f"{CARD}/items", {"function": "iR_DDF1EF06Info"}),
    "PATCH /v1/readers/{reader}/card/files/{path}": Probe(
        f"{CARD}/files/DDF1/DF01/EF05", json={"items": {"DZ1": "北京市海淀区中关村大街1号", "DZLB1": "1"}}
    ),
    "POST /v1/readers/{reader}/card/allergies": Probe(
        f"{CARD}/allergies", json={"substance": "青霉素", "reaction": "皮疹"}
    ),
    "POST /v1/readers/{reader}/card/immunisations": Probe(
        f"{CARD}/immunisations", json={"vaccine": "乙肝疫苗", "date": "2020-01-01"}
    ),
    "GET /v1/readers/{reader}/card/encounters/{kind}": Probe(f"{CARD}/encounters/outpatient"),
    "POST /v1/readers/{reader}/card/encounters/{kind}": Probe(
        f"{CARD}/encounters/outpatient", json=OUTPATIENT
    ),
    "DELETE /v1/readers/{reader}/card/encounters/{kind}/{slot}": Probe(f"{CARD}/encounters/outpatient/1"),
    "POST /v1/events/tickets": Probe("/v1/events/tickets"),
    "GET /v1/events": Probe("/v1/events"),
    "GET /v1/registration/departments": Probe("/v1/registration/departments"),
    "GET /v1/registration/departments/{department_id}/doctors": Probe(
        "/v1/registration/departments/NK/doctors"
    ),
    "GET /v1/registration/slots": Probe("/v1/registration/slots", {"department": "NK"}),
    "POST /v1/registration/bookings": Probe(
        "/v1/registration/bookings", json={"slot_id": "S-0", "reader": "default"}, idempotent=True
    ),
    "GET /v1/registration/bookings": Probe("/v1/registration/bookings"),
    "POST /v1/registration/bookings/{registration_id}/cancel": Probe(
        "/v1/registration/bookings/R-0/cancel", idempotent=True
    ),
    "GET /v1/payments/methods": Probe("/v1/payments/methods"),
    "GET /v1/payments/bills": Probe("/v1/payments/bills"),
    "GET /v1/payments/account": Probe("/v1/payments/account"),
    "POST /v1/payments": Probe(
        "/v1/payments", json={"bill_id": "B-0", "amount_fen": 100, "method": "prepaid"}, idempotent=True
    ),
    "POST /v1/payments/top-ups": Probe(
        "/v1/payments/top-ups", json={"amount_fen": 100, "method": "cash"}, idempotent=True
    ),
    "POST /v1/payments/cancel": Probe("/v1/payments/cancel"),
    "GET /v1/payments/orders": Probe("/v1/payments/orders"),
    "GET /v1/payments/orders/{reference}": Probe("/v1/payments/orders/P-0"),
    "POST /v1/payments/orders/{reference}/refund": Probe(
        "/v1/payments/orders/P-0/refund", json={"amount_fen": 100}, idempotent=True
    ),
    "GET /v1/payments/reconciliation": Probe("/v1/payments/reconciliation", {"day": "2024-01-01"}),
    "GET /v1/print/printers": Probe("/v1/print/printers"),
    "POST /v1/print/jobs": Probe(
        "/v1/print/jobs", json={"kind": "registration_slip", "registration_id": "R-0"}, idempotent=True
    ),
    "GET /v1/print/jobs": Probe("/v1/print/jobs"),
    "GET /v1/print/jobs/{job_ref}": Probe("/v1/print/jobs/J-0"),
    "GET /v1/print/jobs/{job_ref}/preview": Probe("/v1/print/jobs/J-0/preview"),
    "POST /v1/print/jobs/{job_ref}/cancel": Probe("/v1/print/jobs/J-0/cancel"),
    "POST /v1/print/jobs/{job_ref}/reprint": Probe("/v1/print/jobs/J-0/reprint", json={}, idempotent=True),
    "GET /v1/print/lab-reports": Probe("/v1/print/lab-reports"),
    "GET /v1/idcard": Probe("/v1/idcard", {"full": True}),
    "POST /v1/issuance": Probe("/v1/issuance", json={"phone": "13800000001", "consent": True}),
    "GET /v1/issuance/terms": Probe("/v1/issuance/terms"),
    "POST /v1/issuance/child": Probe(
        "/v1/issuance/child", json={"phone": "13800000001", "consent": True, "child": CHILD}
    ),
    "POST /v1/issuance/birth-record": Probe(
        "/v1/issuance/birth-record", json={"birth_certificate": "O110000001"}
    ),
    "PUT /v1/issuance/reader/{reader}/id-number": Probe(
        "/v1/issuance/reader/default/id-number", json={"id_number": "110105202610010024"}
    ),
    "POST /v1/kiosk/launch-tokens": Probe("/v1/kiosk/launch-tokens", json={"lifetime": 30}),
    "GET /v1/kiosk/session": Probe("/v1/kiosk/session"),
}


_KEYS = itertools.count()


def send(
    client: TestClient, method: str, probe: Probe, headers: dict[str, str], content: bytes | None
) -> Any:
    """The answer's status and error code (an event stream that opens is closed at once)."""
    headers = {**ADMIN, **headers}
    if probe.idempotent:
        headers["Idempotency-Key"] = f"probe-{next(_KEYS)}"
    body: dict[str, Any] = {"content": content} if content is not None else {"json": probe.json}
    with client.stream(method, probe.path, params=probe.params, headers=headers, **body) as response:
        if response.status_code < 400:
            return response.status_code, None
        response.read()
        return response.status_code, response.json()["error"]["code"]


@dataclass(frozen=True)
class State:
    """A state of the stack that makes some of the shared refusals (*apply* sets it, on the services)."""

    name: str
    apply: Callable[[Stack, Hospital], None] = lambda stack, hospital: None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


def _refusing_limiter(stack: Stack, hospital: Hospital) -> None:
    stack.services.limiter = RateLimiter(per_second=0.001, burst=0)


def _unconfigured(stack: Stack, hospital: Hospital) -> None:
    stack.services.his = stack.services.payments = stack.services.print_queue = None
    stack.services.idcard = stack.services.issuance = None


def _no_card(stack: Stack, hospital: Hospital) -> None:
    stack.backend.remove(CARD_READER)
    stack.wait_state("empty")


def _his_failing(error: Exception) -> Callable[[Stack, Hospital], None]:
    def apply(stack: Stack, hospital: Hospital) -> None:
        hospital.his.failure = error

    return apply


def _audit_failing(stack: Stack, hospital: Hospital) -> None:
    def audit(**record: Any) -> None:
        raise OSError("disk full")

    stack.services.audit = audit


STATES = [
    State("all well"),
    State("rate limit refusing", _refusing_limiter),
    State("no HIS, payments or printer configured", _unconfigured),
    State("no card in the reader", _no_card),
    State("HIS down", _his_failing(HisUnavailable("connection refused"))),
    State("HIS slow", _his_failing(HisTimeout("no answer within 10 s"))),
    State("HIS garbled", _his_failing(HisProtocolError("not JSON"))),
    State("audit failing", _audit_failing),
    State("foreign Host", headers={"Host": "evil.example"}),
    State("foreign Origin", headers={"Origin": "https://evil.example"}),
    State("body too large", content=b"{}" + b" " * (256 * 1024)),
]


@pytest.mark.parametrize("state", STATES, ids=[state.name for state in STATES])
def test_every_status_an_operation_answers_is_documented(
    make_stack: StackFactory, hospital: Hospital, state: State
) -> None:
    stack = hospital_stack(make_stack, hospital, RateLimiter(1000.0, 1000))
    with TestClient(stack.app, base_url=BASE_URL) as client:
        document = client.get("/openapi.json").json()
        listed = {f"{method.upper()} {path}": op for method, path, op in operations(document)}
        assert set(PROBES) == set(listed), "PROBES names every operation of the document, and only those"
        state.apply(stack, hospital)
        answers = {
            name: send(client, name.split()[0], probe, state.headers, state.content)
            for name, probe in PROBES.items()
        }
    undocumented = {
        name: answer for name, answer in answers.items() if str(answer[0]) not in listed[name]["responses"]
    }
    assert undocumented == {}, f"{state.name}: answered, not documented: {pformat(undocumented)}"
    if state.name == "all well":  # the probes are well formed: they reach the routes' logic
        assert [name for name, (_, code) in answers.items() if code == "invalid_request"] == []


def test_documented_codes_name_each_refusal(client: TestClient) -> None:
    """A status's description names the codes behind it, so a client knows what a 429 or a 503 means."""
    document = client.get("/openapi.json").json()
    tickets = document["paths"]["/v1/events/tickets"]["post"]["responses"]
    assert "rate_limited" in tickets["429"]["description"]
    bookings = document["paths"]["/v1/registration/bookings"]["post"]["responses"]
    assert "his_unavailable" in bookings["503"]["description"]
    assert "rate_limited" in bookings["429"]["description"]


# -- schemathesis, every check, the default rate limit ----------------------------------------------------

# positive_data_acceptance, as this API means it. A request the document allows may still be refused, 422,
# for what only the card, the HIS or the configuration can tell (invalid_data: a name too long for its
# field in GB18030 bytes, a record not of the encounter's kind; his_rejected; payment_rejected: no such
# bill; ...). Schemathesis takes any 422 there for "valid data rejected", so that check allows 422, and
# this one keeps its point: such a request is never refused as malformed (invalid_request) — the document
# says what the server checks of a request's form — but for the little a JSON Schema cannot say:
BEYOND_THE_SCHEMA: list[tuple[str, ...]] = [
    # an order between two parameters
    ("GET /v1/registration/slots", "date_to is before date_from"),
    # the methods are the daemon's configuration (GET /v1/payments/methods), not the document's
    ("POST /v1/payments", "body.method", "not offered here"),
    ("POST /v1/payments/top-ups", "body.method", "not offered here"),
    # money is a JSON integer: 3000.0 is refused (test_payments.py), and JSON Schema cannot tell it from 3000
    ("POST /v1/payments", "body.amount_fen", "valid integer"),
    ("POST /v1/payments/top-ups", "body.amount_fen", "valid integer"),
    ("POST /v1/payments/orders/{reference}/refund", "body.amount_fen", "valid integer"),
]


def schema_valid_requests_are_well_formed(ctx: Any, response: Any, case: schemathesis.Case[Any]) -> None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return
    error = response.json()["error"]
    said = json.dumps(error, ensure_ascii=False)
    if error["code"] != "invalid_request" or any(
        case.operation.label == where and all(phrase in said for phrase in phrases)
        for where, *phrases in BEYOND_THE_SCHEMA
    ):
        return
    raise AssertionError(f"a request the document allows was refused as malformed: {said}")


DEFAULT_RATE = RateLimit()  # the daemon's
FIXED_SEED = 20_260_101
if os.environ.get("SCHEMATHESIS_SEED"):
    SEED = int(os.environ["SCHEMATHESIS_SEED"])
elif os.environ.get("SCHEMATHESIS_RANDOM") == "1":
    SEED = random.SystemRandom().getrandbits(32)
else:
    SEED = FIXED_SEED
REPLAY = f"schemathesis seed {SEED}: replay with SCHEMATHESIS_SEED={SEED}"


@pytest.fixture
def api_schema(make_stack: StackFactory, hospital: Hospital) -> schemathesis.BaseSchema:
    """The stack over the hospital services with the daemon's default rate limit (10/s, bursts of 20):
    the 429s a busy client meets are part of the contract too."""
    stack = hospital_stack(make_stack, hospital, RateLimiter(DEFAULT_RATE.per_second, DEFAULT_RATE.burst))
    loaded = schemathesis.openapi.from_asgi("/openapi.json", stack.app, headers={"Host": "127.0.0.1:8765"})
    loaded.config.seed = SEED
    acceptance = loaded.config.checks.positive_data_acceptance
    acceptance.expected_statuses = [*acceptance.expected_statuses, "422"]  # see BEYOND_THE_SCHEMA
    print(REPLAY)  # shown with a failure's captured output
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/v1/events", method="GET")


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    database=None,  # no examples replayed from an earlier run: the seed alone decides
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case[Any]) -> None:
    try:
        case.call_and_validate(
            base_url=BASE_URL, headers=ADMIN, checks=[*CHECKS, schema_valid_requests_are_well_formed]
        )
    except BaseException as failure:
        failure.add_note(REPLAY)
        raise
