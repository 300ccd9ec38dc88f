"""The kiosk page's credential: a one-time launch token, asked for with a key, becomes an HttpOnly
SameSite=Strict session cookie that works only from the daemon's own pages (``Sec-Fetch-Site``), only with
the kiosk scope and only on the readers named at launch; and the pages at /kiosk/ with their CSP."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from cardservice.api._errors import api_error
from cardservice.api._kiosk import SESSION_COOKIE, KioskSessions
from cardservice.api.routes.events import _visible
from cardservice.his import HisRejected
from tests.api.conftest import BASE_URL, HIS, HIS_KEY, KEYS, KIOSK, KIOSK_KEY, READER, Stack, assert_error

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def launch(client: TestClient, headers: dict[str, str] = KIOSK, **body: object) -> str:
    answer = client.post("/v1/kiosk/launch-tokens", headers=headers, json=body)
    assert answer.status_code == 201, answer.text
    url: str = answer.json()["url"]
    assert url.startswith("/kiosk/launch?token=ckl_")
    return url


def page_client(stack: Stack, url: str) -> TestClient:
    """A browser's view: a client with no key that opened the launch URL (and so holds the cookie)."""
    browser = TestClient(stack.app, base_url=BASE_URL, follow_redirects=False)
    opened = browser.get(url)
    assert opened.status_code == 303
    assert opened.headers["location"] == "/kiosk/"
    assert opened.headers["cache-control"] == "no-store"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=cks_")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    return browser


def test_a_launch_token_needs_a_key(client: TestClient) -> None:
    assert_error(client.post("/v1/kiosk/launch-tokens", json={}), 401, "unauthorized")


def test_the_launch_url_becomes_a_session_cookie_once(stack: Stack, client: TestClient) -> None:
    url = launch(client)
    browser = page_client(stack, url)
    session = browser.get("/v1/kiosk/session", headers=SAME_ORIGIN)
    assert session.status_code == 200, session.text
    assert session.json()["readers"] == ["default"]
    assert session.json()["hospital_name"] == "测试医院"
    with TestClient(stack.app, base_url=BASE_URL, follow_redirects=False) as stranger:
        spent = stranger.get(url)  # the same URL again, by anyone: spent
    assert spent.status_code == 403
    assert "已失效" in spent.text
    again = browser.get(url)  # the page's own reload of its launch URL: it has its session already
    assert again.status_code == 303
    assert again.headers["location"] == "/kiosk/"


def test_the_cookie_works_only_from_our_own_pages(stack: Stack, client: TestClient) -> None:
    browser = page_client(stack, launch(client))
    assert browser.get("/v1/kiosk/session", headers=SAME_ORIGIN).status_code == 200
    # No Sec-Fetch-Site (not a browser's request) or another site's page (another port of 127.0.0.1 is the
    # same *site* and would get the cookie): refused, as if there were no cookie at all.
    for headers in ({}, {"Sec-Fetch-Site": "same-site"}, {"Sec-Fetch-Site": "cross-site"}):
        assert_error(browser.get("/v1/kiosk/session", headers=headers), 401, "unauthorized")
    stack.services.kiosk_sessions = KioskSessions()  # a restarted daemon knows no session
    assert_error(browser.get("/v1/kiosk/session", headers=SAME_ORIGIN), 401, "unauthorized")


def test_a_session_is_a_kiosk_whatever_key_launched_it(stack: Stack, client: TestClient) -> None:
    browser = page_client(stack, launch(client, headers=HIS))
    identity = browser.get("/v1/readers/default/card/identity", headers=SAME_ORIGIN)
    assert identity.status_code == 200
    assert identity.json()["masked"] is True
    assert_error(browser.post("/v1/kiosk/launch-tokens", headers=SAME_ORIGIN, json={}), 403, "forbidden")


