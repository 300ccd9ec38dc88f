"""Prometheus metrics for admin keys: requests by route template (never raw reader or card ids)."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.api.conftest import ADMIN, HIS, KIOSK, READER, Stack, assert_error


def test_metrics_count_requests_by_route_template(client: TestClient, stack: Stack) -> None:
    card_id = stack.reader().card_id
    assert card_id is not None
    assert client.get(f"/v1/readers/{READER}/card/identity", headers=KIOSK).status_code == 200
    assert client.get(f"/v1/readers/{READER}/card/health", headers=HIS).status_code == 200
    client.patch(
        f"/v1/readers/{READER}/card/files/DDF1/DF01/EF05",
        json={"items": {"DZ1": "新地址"}},
        headers={**HIS, "X-Card-Id": card_id},
    )
    client.get("/v1/readers/no-such-reader", headers=KIOSK)
    response = client.get("/metrics", headers=ADMIN)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    identity = 'method="GET",route="/v1/readers/{reader}/card/identity",status="200"'
    assert f"cardservice_http_requests_total{{{identity}}} 1.0" in text
    assert 'route="/v1/readers/{reader}/card/files/{path:path}",status="200"' in text
    assert 'route="/v1/readers/{reader}",status="404"' in text
    assert 'cardservice_card_operations_total{operation="card.read_health",result="ok"} 1.0' in text
    assert "cardservice_cards_present 1.0" in text
    assert 'cardservice_readers{role="card"} 1.0' in text
    labels = " ".join(re.findall(r"\{[^}]*\}", text))
    for raw in (READER, card_id, "no-such-reader", "DDF1/DF01/EF05"):
        assert raw not in labels


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    client.get("/v1/secret-path-12345", headers=KIOSK)
    text = client.get("/metrics", headers=ADMIN).text
    assert "secret-path-12345" not in text
    assert 'route="unmatched",status="404"' in text


def test_metrics_need_an_admin_key(client: TestClient) -> None:
    assert_error(client.get("/metrics", headers=KIOSK), 403, "forbidden")
    assert_error(client.get("/metrics"), 401, "unauthorized")


def test_made_up_methods_add_no_series(client: TestClient) -> None:
    """Labels come from a closed set: 5,000 made-up methods, without a key, are one series."""
    for n in range(5000):
        client.request(f"X{n:04d}", "/v1/health")
    text = client.get("/metrics", headers=ADMIN).text
    assert "X0001" not in text
    series = [line for line in text.splitlines() if line.startswith("cardservice_http_requests_total{")]
    assert len([line for line in series if 'method="other"' in line]) == 1
    assert len(series) < 10
