"""Paying at the kiosk itself, in Debian's chromium against the real ``serve --demo``: 银行卡（芯片） — the
demo card's own bank application, its PIN typed on the demo PIN pad (a pty simulator driven through its
control socket, as ``python -m simulators.pinpad ctl`` does), authorised by the demo acquirer over ISO 8583
— and 扫码支付, a code from the simulated acquirer's QR gateway, paid as a phone would (``/control/qr/scan``).

The QR gateway is this module's own ``python -m simulators.acquirer`` (no terminal token; it notifies the
daemon, signed): the demo's acquirer wants a token that the daemon does not yet hand its qrcode method
(``cardservice/daemon/_serve.py`` passes no ``qrcode_token``), so the demo's own QR codes answer 401. The
codes live 10 s here (``CARDSERVICE_PAYMENT_QRCODE_LIFETIME``), so an expiry is a test, not a wait. Every
new screen is checked (axe, sizes, screenshot, its voice file); the API is asked afterwards what happened
to the money. No fixed sleeps: the tests wait on the page.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import qrcode
import qrcode.constants
import qrcode.exceptions
from PIL import Image
from playwright.sync_api import Browser, Route

from simulators.control import send_control
from tests.kiosk.conftest import Kiosk, demo_facts, open_kiosk, pcscd_up
from tests.pcsc.test_daemon_pcsc import Daemon, ctl, start_daemon, wait_for_state

pytestmark = pytest.mark.pcsc

LIFETIME = 10  # seconds a payment code lives here
QR_SECRET_ENV = "KIOSK_TEST_QR_SECRET"  # the variable holding the QR gateway's notification key
QR_SECRET = "kiosk-test-qr-secret-0123456789"

# Before the page's scripts: every EventSource it opens, and every payment.progress event it receives.
_CAPTURE = """(() => {
  const Native = window.EventSource;
  window.streams = [];
  window.progress = [];
  window.EventSource = class extends Native {
    constructor(url, options) {
      super(url, options);
      window.streams.push(this);
      this.addEventListener("payment.progress", (message) => window.progress.push(JSON.parse(message.data)));
    }
  };
})()"""

# Every state the page shows, in order ("screen: text"), so a screen shown only briefly is not missed.
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


@pytest.fixture(scope="module")
def qr_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The simulated acquirer as the QR gateway, a child on a free port: its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = tmp_path_factory.mktemp("qr-gateway") / "qr.db"
    command = [sys.executable, "-m", "simulators.acquirer", "--port", str(port),
               "--database", f"sqlite:///{database}", "--qr-secret-env", QR_SECRET_ENV]  # fmt: skip
    env = {**os.environ, QR_SECRET_ENV: QR_SECRET}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, "the QR gateway exited"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the QR gateway never answered"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def kiosk_daemon(tmp_path_factory: pytest.TempPathFactory, qr_gateway: str) -> Iterator[Daemon]:
    """The demo (its card, PIN pad and acquirer), with this module's QR gateway and short-lived codes."""
    pcscd_up()
    env = {
        "CARDSERVICE_PAYMENT_QRCODE_URL": qr_gateway,
        "CARDSERVICE_PAYMENT_QRCODE_SECRET_ENV": QR_SECRET_ENV,
        QR_SECRET_ENV: QR_SECRET,
        "CARDSERVICE_PAYMENT_QRCODE_LIFETIME": str(LIFETIME),
    }
    with start_daemon(tmp_path_factory.mktemp("kiosk-paying-home"), env) as running:
        notify = {"notify_url": f"{running.base}/v1/payments/qrcode/notify"}  # known once it listens
        assert httpx.post(f"{qr_gateway}/control/qr", json=notify, timeout=5).status_code == 200
        yield running


@pytest.fixture
def kiosk(browser: Browser, kiosk_daemon: Daemon) -> Iterator[Kiosk]:
    context, opened = open_kiosk(browser, kiosk_daemon, init_script=_CAPTURE)
    try:
        opened.wait_for("menu")
        yield opened
    finally:
        context.close()


@pytest.fixture
def manual_pad(kiosk_daemon: Daemon) -> Iterator[None]:
    """The demo PIN pad stops typing the demo PIN by itself: the test's hands type (``ctl auto none``)."""
    pad(kiosk_daemon, "auto", pin=None)
    try:
        yield
    finally:
        pad(kiosk_daemon, "auto", pin="123456")


# -- helpers --------------------------------------------------------------------------------------------


def pad(daemon: Daemon, command: str, **request: Any) -> dict[str, Any]:
    """One command to the demo PIN pad's control socket (``python -m simulators.pinpad ctl``)."""
    reply = send_control(demo_facts(daemon)["pinpad_control"], {"cmd": command, **request})
    assert reply.get("ok"), reply
    return reply


