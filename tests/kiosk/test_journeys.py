"""A patient's journeys at the kiosk, end to end: Debian's chromium, the real ``serve --demo`` through
pcscd + vpcd (the demo card and PSAM), the embedded HIS, the prepaid account and the demo printer.
Every button is pressed by its role and Chinese name with a tap; every screen is checked (axe, sizes,
screenshot). The API is asked afterwards what really happened (orders, registrations, tickets)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from simulators.control import send_control
from simulators.health import DEMO_HOLDER_PATH
from tests.kiosk.conftest import CONTEXT, Kiosk, demo_facts, open_kiosk, printer_signal
from tests.pcsc.test_daemon_pcsc import Daemon, ctl

pytestmark = pytest.mark.pcsc

HOLDER = json.loads(Path(DEMO_HOLDER_PATH).read_text(encoding="utf-8"))
FULL_NAME = HOLDER["DDF1/EF06"]["name"]
ID_NUMBER = HOLDER["DDF1/EF06"]["id_number"]


def orders(kiosk: Kiosk) -> list[dict]:
    with kiosk.api() as client:
        return list(client.get("/v1/payments/orders").json()["orders"])


def tickets(daemon: Daemon) -> list[Path]:
    return sorted((daemon.home / "printer-out").glob("ticket-*.txt"))


def wait_for_ticket(daemon: Daemon, before: int, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while len(found := tickets(daemon)) <= before:
        assert time.monotonic() < deadline, "nothing was printed"
        time.sleep(0.1)
    return found[-1].read_text(encoding="utf-8")


def top_up_to_confirm(kiosk: Kiosk, amount: str) -> None:
    """The amount, then the card gateway (银行卡) among the demo's top-up methods (the demo bank also offers
    the chip's bank application and QR codes: tests/kiosk/test_payments_bankcard_qr.py)."""
    kiosk.tap(amount)
    kiosk.wait_for("methods")
    kiosk.tap("银行卡")
    kiosk.wait_for("confirm")


def no_personal_data(kiosk: Kiosk) -> None:
    html = kiosk.page.content()
    assert FULL_NAME not in html
    assert ID_NUMBER not in html
    assert ID_NUMBER[-6:] not in html


def test_the_printed_link_opens_the_kiosk_once_under_its_own_policy(
    browser: Browser, kiosk_daemon: Daemon
) -> None:
    """What `make run` prints works in a browser, once; the page runs under its CSP (this context does not
    bypass it, as the others must for axe) without a single refusal."""
    link = next(line.rsplit(" ", 1)[-1] for line in kiosk_daemon.announced if "/kiosk/launch?token=" in line)
    context = browser.new_context(**{**CONTEXT, "bypass_csp": False})
    try:
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        page.on("pageerror", lambda error: console.append(str(error)))
        page.goto(link)
        page.wait_for_selector('.kiosk[data-screen="menu"]', timeout=20_000)
        assert page.url == f"{kiosk_daemon.base}/kiosk/"
        assert page.evaluate("document.cookie") == ""  # HttpOnly: the page's script cannot read its session
        assert console == []
        again = context.new_page()  # the same link again, in the browser that holds the session: carry on
        again.goto(link)
        assert again.url == f"{kiosk_daemon.base}/kiosk/"
    finally:
        context.close()
    stranger = browser.new_context(**CONTEXT)
    try:
        answer = stranger.new_page().goto(link)
        assert answer is not None
        assert answer.status == 403  # spent: another browser gets nothing from it
    finally:
        stranger.close()


# Keeps every EventSource the page makes, so the test can break one as a dropped connection does.
_STREAMS = """(() => {
  const Native = window.EventSource;
  window.streams = [];
  window.EventSource = class extends Native {
    constructor(url, options) { super(url, options); window.streams.push(this); }
  };
})()"""


