"""Every error screen of the kiosk, through the real stack: Debian's chromium, ``serve --demo`` through
pcscd + vpcd, and — in place of the demo's embedded HIS and acquirer — services this module runs and
breaks on purpose: the reference HIS server (over an embedded HIS in a SQLite file, today's slots) behind
an ASGI fault layer, and the simulated acquirer as a child process switched by its ``/control``.

Card faults come from the demo card-sim's control socket (card and PSAM pulled, a damaged card swapped
in), the blacklist from the CLI. Each test ends on the screen the fault leads to, checked (axe, sizes,
screenshot) with the voice prompt it plays; the API is asked afterwards what really happened to the money.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser

from cardservice.his import CHINA_TZ, open_embedded_his
from cardservice.his._server import create_app
from cardservice.store import open_database
from simulators.control import default_control_path, send_control
from simulators.demo import demo_patient
from simulators.health import DEMO_HOLDER_PATH
from tests.kiosk.conftest import Kiosk, open_kiosk, pcscd_up
from tests.pcsc.conftest import CARD_PORT
from tests.pcsc.test_daemon_pcsc import Daemon, ctl, start_daemon, wait_for_state

pytestmark = pytest.mark.pcsc

HOLDER = json.loads(Path(DEMO_HOLDER_PATH).read_text(encoding="utf-8"))
CARD_NUMBER = HOLDER["DDF1/EF05"]["card_number"]
FULL_NAME = HOLDER["DDF1/EF06"]["name"]
ID_NUMBER = HOLDER["DDF1/EF06"]["id_number"]
HIS_TOKEN = "kiosk-faults-his-token-0123456789"
HIS_TOKEN_ENV = "KIOSK_TEST_HIS_TOKEN"
GATEWAY_TIMEOUT = 2  # seconds the daemon waits for a charge before it is in doubt
DEPARTMENTS = "GET /v1/departments"
_DOWN = json.dumps(
    {"error": {"code": "his_unavailable", "message": "maintenance", "message_zh": "系统维护中"}}
).encode()

# Every state the page shows, in order ("screen: text"), so a state shown only briefly is not missed.
_WATCH = """() => {
  window.__seen = [];
  const note = () => {
    const kiosk = document.querySelector(".kiosk");
    const entry = `${kiosk?.dataset.screen}: ${kiosk?.querySelector("main")?.innerText ?? ""}`;
    if (window.__seen[window.__seen.length - 1] !== entry) window.__seen.push(entry);
  };
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true});
  note();
}"""


class Faults:
    """ASGI wrapper over the reference HIS: per "METHOD /path", a queue of faults played before the real
    app — "503" (the HIS answers his_unavailable) or a number (the HIS answers that many seconds late)."""

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
            if fault == "503":
                length = str(len(_DOWN)).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", length)]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": _DOWN})
                return
            if fault is not None:
                await asyncio.sleep(float(fault))  # then the real app answers, late
        await self.app(scope, receive, send)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def poll(condition: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(0.05)
    return result


@pytest.fixture(scope="module")
def his(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Faults]]:
    """The reference HIS (today's slots in Beijing, a real clock) behind :class:`Faults`, served by
    uvicorn in a thread on a free port: (its URL, its faults)."""
    database = open_database(f"sqlite:///{tmp_path_factory.mktemp('his') / 'his.db'}")
    embedded = open_embedded_his(database, today=dt.datetime.now(CHINA_TZ).date(), patient=demo_patient())
    faults = Faults(create_app(embedded, token=HIS_TOKEN))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        faults, log_level="warning", lifespan="off", ws="none", access_log=False, timeout_graceful_shutdown=3
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    poll(lambda: server.started, "the HIS to start", timeout=10)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", faults
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        database.close()


@pytest.fixture(scope="module")
def acquirer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The simulated acquirer, a child process on a free port: its URL (``/control`` switches its mode)."""
    port = _free_port()
    database = tmp_path_factory.mktemp("acquirer") / "acq.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.acquirer",
            "--port",
            str(port),
            "--database",
            f"sqlite:///{database}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, "the acquirer exited"
        try:
            return httpx.get(f"{url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        poll(healthy, "the acquirer to start")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def kiosk_daemon(
    tmp_path_factory: pytest.TempPathFactory, his: tuple[str, Faults], acquirer: str
) -> Iterator[Daemon]:
    """This module's daemon (the ``kiosk`` fixture of conftest.py uses it): the demo's card, PSAM and
    printer, this module's HIS and acquirer."""
    pcscd_up()
    env = {
        "CARDSERVICE_HIS_URL": his[0],
        "CARDSERVICE_HIS_TOKEN_ENV": HIS_TOKEN_ENV,
        HIS_TOKEN_ENV: HIS_TOKEN,
        "CARDSERVICE_PAYMENT_GATEWAY_URL": acquirer,
        "CARDSERVICE_PAYMENT_GATEWAY_TIMEOUT": str(GATEWAY_TIMEOUT),
    }
    with start_daemon(tmp_path_factory.mktemp("kiosk-faults-home"), env) as running:
        yield running


@pytest.fixture
def faults(his: tuple[str, Faults]) -> Iterator[Faults]:
    """The HIS's faults, none left planned after the test."""
    try:
        yield his[1]
    finally:
        his[1].plan.clear()


@pytest.fixture
def bank(acquirer: str) -> Iterator[Callable[..., None]]:
    """Switch the acquirer (``bank(mode="decline")``); it approves again after the test."""

    def switch(**control: Any) -> None:
        answer = httpx.post(f"{acquirer}/control", json=control, timeout=5)
        assert answer.status_code == 200, answer.text

    try:
        yield switch
    finally:
        switch(mode="approve", delay=0)


# -- helpers --------------------------------------------------------------------------------------------


def sam(command: str) -> None:
    """Take the PSAM out of its reader ("remove") or put it back ("insert")."""
    reply = send_control(default_control_path(CARD_PORT), {"cmd": command, "slot": "sam"})
    assert reply.get("ok"), reply


def reinsert(daemon: Daemon) -> None:
    """Pull the card and put it back, read again."""
    ctl("remove")
    wait_for_state(daemon, "empty")
    ctl("insert")
    wait_for_state(daemon, "ready")


def no_personal_data(kiosk: Kiosk) -> None:
    html = kiosk.page.content()
    assert FULL_NAME not in html
    assert ID_NUMBER not in html
    assert ID_NUMBER[-6:] not in html


def seen(kiosk: Kiosk) -> list[str]:
    return list(kiosk.page.evaluate("window.__seen"))


def orders(kiosk: Kiosk) -> list[dict[str, Any]]:
    with kiosk.api() as client:
        answer = client.get("/v1/payments/orders")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["orders"])


