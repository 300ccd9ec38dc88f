"""One error shape for every failure — ``{"error": {"code", "message", "message_zh", "details"}}`` — with
a stable code and never a stack trace."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN, HIS, KIOSK, assert_error

ALLERGIES = "/v1/readers/default/card/allergies"


def test_unknown_route_is_not_found(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here", headers=KIOSK), 404, "not_found")
    assert_error(client.get("/v2/readers"), 404, "not_found")


def test_wrong_method_is_method_not_allowed(client: TestClient) -> None:
    response = client.delete("/v1/readers", headers=ADMIN)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_invalid_query_lists_the_problems(client: TestClient) -> None:
    response = client.get("/v1/readers/default/card/identity", params={"photo": "perhaps"}, headers=KIOSK)
    error = assert_error(response, 422, "invalid_request")
    assert [p["where"] for p in error["details"]["problems"]] == ["query.photo"]


def test_invalid_body_lists_the_problems(client: TestClient) -> None:
    response = client.post(ALLERGIES, json={"reaction": "皮疹", "colour": "red"}, headers=HIS)
    error = assert_error(response, 422, "invalid_request")
    assert {p["where"] for p in error["details"]["problems"]} == {"body.substance", "body.colour"}


def test_body_that_is_not_json_is_invalid(client: TestClient) -> None:
    response = client.post(
        ALLERGIES, content=b"{not json", headers={**HIS, "Content-Type": "application/json"}
    )
    assert_error(response, 422, "invalid_request")


def test_large_body_with_content_length_is_refused(client: TestClient) -> None:
    response = client.post(ALLERGIES, content=b"x" * (256 * 1024 + 1), headers=HIS)
    assert_error(response, 413, "payload_too_large")


def test_bad_content_length_is_refused(client: TestClient) -> None:
    response = client.post(ALLERGIES, content=b"{}", headers={**HIS, "Content-Length": "-1"})
    assert_error(response, 413, "payload_too_large")


def test_large_chunked_body_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b" " * 8192

    response = client.post(ALLERGIES, content=chunks(), headers={**HIS, "Content-Type": "application/json"})
    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert_error(response, 413, "payload_too_large")


def test_unknown_reader(client: TestClient) -> None:
    error = assert_error(
        client.get("/v1/readers/no-such-reader/card/identity", headers=KIOSK), 404, "reader_not_found"
    )
    assert error["details"] == {"reader": "no-such-reader"}
    assert_error(client.get("/v1/readers/no-such-reader", headers=KIOSK), 404, "reader_not_found")
    assert_error(client.get("/v1/readers/no-such-reader/card/health", headers=HIS), 404, "reader_not_found")