def test_the_event_stream_comes_back_with_a_fresh_ticket(browser: Browser, kiosk_daemon: Daemon) -> None:
    """A dropped stream: EventSource's own reconnect would reuse its spent one-time ticket, so the page closes
    it and opens a new stream with a new ticket — and the card's events flow again."""
    context, kiosk = open_kiosk(browser, kiosk_daemon, init_script=_STREAMS)
    try:
        kiosk.page.wait_for_function("window.streams.length === 1 && window.streams[0].readyState === 1")
        kiosk.page.evaluate("window.streams[0].dispatchEvent(new Event('error'))")  # what a drop fires
        kiosk.page.wait_for_function("window.streams.length === 2 && window.streams[1].readyState === 1")
        first, second = kiosk.page.evaluate("window.streams.map((s) => [s.url, s.readyState])")
        assert first[1] == 2  # closed: it will not reconnect with its spent ticket
        assert first[0] != second[0]  # a new ticket
        ctl("remove")
        kiosk.wait_for("attract")
        ctl("insert")
        kiosk.wait_for("menu")
    finally:
        context.close()


def test_the_card_is_read_and_the_patient_greeted_masked(kiosk: Kiosk) -> None:
    ctl("remove")
    kiosk.wait_for("attract")
    assert kiosk.prompt == "attract"
    assert "请插入您的居民健康卡" in kiosk.text
    kiosk.check("attract")
    ctl("insert")
    kiosk.wait_for("menu")
    assert kiosk.page.get_by_role("heading", name=f"{FULL_NAME[0]}*，您好").is_visible()
    assert kiosk.prompt == "menu"
    no_personal_data(kiosk)
    kiosk.check("menu")


def test_registration_department_doctor_slot_confirm_pay_slip(kiosk: Kiosk) -> None:
    before, printed = len(orders(kiosk)), len(tickets(kiosk.daemon))
    kiosk.tap("挂号")
    kiosk.wait_for("departments")
    assert "第1步 / 共5步" in kiosk.text
    kiosk.check("registration-1-department")
    kiosk.tap("内科")
    kiosk.wait_for("doctors")
    kiosk.check("registration-2-doctor")
    kiosk.tap("普通门诊")
    kiosk.wait_for("slots")
    assert "剩余" in kiosk.text
    assert "挂号费 ¥" in kiosk.text
    kiosk.check("registration-3-slot")
    kiosk.page.locator(".option").first.tap()
    kiosk.wait_for("methods")
    kiosk.check("registration-4-method")
    kiosk.tap("就诊卡账户")
    kiosk.wait_for("confirm")
    assert "第5步 / 共5步" in kiosk.text
    assert "内科" in kiosk.text
    kiosk.check("registration-5-confirm")
    kiosk.tap("确认支付")
    kiosk.wait_for("done")
    assert "挂号成功" in kiosk.text
    assert "凭条已打印" in kiosk.text
    assert kiosk.prompt == "done"
    kiosk.check("registration-done")
    made = orders(kiosk)
    assert len(made) == before + 1
    assert made[0]["status"] == "settled"
    assert made[0]["method"] == "prepaid"
    assert "挂号" in wait_for_ticket(kiosk.daemon, printed)


def test_paying_a_bill_shows_its_items_and_prints_a_receipt(kiosk: Kiosk) -> None:
    printed = len(tickets(kiosk.daemon))
    kiosk.tap("缴费")
    kiosk.wait_for("bills")
    kiosk.check("bills")
    bill = kiosk.page.locator(".option").first
    title = bill.inner_text()
    assert "×" in title  # its items, with quantities
    bill.tap()
    kiosk.wait_for("methods")
    kiosk.tap("就诊卡账户")
    kiosk.wait_for("confirm")
    kiosk.check("bill-confirm")
    kiosk.tap("确认支付")
    kiosk.wait_for("done")
    assert "缴费成功" in kiosk.text
    assert "收据" in wait_for_ticket(kiosk.daemon, printed)


def test_top_up_then_the_balance_shows_it(kiosk: Kiosk) -> None:
    with kiosk.api() as client:
        start = client.get("/v1/payments/account").json()["balance_fen"]
    kiosk.tap("充值")
    kiosk.wait_for("topup")
    kiosk.check("top-up-amount")
    top_up_to_confirm(kiosk, "¥50.00")
    assert "银行卡" in kiosk.text
    kiosk.check("top-up-confirm")
    kiosk.tap("确认支付")
    kiosk.wait_for("done")
    assert "充值成功" in kiosk.text
    kiosk.tap("首页")
    kiosk.wait_for("menu")
    kiosk.tap("余额查询")
    kiosk.wait_for("balance")
    expected = start + 5000
    assert f"¥{expected // 100}.{expected % 100:02d}" in kiosk.text
    kiosk.check("balance")