def registration_to_confirm(kiosk: Kiosk, method: str) -> None:
    """挂号 up to its confirmation, for a slot of a later day (a booking is cancelled only before its visit
    time: the last slot of the first page is at least a day away)."""
    kiosk.tap("挂号")
    kiosk.wait_for("departments")
    kiosk.tap("内科")
    kiosk.wait_for("doctors")
    kiosk.tap("普通门诊")
    kiosk.wait_for("slots")
    kiosk.page.locator(".option").last.tap()
    kiosk.wait_for("methods")
    kiosk.tap(method)
    kiosk.wait_for("confirm")


def top_up_to_confirm(kiosk: Kiosk) -> None:
    kiosk.tap("充值")
    kiosk.wait_for("topup")
    kiosk.tap("¥50.00")
    kiosk.wait_for("confirm")
    assert "银行卡" in kiosk.text  # the kiosk's only top-up method


# -- the card and the machine ---------------------------------------------------------------------------


def test_a_blacklisted_card_is_refused_without_retry(kiosk: Kiosk) -> None:
    kiosk.wait_for("menu")
    added = kiosk.daemon.cli("blacklist", "add", CARD_NUMBER, "--reason", "挂失")
    assert added.returncode == 0, added.stderr
    try:
        ctl("remove")
        kiosk.wait_for("removed")
        ctl("insert")
        kiosk.wait_for("card_problem")
        assert "此卡已挂失或停用" in kiosk.text
        assert "人工窗口" in kiosk.text
        assert "代码：card_blacklisted" in kiosk.text
        assert kiosk.prompt == "card_blacklisted"
        assert kiosk.page.get_by_role("button", name=re.compile("重新|重试")).count() == 0
        no_personal_data(kiosk)
        kiosk.check("fault-card-blacklisted")
    finally:
        removed = kiosk.daemon.cli("blacklist", "remove", CARD_NUMBER)
        assert removed.returncode == 0, removed.stderr
        reinsert(kiosk.daemon)
    kiosk.wait_for("menu")