def test_a_session_uses_only_the_readers_it_was_launched_for(stack: Stack, client: TestClient) -> None:
    own = page_client(stack, launch(client, readers=[READER]))
    assert own.get("/v1/readers/default/card/identity", headers=SAME_ORIGIN).json()["reader"] == READER
    assert own.get(f"/v1/readers/{READER}/card/identity", headers=SAME_ORIGIN).status_code == 200
    other = page_client(stack, launch(client, readers=["kiosk-2-reader"]))
    assert_error(other.get(f"/v1/readers/{READER}/card/identity", headers=SAME_ORIGIN), 403, "forbidden")
    assert_error(other.get("/v1/readers/default/card", headers=SAME_ORIGIN), 404, "reader_not_found")


def test_revoking_the_key_ends_its_sessions_and_tokens(stack: Stack, client: TestClient) -> None:
    browser = page_client(stack, launch(client))
    pending = launch(client)
    stack.services.key_revoked(KEYS[KIOSK_KEY])
    assert_error(browser.get("/v1/kiosk/session", headers=SAME_ORIGIN), 401, "unauthorized")
    with TestClient(stack.app, base_url=BASE_URL, follow_redirects=False) as late:
        assert late.get(pending).status_code == 403
    # Another key's sessions live on.
    assert page_client(stack, launch(client, headers=HIS)).get("/v1/kiosk/session", headers=SAME_ORIGIN)


def test_launch_tokens_expire_and_sessions_idle_out(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("cardservice.api._kiosk.time.monotonic", lambda: now[0])
    sessions = KioskSessions(idle_lifetime=60)
    parent = KEYS[KIOSK_KEY]
    late = sessions.launch_token(parent, (), lifetime=5)
    now[0] += 5.1
    assert sessions.open(late) is None
    session_id = sessions.open(sessions.launch_token(parent, (), lifetime=5))
    assert session_id is not None
    now[0] += 59
    assert sessions.find(session_id) is not None  # used: its idle time starts again
    now[0] += 59
    assert sessions.find(session_id) is not None
    now[0] += 61
    assert sessions.find(session_id) is None


def test_a_key_holds_a_few_sessions_the_oldest_ends_first() -> None:
    sessions = KioskSessions(per_key=2)
    parent = KEYS[KIOSK_KEY]
    ids = [sessions.open(sessions.launch_token(parent, (), 30)) for _ in range(3)]
    assert [sessions.find(i) is not None for i in ids if i] == [False, True, True]


def test_a_session_sees_the_card_events_of_its_own_readers_only(stack: Stack) -> None:
    sessions = stack.services.kiosk_sessions
    mine = sessions.find(sessions.open(sessions.launch_token(KEYS[KIOSK_KEY], [READER], 30)) or "")
    other = sessions.find(sessions.open(sessions.launch_token(KEYS[KIOSK_KEY], ["elsewhere"], 30)) or "")
    assert mine is not None
    assert other is not None
    inserted = {"type": "card.inserted", "reader": READER, "card": "1101****"}
    assert _visible(stack.services, mine, inserted)
    assert not _visible(stack.services, other, inserted)
    assert _visible(stack.services, other, {"type": "printer.problem", "code": "paper_out"})
    assert _visible(stack.services, KEYS[HIS_KEY], inserted)  # keys see every reader, as before


def test_the_kiosk_page_is_served_with_its_content_security_policy(client: TestClient) -> None:
    page = client.get("/kiosk/")
    assert page.status_code == 200
    assert "居民健康卡自助服务" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    import_map = re.search(r'<script type="importmap">(.*?)</script>', page.text, re.S)
    assert import_map is not None
    digest = base64.b64encode(hashlib.sha256(import_map.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy  # the one inline script, by hash; no 'unsafe-inline'
    assert "unsafe" not in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    module = client.get("/kiosk/vendor/preact.mjs")
    assert module.status_code == 200
    assert module.headers["content-type"].startswith("text/javascript")
    assert module.headers["x-content-type-options"] == "nosniff"
    assert client.get("/kiosk", follow_redirects=False).headers["location"] == "/kiosk/"


def test_the_his_own_chinese_message_reaches_the_patient() -> None:
    refused = api_error(HisRejected("the visit time has begun", message_zh="就诊时间已到，无法取消"))
    assert refused.code == "his_rejected"
    assert refused.message_zh == "就诊时间已到，无法取消"