def pad_waiting_for_pin(daemon: Daemon) -> None:
    """The screen asks for the PIN as the daemon sends the pad its entry command: wait for the pad."""
    deadline = time.monotonic() + 10
    while not pad(daemon, "status")["status"]["entering"]:
        assert time.monotonic() < deadline, "the PIN pad never started an entry"
        time.sleep(0.05)


def orders(kiosk: Kiosk) -> list[dict[str, Any]]:
    with kiosk.api() as client:
        answer = client.get("/v1/payments/orders")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["orders"])


def seen(kiosk: Kiosk) -> list[str]:
    return [state.split(":", 1)[0] for state in kiosk.page.evaluate("window.__seen")]


def top_up_by(kiosk: Kiosk, method: str) -> None:
    """充值 ¥50.00 up to 确认支付 by *method* (its label), then confirm."""
    kiosk.tap("充值")
    kiosk.wait_for("topup")
    kiosk.tap("¥50.00")
    kiosk.wait_for("methods")
    kiosk.tap(method)
    kiosk.wait_for("confirm")
    kiosk.tap("确认支付")


def progress_event(kiosk: Kiosk, stage: str) -> dict[str, Any]:
    kiosk.page.wait_for_function(f"window.progress.some((e) => e.stage === {json.dumps(stage)})")
    events = kiosk.page.evaluate("window.progress")
    return dict(next(e for e in reversed(events) if e["stage"] == stage))