def test_an_unreadable_card_asks_to_insert_it_again(kiosk: Kiosk) -> None:
    """A damaged chip: it answers, but what it holds cannot be read (a record of garbage)."""
    kiosk.wait_for("menu")
    image = kiosk.daemon.home / "sim" / "card.json"
    damaged = kiosk.daemon.home / "sim" / "damaged.json"
    card = json.loads(image.read_text(encoding="utf-8"))
    card["nvm"]["areas"]["3F00/DDF1/EF06#r1"] = "FF1E" + "C0EEC3F7" + "00" * 26  # the name's: an unknown tag
    damaged.write_text(json.dumps(card), encoding="utf-8")
    swap = {"cmd": "swap", "image": str(damaged)}
    assert send_control(default_control_path(CARD_PORT), swap).get("ok")
    try:
        kiosk.wait_for("card_problem")
        assert "无法读取卡片" in kiosk.text
        assert "重新插入" in kiosk.text
        assert "代码：invalid_card_data" in kiosk.text
        assert kiosk.prompt == "card_error"
        kiosk.check("fault-card-unreadable")
    finally:
        assert send_control(default_control_path(CARD_PORT), {"cmd": "swap", "image": str(image)}).get("ok")
    kiosk.wait_for("menu")


def test_no_psam_pauses_the_kiosk_until_it_is_back(kiosk: Kiosk) -> None:
    kiosk.wait_for("menu")
    kiosk.page.evaluate(_WATCH)
    sam("remove")
    try:
        kiosk.wait_for("paused")
        assert "本机暂停服务" in kiosk.text
        assert "代码：sam" in kiosk.text
        assert kiosk.prompt == "service_paused"
        no_personal_data(kiosk)
        kiosk.check("fault-no-psam")
        # A patient inserts a card meanwhile: the machine is at fault, not the card.
        ctl("remove")
        wait_for_state(kiosk.daemon, "empty")
        ctl("insert")
        wait_for_state(kiosk.daemon, "error")  # card.error sam_unavailable
    finally:
        sam("insert")
    kiosk.wait_for("menu")
    assert not [state for state in seen(kiosk) if state.startswith("card_problem")], seen(kiosk)


# -- the HIS ----------------------------------------------------------------------------------------------


def test_his_down_says_what_happened_and_that_nothing_was_done(kiosk: Kiosk, faults: Faults) -> None:
    kiosk.wait_for("menu")
    faults.plan[DEPARTMENTS] = ["503"] * 9  # the daemon retries a GET twice: enough for two tries
    with kiosk.api("kiosk") as client:
        answer = client.get("/v1/registration/departments")
    assert answer.status_code == 503, answer.text
    error = answer.json()["error"]
    kiosk.tap("挂号")
    kiosk.wait_for("error")
    assert error["message_zh"] in kiosk.text
    assert "本次未办理、未扣费" in kiosk.text
    assert error["code"] == "his_unavailable"
    assert f"代码：{error['code']}" in kiosk.text
    assert kiosk.prompt == "his_unavailable"
    kiosk.check("fault-his-down")
    faults.plan.clear()
    kiosk.tap("首页")
    kiosk.wait_for("menu")


