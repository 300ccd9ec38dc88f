"""The acquirer knows its terminals: a real ``python -m simulators.acquirer --token-env`` process, and the
gateway presenting (or failing to present) its token over a real socket."""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cardservice.payments import GatewayMethod, MethodStatus
from tests.payments.conftest import make_patient
from tests.payments.test_acquirer_process import free_port

TOKEN_ENV = "TEST_ACQUIRER_TOKEN"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, int]]:
    """(url, token, pid) of an acquirer that requires the token."""
    token = secrets.token_urlsafe(24)
    port, db = free_port(), tmp_path_factory.mktemp("acquirer") / "acq.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.acquirer", "--port", str(port), "--database", f"sqlite:///{db}",
         "--token-env", TOKEN_ENV],
        env={**os.environ, TOKEN_ENV: token},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(f"{url}/health", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            assert process.poll() is None, "the acquirer exited"
            assert time.monotonic() < deadline, "the acquirer did not start"
            time.sleep(0.05)
    try:
        yield url, token, process.pid
    finally:
        process.terminate()
        process.wait(10)


def day_list(url: str, token: str) -> list[str]:
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))  # the acquirer's day is China's
    answer = httpx.get(
        f"{url}/v1/transactions", params={"day": today}, headers={"Authorization": f"Bearer {token}"}
    )
    answer.raise_for_status()
    return [row["reference"] for row in answer.json()["transactions"]]


def test_a_request_without_the_token_is_refused_and_does_nothing(served: tuple[str, str, int]) -> None:
    url, token, _ = served
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
        refused = httpx.post(
            f"{url}/v1/charges", json={"reference": "NOAUTH1", "amount_fen": 100}, headers=headers
        )
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["error"]["code"] == "unauthorized"
    assert httpx.get(f"{url}/v1/transactions/NOAUTH1").status_code == 401
    assert "NOAUTH1" not in day_list(url, token)


def test_the_gateway_presents_its_token(served: tuple[str, str, int]) -> None:
    url, token, _ = served
    with GatewayMethod(url, token=token) as gateway:
        charged = gateway.charge("AUTH1", 250, make_patient(1), idempotency_key="AUTH1")
        assert charged.status is MethodStatus.APPROVED
        assert gateway.query("AUTH1").status is MethodStatus.APPROVED
        assert [record.reference for record in gateway.records(charged_day(url, token))] == ["AUTH1"]


def charged_day(url: str, token: str) -> dt.date:
    answer = httpx.get(f"{url}/v1/transactions/AUTH1", headers={"Authorization": f"Bearer {token}"}).json()
    return dt.date.fromisoformat(answer["day"])


def test_refused_credentials_take_nothing_and_decide_nothing(
    served: tuple[str, str, int], caplog: pytest.LogCaptureFixture
) -> None:
    """A charge the acquirer refused for our credentials took no money: unavailable (the patient may pay
    another way), not declined. A query it refused says nothing: in doubt, never not-found."""
    url, token, _ = served
    wrong = "not-" + token
    with (
        caplog.at_level(logging.ERROR, logger="cardservice.payments"),
        GatewayMethod(url, token=wrong) as gateway,
    ):
        charge = gateway.charge("AUTH2", 300, make_patient(2), idempotency_key="AUTH2")
        assert charge.status is MethodStatus.UNAVAILABLE
        assert "credentials" in charge.message
        assert gateway.query("AUTH2").status is MethodStatus.IN_DOUBT
        refund = gateway.refund("AUTH2", 300, "AUTH2-R")
        assert refund.status is MethodStatus.UNAVAILABLE
    assert "AUTH2" not in day_list(url, token)
    assert "payment_gateway_token_env" in caplog.text
    assert wrong not in caplog.text
    assert token not in caplog.text


def test_the_token_is_not_on_the_command_line(served: tuple[str, str, int]) -> None:
    _, token, pid = served
    assert token.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()


def test_an_unset_token_variable_stops_the_acquirer_at_once(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != TOKEN_ENV}
    finished = subprocess.run(
        [sys.executable, "-m", "simulators.acquirer", "--port", str(free_port()),
         "--database", f"sqlite:///{tmp_path / 'a.db'}", "--token-env", TOKEN_ENV],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert finished.returncode == 2
    assert f"${TOKEN_ENV} is not set" in finished.stderr


def test_a_token_with_spaces_or_control_characters_is_refused_before_anything_is_sent() -> None:
    for bad in ("", " padded", "line\nbreak"):
        with pytest.raises(ValueError, match="token"):
            GatewayMethod("http://127.0.0.1:9", token=bad)