def test_my_registrations_reprint_and_cancel(kiosk: Kiosk) -> None:
    with kiosk.api("kiosk") as client:  # a booking left unpaid, as a patient who walked away would leave it
        slots = client.get("/v1/registration/slots", params={"department": "D02"}).json()["slots"]
        # 退号 only before the visit time (the HIS refuses it after): a slot of a later day.
        slot = next(s for s in slots if s["remaining"] > 0 and s["start"][:10] > slots[0]["start"][:10])
        key = {"Idempotency-Key": f"t-{time.time_ns()}"}
        booked = client.post("/v1/registration/bookings", json={"slot_id": slot["id"]}, headers=key).json()
    kiosk.tap("我的挂号")
    kiosk.wait_for("registrations")
    assert "已预约，未缴费" in kiosk.text
    kiosk.check("my-registrations")
    which = f"{booked['department_name']} 第{booked['queue_number']}号"
    kiosk.page.get_by_role("button", name=f"退号 {which}").tap()
    kiosk.wait_for("cancel_confirm")
    kiosk.check("cancel-confirm")
    kiosk.tap("确认退号")
    kiosk.wait_for("done")
    assert "退号成功" in kiosk.text
    with kiosk.api() as client:
        mine = client.get("/v1/registration/bookings").json()["registrations"]
    assert next(r for r in mine if r["id"] == booked["id"])["status"] == "cancelled"
    kiosk.tap("首页")
    kiosk.wait_for("menu")
    kiosk.tap("我的挂号")
    kiosk.wait_for("registrations")
    printed = len(tickets(kiosk.daemon))
    paid = kiosk.page.get_by_role("button", name=re.compile("^补打凭条"))
    if paid.count() == 0:  # no paid registration on the first page yet: the registration test makes one
        pytest.fail("no paid registration to reprint")
    paid.first.tap()
    kiosk.wait_for("done")
    assert "补打挂号凭条" in kiosk.text
    assert "挂号" in wait_for_ticket(kiosk.daemon, printed)


def test_lab_reports_marked_abnormal_and_printed(kiosk: Kiosk) -> None:
    printed = len(tickets(kiosk.daemon))
    kiosk.tap("报告打印")
    kiosk.wait_for("reports")
    assert "结果异常" in kiosk.text  # the demo's 血常规 has results outside their range
    kiosk.check("lab-reports")
    kiosk.page.get_by_role("button", name=re.compile("^打印 ")).first.tap()
    kiosk.wait_for("done")
    assert "检验报告" in kiosk.text
    kiosk.check("lab-report-printed")
    wait_for_ticket(kiosk.daemon, printed)


def test_card_pulled_before_commit_nothing_done_nothing_charged(kiosk: Kiosk) -> None:
    before = len(orders(kiosk))
    kiosk.tap("缴费")
    kiosk.wait_for("bills")
    kiosk.page.locator(".option").first.tap()
    kiosk.wait_for("methods")
    kiosk.tap("就诊卡账户")
    kiosk.wait_for("confirm")
    ctl("remove")
    kiosk.wait_for("removed")
    assert "本次未办理、未扣费" in kiosk.text
    assert kiosk.prompt == "removed_nothing_done"
    no_personal_data(kiosk)
    kiosk.check("card-removed-nothing-done")
    ctl("insert")
    kiosk.wait_for("menu")
    assert len(orders(kiosk)) == before


def test_card_pulled_after_commit_shows_the_outcome_without_personal_data(kiosk: Kiosk) -> None:
    kiosk.tap("充值")
    kiosk.wait_for("topup")
    top_up_to_confirm(kiosk, "¥50.00")
    kiosk.tap("确认支付")
    kiosk.wait_for("done")
    ctl("remove")
    kiosk.wait_for("removed")
    assert "充值成功" in kiosk.text
    assert "本次未办理" not in kiosk.text
    assert kiosk.prompt == "removed_after_commit"
    no_personal_data(kiosk)
    kiosk.check("card-removed-after-commit")
    ctl("insert")
    kiosk.wait_for("menu")