def shown_qr(kiosk: Kiosk) -> list[list[bool]]:
    """The code on the screen as modules, read from the screen's pixels: sharp (no grey pixel: every edge
    on the pixel grid), whole pixels a module, big enough for a phone a step away, and a white quiet zone
    of 4 modules around it, which is taken off."""
    svg = kiosk.page.locator("svg.qr")
    modules = int(svg.get_attribute("data-modules") or 0)
    scale = int(svg.get_attribute("data-scale") or 0)
    assert scale >= 12, f"{scale} px a module: too small to scan from a step away"
    image = Image.open(io.BytesIO(svg.screenshot())).convert("L")
    grey = sum(image.histogram()[41:215])
    assert grey == 0, f"{grey} grey pixels: the code is blurred"
    grid = [[_level(image, x * scale + scale // 2, y * scale + scale // 2) < 128 for x in range(modules)]
            for y in range(modules)]  # fmt: skip
    quiet = 4
    assert not any(grid[y][x] for y in range(modules) for x in range(modules)
                   if min(x, y) < quiet or max(x, y) >= modules - quiet), "no quiet zone"  # fmt: skip
    return [row[quiet:-quiet] for row in grid[quiet:-quiet]]


def _level(image: Image.Image, x: int, y: int) -> int:
    value = image.getpixel((x, y))
    assert isinstance(value, int), value  # a grey-scale image: one level a pixel
    return value


def qr_of(text: str, modules: int) -> list[list[list[bool]]]:
    """*text* as QR codes of *modules* modules (error correction M), one per mask: an independent encoder
    (python-qrcode) for what any scanner would read."""
    version = (modules - 17) // 4
    codes = []
    for mask in range(8):
        code = qrcode.QRCode(
            version=version, error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, mask_pattern=mask
        )
        code.add_data(text, optimize=0)
        try:
            code.make(fit=False)
        except qrcode.exceptions.DataOverflowError:
            return []
        codes.append(code.get_matrix())
    return codes


# -- 银行卡（芯片）: the PIN on the pad ----------------------------------------------------------------------


def test_a_bill_paid_by_bank_card_the_pin_typed_on_the_pad(kiosk: Kiosk, manual_pad: None) -> None:
    before = {o["reference"] for o in orders(kiosk)}
    kiosk.tap("缴费")
    kiosk.wait_for("bills")
    kiosk.page.locator(".option").first.tap()
    kiosk.wait_for("methods")
    assert "扫码支付" in kiosk.text
    kiosk.check("pay-methods-bankcard-qrcode")
    kiosk.tap("银行卡（芯片）")
    kiosk.wait_for("confirm")
    kiosk.page.evaluate(_WATCH)
    kiosk.tap("确认支付")
    kiosk.wait_for("pay_pin")
    assert "请在密码键盘上输入密码" in kiosk.text
    assert kiosk.prompt == "pay_pin"
    assert kiosk.page.get_by_role("img", name="密码键盘", exact=False).is_visible()
    pad_waiting_for_pin(kiosk.daemon)
    pad(kiosk.daemon, "type", digits="12")
    kiosk.page.get_by_text("已输入 2 位").wait_for()
    assert kiosk.page.locator(".pin-dots .typed").count() == 2
    assert kiosk.prompt == "pay_pin"  # a digit is no new screen: nothing is said again
    kiosk.check("bankcard-pin-dots")
    pad(kiosk.daemon, "type", digits="3456")
    pad(kiosk.daemon, "enter")
    kiosk.wait_for("done")
    assert "缴费成功" in kiosk.text
    assert "银行卡（芯片）" in kiosk.text
    kiosk.check("bankcard-done")
    shown = seen(kiosk)
    assert shown.index("pay_pin") < shown.index("pay_processing") < shown.index("done"), shown
    digits = [e["digits"] for e in kiosk.page.evaluate("window.progress") if e["stage"] == "pin_digits"]
    assert digits[:2] == [1, 2], digits  # counts only: the page never sees the PIN
    assert digits[-1] == 6, digits
    made = [o for o in orders(kiosk) if o["reference"] not in before]
    assert [(o["method"], o["status"]) for o in made] == [("bankcard", "settled")]


def test_a_wrong_pin_is_declined_and_nothing_charged(kiosk: Kiosk, manual_pad: None) -> None:
    before = {o["reference"] for o in orders(kiosk)}
    top_up_by(kiosk, "银行卡（芯片）")
    kiosk.wait_for("pay_pin")
    pad_waiting_for_pin(kiosk.daemon)
    # The daemon's processing stage lasts a blink here: the page is shown the very event it sends, for the
    # screen's check, while the pad still waits for the PIN.
    kiosk.page.evaluate(
        "window.streams.at(-1).dispatchEvent(new MessageEvent('payment.progress', "
        "{data: JSON.stringify({type: 'payment.progress', stage: 'processing'})}))"
    )
    kiosk.wait_for("pay_processing")
    assert "正在处理，请勿拔卡" in kiosk.text
    assert kiosk.prompt == "pay_processing"
    kiosk.check("bankcard-processing")
    pad(kiosk.daemon, "type", digits="999999")
    pad(kiosk.daemon, "enter")
    kiosk.wait_for("error")
    assert "密码错误，请重新操作" in kiosk.text
    assert "✘ 没有扣费" in kiosk.text
    assert "代码：issuer_55" in kiosk.text
    assert kiosk.prompt == "pin_wrong"
    kiosk.check("bankcard-wrong-pin")
    made = [o for o in orders(kiosk) if o["reference"] not in before]
    assert [(o["method"], o["status"]) for o in made] == [("bankcard", "declined")]
    assert "55" in (made[0]["message"] or "")
    kiosk.tap("重试")  # once more, as a new payment (new keys): back to its confirmation
    kiosk.wait_for("confirm")


def test_no_idle_question_while_the_pin_is_typed_and_cancel_is_on_the_pad(
    browser: Browser, kiosk_daemon: Daemon, manual_pad: None
) -> None:
    context, kiosk = open_kiosk(browser, kiosk_daemon, clock=True, init_script=_CAPTURE)
    try:
        kiosk.wait_for("menu")
        before = {o["reference"] for o in orders(kiosk)}
        top_up_by(kiosk, "银行卡（芯片）")
        kiosk.wait_for("pay_pin")
        assert kiosk.page.get_by_role("button", name="取消").count() == 0  # cancel is the pad's key
        pad_waiting_for_pin(kiosk_daemon)
        kiosk.page.clock.fast_forward(125_000)  # past idle_seconds (90) and its 30 s warning
        assert kiosk.page.get_by_role("alertdialog").count() == 0
        assert kiosk.screen == "pay_pin"
        pad(kiosk_daemon, "cancel")
        kiosk.wait_for("error")
        assert "您已取消支付" in kiosk.text
        assert "没有扣费" in kiosk.text
        assert kiosk.prompt == "pay_cancelled"
        kiosk.check("bankcard-cancelled-on-the-pad")
        made = [o for o in orders(kiosk) if o["reference"] not in before]
        assert [(o["method"], o["status"]) for o in made] == [("bankcard", "declined")]
    finally:
        context.close()


# -- 扫码支付: the code on the phone ------------------------------------------------------------------------


def test_a_top_up_paid_by_scanning_the_code_on_the_screen(kiosk: Kiosk, qr_gateway: str) -> None:
    before = {o["reference"] for o in orders(kiosk)}
    top_up_by(kiosk, "扫码支付")
    kiosk.wait_for("pay_qr")
    assert "请使用手机扫码支付" in kiosk.text
    assert "¥50.00" in kiosk.text
    assert "剩余时间" in kiosk.text
    assert kiosk.prompt == "pay_qr"
    kiosk.check("qr-code")
    code = progress_event(kiosk, "scan_code")["code"]
    on_screen = shown_qr(kiosk)
    assert on_screen in qr_of(code, len(on_screen)), "the code on the screen is not the daemon's code"
    scan = httpx.post(f"{qr_gateway}/control/qr/scan", json={"code": code}, timeout=10)  # the phone
    assert scan.status_code == 200, scan.text
    kiosk.wait_for("done")
    assert "充值成功" in kiosk.text
    assert "扫码支付" in kiosk.text
    made = [o for o in orders(kiosk) if o["reference"] not in before]
    assert [(o["method"], o["status"]) for o in made] == [("qrcode", "settled")]


def test_a_code_nobody_pays_expires_and_nothing_is_charged(kiosk: Kiosk) -> None:
    before = {o["reference"] for o in orders(kiosk)}
    top_up_by(kiosk, "扫码支付")
    kiosk.wait_for("pay_qr")
    kiosk.wait_for("error", timeout=(LIFETIME + 15) * 1000)
    assert "二维码已过期" in kiosk.text
    assert "✘ 没有扣费" in kiosk.text
    assert kiosk.prompt == "qr_expired"
    assert kiosk.page.get_by_role("button", name="重试").count() == 1
    kiosk.check("qr-expired")
    made = [o for o in orders(kiosk) if o["reference"] not in before]
    assert [(o["method"], o["status"]) for o in made] == [("qrcode", "declined")]


def test_cancel_takes_the_code_away_and_nothing_is_charged(kiosk: Kiosk) -> None:
    before = {o["reference"] for o in orders(kiosk)}
    held: list[Route] = []  # the page's cancel request, held so that its screen can be checked
    kiosk.page.route("**/v1/payments/cancel*", lambda route: held.append(route))
    top_up_by(kiosk, "扫码支付")
    kiosk.wait_for("pay_qr")
    with kiosk.page.expect_request("**/v1/payments/cancel*") as cancel:
        kiosk.tap("取消")
    kiosk.wait_for("pay_cancelling")
    assert kiosk.page.locator("svg.qr").count() == 0  # nobody can scan it any more
    assert kiosk.prompt == "pay_cancelling"
    kiosk.check("qr-cancelling")
    assert cancel.value.method == "POST"
    assert "reader=" in cancel.value.url
    while not held:  # the route's handler runs as Playwright dispatches its events
        kiosk.page.wait_for_timeout(20)
    held[0].continue_()
    kiosk.wait_for("error")
    assert "您已取消支付" in kiosk.text
    assert "✘ 没有扣费" in kiosk.text
    assert kiosk.prompt == "pay_cancelled"
    kiosk.check("qr-cancelled")
    made = [o for o in orders(kiosk) if o["reference"] not in before]
    # Closed by the cancel, not by its expiry.
    assert [(o["method"], o["status"], o["message"]) for o in made] == [("qrcode", "declined", "cancelled")]


def test_card_pulled_while_the_code_shows_closes_it_and_waits_for_the_outcome(kiosk: Kiosk) -> None:
    before = {o["reference"] for o in orders(kiosk)}
    top_up_by(kiosk, "扫码支付")
    kiosk.wait_for("pay_qr")
    kiosk.page.evaluate(_WATCH)
    ctl("remove")
    try:
        kiosk.page.get_by_text("本次未办理、未扣费").wait_for()
        assert kiosk.screen == "removed"
        assert "正在确认本次支付结果" in kiosk.page.evaluate("window.__seen.join('\\n')")
        assert kiosk.page.locator("svg.qr").count() == 0
        assert kiosk.prompt == "removed_nothing_done"
    finally:
        ctl("insert")
    wait_for_state(kiosk.daemon, "ready")
    made = [o for o in orders(kiosk) if o["reference"] not in before]
    assert [(o["method"], o["status"], o["message"]) for o in made] == [("qrcode", "declined", "cancelled")]


def test_card_pulled_at_the_pin_pad_ends_the_entry_nothing_charged(kiosk: Kiosk, manual_pad: None) -> None:
    before = {o["reference"] for o in orders(kiosk)}
    top_up_by(kiosk, "银行卡（芯片）")
    kiosk.wait_for("pay_pin")
    pad_waiting_for_pin(kiosk.daemon)
    ctl("remove")
    try:
        kiosk.page.get_by_text("本次未办理、未扣费").wait_for()  # not the pad's 30 s: the entry is aborted
        assert kiosk.screen == "removed"
        assert not pad(kiosk.daemon, "status")["status"]["entering"]
    finally:
        ctl("insert")
    wait_for_state(kiosk.daemon, "ready")
    made = [o for o in orders(kiosk) if o["reference"] not in before]
    assert [(o["method"], o["status"]) for o in made] == [("bankcard", "declined")]
