"""The app's own OpenAPI document, and a property-based run over it (schemathesis): whatever a client
sends, the answer is never a 5xx, its status code and content type are ones the document lists, its body
matches the schema, and data the schema forbids is refused.

The card is virtual, so writes are fine; one fresh card per run. Left out: ``GET /v1/events`` (it
streams until the client goes; tests/api/test_events.py covers it). The WebSocket is not in the document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from cardservice.his import open_embedded_his
from cardservice.payments import CashDesk, Ledger, Payments, PrepaidAccount
from cardservice.printing import PrintQueue
from cardservice.store import open_database
from drivers.printers import escpos_printer
from simulators.demo import demo_patient
from tests.api.conftest import ADMIN, BASE_URL, StackFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


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
        if path == "/v1/health":
            assert set(op["responses"]) == {"200"}
        else:
            assert {"401", "403"} <= set(op["responses"]), (method, path)


@pytest.fixture
def api_schema(make_stack: StackFactory, tmp_path: Path) -> Iterator[schemathesis.BaseSchema]:
    """The stack with the embedded HIS, payments and a print queue (a file printer) on SQLite: the
    hospital routes are fuzzed against the real thing."""
    database = open_database(f"sqlite:///{tmp_path / 'his.db'}")
    his = open_embedded_his(database, patient=demo_patient())
    ledger = Ledger(database)
    payments = Payments(database, his, [PrepaidAccount(ledger), CashDesk(ledger)], ledger=ledger)
    printer = escpos_printer({"kind": "file", "path": str(tmp_path / "printer.bin")})
    with PrintQueue(database, {"front": printer}, audit=lambda **_: None, poll_interval=0.05) as queue:
        stack = make_stack(his=his, payments=payments, print_queue=queue)
        yield schemathesis.openapi.from_asgi("/openapi.json", stack.app, headers={"Host": "127.0.0.1:8765"})
    database.close()


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/v1/events", method="GET")


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(base_url=BASE_URL, headers=ADMIN, checks=CHECKS)