def test_his_slow_the_patient_is_told_then_served(
    browser: Browser, kiosk_daemon: Daemon, faults: Faults
) -> None:
    context, kiosk = open_kiosk(browser, kiosk_daemon, clock=True)
    try:
        kiosk.wait_for("menu")
        faults.plan[DEPARTMENTS] = ["3"]
        before = faults.hits[DEPARTMENTS]
        kiosk.tap("挂号")
        poll(lambda: faults.hits[DEPARTMENTS] > before, "the departments request to reach the HIS")
        kiosk.page.clock.fast_forward(11_000)
        kiosk.page.get_by_text("正在连接医院系统").wait_for()
        assert kiosk.screen == "working"
        assert kiosk.prompt == "slow"
        kiosk.check("fault-his-slow")
        kiosk.wait_for("departments")
        assert "正在连接医院系统" not in kiosk.text
    finally:
        context.close()


# -- money ------------------------------------------------------------------------------------------------


def test_payment_declined_nothing_charged_booking_cancelled(kiosk: Kiosk, bank: Callable[..., None]) -> None:
    kiosk.wait_for("menu")
    bank(mode="decline")
    registration_to_confirm(kiosk, "银行卡")
    kiosk.tap("确认支付")
    kiosk.wait_for("error")
    assert "支付未成功" in kiosk.text
    assert "没有扣费" in kiosk.text
    assert "挂号已取消" in kiosk.text
    assert kiosk.prompt == "payment_declined"
    kiosk.check("fault-payment-declined")
    made = orders(kiosk)
    declined = made[0]
    assert declined["status"] == "declined"
    assert declined["method"] == "gateway"
    assert not [o for o in made if o["bill_id"] == declined["bill_id"] and o["status"] == "settled"]
    with kiosk.api() as client:
        mine = client.get("/v1/registration/bookings").json()["registrations"]
    booked = next(r for r in mine if r["bill_id"] == declined["bill_id"])
    assert booked["status"] == "cancelled"  # the kiosk does not leave an unpaid booking behind


def test_payment_in_doubt_gives_a_reference(kiosk: Kiosk, bank: Callable[..., None]) -> None:
    kiosk.wait_for("menu")
    bank(mode="timeout", delay=GATEWAY_TIMEOUT + 3)
    top_up_to_confirm(kiosk)
    kiosk.tap("确认支付")
    kiosk.wait_for("error")
    order = orders(kiosk)[0]
    assert order["status"] == "in_doubt", order
    assert "支付结果正在确认" in kiosk.text
    assert f"参考号：{order['reference']}" in kiosk.text
    assert "充值成功" not in kiosk.text  # nothing claimed either way
    assert kiosk.prompt == "payment_in_doubt"
    kiosk.check("fault-payment-in-doubt")


def test_card_pulled_while_paying_waits_for_the_outcome(kiosk: Kiosk, bank: Callable[..., None]) -> None:
    kiosk.wait_for("menu")
    bank(mode="timeout", delay=GATEWAY_TIMEOUT - 0.5)  # approved, just slow
    before = {o["reference"] for o in orders(kiosk)}
    top_up_to_confirm(kiosk)
    kiosk.page.evaluate(_WATCH)
    kiosk.tap("确认支付")
    poll(lambda: [o for o in orders(kiosk) if o["reference"] not in before], "the order", timeout=5)
    ctl("remove")  # while the acquirer has the charge
    try:
        kiosk.page.get_by_text("充值成功").wait_for()
        assert kiosk.screen == "removed"
        states = seen(kiosk)
        pending = next(i for i, s in enumerate(states) if "正在确认本次支付结果" in s)
        outcome = next(i for i, s in enumerate(states) if s.startswith("removed:") and "充值成功" in s)
        assert pending < outcome, states
        assert "本次未办理" not in kiosk.text
        assert kiosk.prompt == "removed_after_commit"
        no_personal_data(kiosk)
        kiosk.check("fault-card-pulled-while-paying")
    finally:
        ctl("insert")
    wait_for_state(kiosk.daemon, "ready")
    assert [o["status"] for o in orders(kiosk) if o["reference"] not in before] == ["settled"]