def test_a_double_tap_on_confirm_makes_one_order(kiosk: Kiosk) -> None:
    before = len(orders(kiosk))
    kiosk.tap("充值")
    kiosk.wait_for("topup")
    top_up_to_confirm(kiosk, "¥100.00")
    box = kiosk.page.get_by_role("button", name=re.compile("^确认支付")).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    kiosk.page.touchscreen.tap(x, y)
    kiosk.page.touchscreen.tap(x, y)
    kiosk.wait_for("done")
    time.sleep(0.5)  # a second order, if one were made, would be recorded by now
    assert len(orders(kiosk)) == before + 1


def test_paper_out_the_job_is_held_and_the_patient_told(kiosk: Kiosk) -> None:
    printer_signal(kiosk.daemon)  # the paper is gone
    try:
        kiosk.page.wait_for_selector(".notice", timeout=15000)  # printer.problem reached the menu
        kiosk.check("menu-printer-problem")
        kiosk.tap("充值")
        kiosk.wait_for("topup")
        top_up_to_confirm(kiosk, "¥50.00")
        kiosk.tap("确认支付")
        kiosk.wait_for("done", timeout=30000)
        assert "办理成功，凭条稍后打印" in kiosk.text
        assert kiosk.prompt == "paper_out"
        kiosk.check("done-receipt-held")
    finally:
        printer_signal(kiosk.daemon)


def test_idle_timeout_warns_then_clears_the_patient(browser: Browser, kiosk_daemon: Daemon) -> None:
    context, kiosk = open_kiosk(browser, kiosk_daemon, clock=True)
    try:
        kiosk.wait_for("menu")
        kiosk.tap("余额查询")
        kiosk.wait_for("balance")
        kiosk.page.clock.fast_forward(89_000)
        assert kiosk.page.get_by_role("alertdialog").count() == 0
        kiosk.page.clock.fast_forward(2_000)
        dialog = kiosk.page.get_by_role("alertdialog", name="您还需要继续办理吗？")
        dialog.wait_for()
        assert kiosk.prompt == "idle_warning"
        kiosk.check("idle-warning")
        kiosk.tap("继续办理")
        assert kiosk.page.get_by_role("alertdialog").count() == 0
        assert kiosk.screen == "balance"
        kiosk.page.clock.fast_forward(91_000)
        dialog.wait_for()
        kiosk.page.clock.fast_forward(31_000)
        kiosk.wait_for("timed_out")
        assert "¥" not in kiosk.text  # the balance is gone with the patient
        no_personal_data(kiosk)
        kiosk.check("timed-out")
    finally:
        context.close()


def test_without_a_health_card_the_id_card_is_the_way_in(kiosk: Kiosk) -> None:
    """A patient who has no health card puts the ID card on the ID-card reader: the kiosk serves them by it
    (bills, lab reports), says where to get a health card, and forgets them when the ID card is taken."""
    facts = demo_facts(kiosk.daemon)
    printed = len(tickets(kiosk.daemon))
    ctl("remove")
    kiosk.wait_for("attract")
    assert "没有居民健康卡？请将身份证放在身份证阅读区" in kiosk.text
    assert send_control(facts["idcard_control"], {"cmd": "place", "card": facts["idcard_card"]})["ok"]
    try:
        kiosk.wait_for("menu")
        assert kiosk.page.get_by_role("heading", name=f"{FULL_NAME[0]}*，您好").is_visible()
        assert "您正在使用身份证办理" in kiosk.text
        no_personal_data(kiosk)
        kiosk.check("menu-id-card")
        kiosk.tap("缴费")
        kiosk.wait_for("bills")
        kiosk.tap("首页")
        kiosk.wait_for("menu")
        kiosk.tap("报告打印")
        kiosk.wait_for("reports")
        kiosk.page.get_by_role("button", name=re.compile("^打印 ")).first.tap()
        kiosk.wait_for("done")
        wait_for_ticket(kiosk.daemon, printed)
        assert send_control(facts["idcard_control"], {"cmd": "remove"})["ok"]
        kiosk.wait_for("removed")
        assert "已取走身份证" in kiosk.text
        assert "检验报告" in kiosk.text  # what was done, without who
        no_personal_data(kiosk)
        kiosk.check("id-card-removed-after-commit")
    finally:
        send_control(facts["idcard_control"], {"cmd": "remove"})
        ctl("insert")
    kiosk.wait_for("menu")
    assert "您正在使用身份证办理" not in kiosk.text  # the health card leads again
