"""The kiosk daemon's ``GET /v1/issuance/terms``: what the consent screen shows — the issuer, the card's fee,
whether the bank application comes with it (the issuance service's own terms, fetched over HTTP(S) from the
relay's host with the kiosk's key and the relay's TLS rules, kept a minute) and what is written on the card.
503 ``issuance_unavailable`` when the service cannot be reached, refuses the key, or is not configured."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import cardservice.daemon._issuance as issuance_module
from cardservice.daemon import load_settings
from cardservice.daemon._issuance import KioskIssuance, kiosk_relay, terms_url
from cardservice.issuance import IssuanceFailed
from tests.api.conftest import BASE_URL, HIS, KIOSK, Stack, StackFactory, assert_error, make_stack
from tests.issuance_service.conftest import KioskFactory, Service
from tests.issuance_service.test_service_process import process, service_home

__all__ = ["make_stack", "process", "service_home"]

URL = "/v1/issuance/terms"


def _http(service: Service) -> str:
    return terms_url(service.url)


@pytest.fixture
def desk_stack(
    make_stack: StackFactory, served: Service, make_kiosk: KioskFactory
) -> tuple[Stack, KioskIssuance]:
    kiosk = make_kiosk(served)
    desk = KioskIssuance(kiosk.relay, _http(served), served.token("kiosk-terms"))
    stack = make_stack()
    stack.services.issuance = desk
    return stack, desk


def test_the_consent_screen_gets_the_services_terms_and_the_cards_items(
    desk_stack: tuple[Stack, KioskIssuance], served: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, _ = desk_stack
    served.service.card_fee_fen = 1500
    with TestClient(stack.app, base_url=BASE_URL) as client:
        answer = client.get(URL, headers=KIOSK)
        assert answer.status_code == 200, answer.text
        terms = answer.json()
        assert terms == {
            "issuer_name": served.service.setup.issuer.issuer_name,
            "card_fee_fen": 1500,
            "bank_application": True,  # the served setup issues the bank application
            "items": ["姓名", "性别", "民族", "出生日期", "身份证号码", "本人电话", "地址"],
        }
        assert client.get(URL, headers=HIS).status_code == 200  # a kiosk scope's read: his may too

        # kept a minute: a fee changed at the service shows once that has passed, not before
        served.service.card_fee_fen = 0
        assert client.get(URL, headers=KIOSK).json()["card_fee_fen"] == 1500
        monkeypatch.setattr(issuance_module, "TERMS_TTL", 0.0)
        assert client.get(URL, headers=KIOSK).json()["card_fee_fen"] == 0
        assert client.get(URL).status_code == 401


def test_an_unreachable_or_refusing_service_is_issuance_unavailable(
    make_stack: StackFactory, served: Service, make_kiosk: KioskFactory
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/v1/issuances/terms"
    kiosk = make_kiosk(served)
    stack = make_stack()
    with TestClient(stack.app, base_url=BASE_URL) as client:
        stack.services.issuance = KioskIssuance(kiosk.relay, closed, served.token("kiosk-a"))
        error = assert_error(client.get(URL, headers=KIOSK), 503, "issuance_unavailable")
        assert error["message_zh"] == "发卡服务暂时无法连接，请到人工窗口办理"
        stack.services.issuance = KioskIssuance(kiosk.relay, _http(served), "csk_not_a_key")
        assert_error(client.get(URL, headers=KIOSK), 503, "issuance_unavailable")
        stack.services.issuance = None  # no [issuance] configured
        assert_error(client.get(URL, headers=KIOSK), 503, "issuance_unavailable")


def test_terms_over_tls_with_the_relays_ca_only(
    process: tuple[str, str],
    service_home: tuple[Path, dict[str, str], int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service process over TLS (a self-signed certificate, card_fee_fen = 1000): the terms come over
    https:// from the relay's wss:// host when the kiosk trusts its CA, and not otherwise."""
    url, token = process
    home = service_home[0]
    monkeypatch.setenv("CARDSERVICE_ISSUANCE_TOKEN", token)
    section = {"service_url": url, "dispenser": "k720", "device": "/dev/null", "reader": "none"}
    trusting = load_settings(home=tmp_path, issuance={**section, "ca_certificate": str(home / "service.crt")})
    assert trusting.issuance is not None
    desk = kiosk_relay(trusting.issuance)
    try:
        terms = desk.terms()
        assert (terms.card_fee_fen, terms.bank_application) == (1000, True)
    finally:
        desk.close()
    untrusting = load_settings(home=tmp_path, issuance=section)
    assert untrusting.issuance is not None
    stranger = kiosk_relay(untrusting.issuance)
    with pytest.raises(IssuanceFailed) as refused:
        stranger.terms()
    assert refused.value.code == "issuance_unavailable"
    stranger.close()
