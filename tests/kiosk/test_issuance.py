"""办理健康卡 at the kiosk (自助发卡), end to end: Debian's chromium, the real ``serve --demo`` through
pcscd — its issuance service child (DEMO key store, its own SQLite registry), the K720 dispenser simulator
whose read position is pcscd's ``cardservice-twin`` reader, the ID-card reader simulator. The patient lays
the ID card down, agrees, types a phone number on the keypad and takes the card; the registry, the
dispenser and the card itself (read back by the kiosk as a health card) are asked afterwards. Then the same
person again (already has a card, nothing dispensed), and another person meeting a dud chip (spoiled, in
the reject bin), an empty stack, then taking the ID card off while their card is written (the card is made
all the same, and said). Every screen is checked (axe, sizes, screenshot)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from cardservice.issuance import CardStatus, Registry
from cardservice.issuance._batch import chip_serial
from cardservice.store import open_database
from simulators.cardos import load_card
from simulators.control import default_control_path, send_control
from simulators.health import DEMO_HOLDER_PATH
from tests.kiosk.conftest import Kiosk, demo_facts, open_kiosk
from tests.pcsc.conftest import CARD_PORT
from tests.pcsc.test_daemon_pcsc import Daemon, ctl

pytestmark = pytest.mark.pcsc

HOLDER = json.loads(Path(DEMO_HOLDER_PATH).read_text(encoding="utf-8"))["DDF1/EF06"]
PHONE = "13800138000"
ISSUED_MS = 90_000  # one card: dispensed, written and read back through the serial reader, presented

# Every voice prompt the page plays, in order (the screen's prompt is on <body data-prompt>).
_PROMPTS = """(() => {
  window.prompts = [];
  new MutationObserver(() => {
    const id = document.body && document.body.dataset.prompt;
    if (id && window.prompts[window.prompts.length - 1] !== id) window.prompts.push(id);
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-prompt"] });
})()"""


@pytest.fixture
def kiosk(browser: Browser, kiosk_daemon: Daemon) -> Iterator[Kiosk]:
    context, opened = open_kiosk(browser, kiosk_daemon, init_script=_PROMPTS)
    try:
        yield opened
    finally:
        context.close()


def dispenser(daemon: Daemon, cmd: str = "dispenser", **fields: Any) -> dict[str, Any]:
    reply = send_control(demo_facts(daemon)["dispenser_control"], {"cmd": cmd, **fields})
    assert reply["ok"], reply
    state: dict[str, Any] = reply["dispenser"]
    return state


def place(daemon: Daemon, card: str | None) -> None:
    """An ID card on the demo's ID-card reader (the demo patient's by default, or a shipped card's name)."""
    facts = demo_facts(daemon)
    assert send_control(facts["idcard_control"], {"cmd": "remove"})["ok"]
    if card is not None:
        assert send_control(facts["idcard_control"], {"cmd": "place", "card": card})["ok"]


def apply(kiosk: Kiosk, phone: str = PHONE, shots: str | None = None) -> None:
    """From the menu of an ID-card visit: 办理健康卡 → 同意 → the phone → 确认 (*shots*: check each)."""
    kiosk.tap("办理健康卡")
    kiosk.wait_for("issue_consent")
    if shots:
        assert "第1步 / 共2步" in kiosk.text
        for item in ("姓名", "性别", "民族", "出生日期", "身份证号码", "本人电话", "地址"):
            assert item in kiosk.text
        assert "演示发卡机构DEMO" in kiosk.text
        assert "免费" in kiosk.text
        assert "银行借记卡功能" in kiosk.text  # the demo service issues the bank application too
        assert kiosk.prompt == "issue_consent"
        kiosk.check(f"{shots}-1-consent")
    kiosk.tap("同意")
    kiosk.wait_for("issue_phone")
    if shots:
        kiosk.check(f"{shots}-2-phone")
        for digit in phone[:6]:
            kiosk.tap(digit)
        kiosk.tap("确认，开始制卡")  # six digits: not a mobile number, and nothing is sent
        kiosk.page.get_by_role("alert").get_by_text("请输入11位手机号码（已输入6位）").wait_for()
        assert kiosk.screen == "issue_phone"
        kiosk.check(f"{shots}-2-phone-too-short")
        kiosk.tap("删除")
        phone = phone[5:]
    for digit in phone:
        kiosk.tap(digit)
    kiosk.tap("确认，开始制卡")


def test_a_card_issued_at_the_kiosk_then_refused_spoiled_out_of_cards_and_left_mid_way(
    kiosk: Kiosk, kiosk_daemon: Daemon
) -> None:
    home = kiosk_daemon.home
    stack = dispenser(kiosk_daemon)["stack"]
    ctl("remove")  # the demo's health card out: a patient without one
    kiosk.wait_for("attract")
    place(kiosk_daemon, demo_facts(kiosk_daemon)["idcard_card"])
    try:
        kiosk.wait_for("menu")
        assert "自助发卡" in kiosk.text
        kiosk.check("issue-0-menu")
        # A card is made in about a second here: slowed (each APDU at the read position) for the screenshot.
        send_control(demo_facts(kiosk_daemon)["dispenser_control"], {"cmd": "latency", "ms": 400})
        apply(kiosk, shots="issue")
        kiosk.page.get_by_role("heading", name="正在写卡").wait_for(timeout=ISSUED_MS)
        kiosk.check("issue-3-writing")
        send_control(demo_facts(kiosk_daemon)["dispenser_control"], {"cmd": "latency", "ms": 0})
        kiosk.wait_for("issued", timeout=ISSUED_MS)
        assert kiosk.prompt == "issue_done"
        assert "请取走您的健康卡和身份证" in kiosk.text
        content = kiosk.page.content()
        assert PHONE not in content
        assert "138 0013 8000" not in content
        assert HOLDER["name"] not in content
        assert HOLDER["id_number"][-6:] not in content
        kiosk.check("issue-4-done")
        # the stages as the service told them, said in order, the last one the card handed out (a stage
        # told just before the answer may arrive after it: it is then not shown)
        played = kiosk.page.evaluate("window.prompts")
        stages = played[played.index("issue_phone") + 1 :]
        assert stages[:3] == ["issue_preparing", "issue_dispensing", "issue_writing"], played
        assert stages[-1] == "issue_done", played
        assert set(stages) <= {
            "issue_preparing",
            "issue_dispensing",
            "issue_writing",
            "issue_verifying",
            "issue_presenting",
            "issue_done",
        }

        # the card left the dispenser's mouth, taken; the registry's row is live, for this chip
        state = dispenser(kiosk_daemon)
        assert (len(state["taken"]), state["reject_bin"], state["stack"]) == (1, [], stack - 1)
        database = open_database(f"sqlite:///{home / 'issuance-service' / 'issuance.db'}", migrate=False)
        try:
            record = Registry(database).live_card(HOLDER["id_number"])
        finally:
            database.close()
        assert record is not None
        assert record.status is CardStatus.ACTIVE
        assert record.station == "kiosk:demo-kiosk"
        assert record.chip_serial == chip_serial(load_card(state["taken"][0]).power_on())

        place(kiosk_daemon, None)  # the ID card taken too: the visit ends, what was done is said
        kiosk.wait_for("removed")
        assert "已办理居民健康卡" in kiosk.text
        kiosk.check("issue-5-id-card-taken")

        # the new card, in the kiosk's card reader: read as the person's health card (through the demo PSAM)
        image = str(state["taken"][0])
        assert send_control(default_control_path(CARD_PORT), {"cmd": "swap", "image": image})["ok"]
        ctl("insert")
        kiosk.wait_for("menu")
        assert kiosk.page.get_by_role("heading", name=f"{HOLDER['name'][0]}*，您好").is_visible()
        with kiosk.api() as client:
            identity = client.get("/v1/readers/default/card/identity").json()
        assert (identity["name"], identity["id_number"]) == (HOLDER["name"], HOLDER["id_number"])
        ctl("remove")
        kiosk.wait_for("attract")

        # the same person again: refused before anything moves
        place(kiosk_daemon, demo_facts(kiosk_daemon)["idcard_card"])
        kiosk.wait_for("menu")
        apply(kiosk)
        kiosk.wait_for("issue_failed", timeout=ISSUED_MS)
        assert "您已有居民健康卡" in kiosk.text
        assert kiosk.prompt == "issue_has_card"
        kiosk.check("issue-6-has-card")
        assert dispenser(kiosk_daemon)["stack"] == stack - 1
        kiosk.tap("去人工窗口")
        kiosk.wait_for("take_card")
        assert "请取走您的身份证" in kiosk.text
        kiosk.check("issue-6-to-the-counter")

        # another person; the card's chip dies while it is written: captured, and the patient may retry
        place(kiosk_daemon, "resident")
        kiosk.wait_for("menu")
        dispenser(kiosk_daemon, "dud", after=0, tear_after=3)
        apply(kiosk)
        kiosk.wait_for("issue_failed", timeout=ISSUED_MS)
        assert "制卡失败" in kiosk.text
        assert "代码：issuance_card_spoiled" in kiosk.text
        assert kiosk.prompt == "issue_spoiled"
        kiosk.check("issue-7-spoiled")
        state = dispenser(kiosk_daemon)
        assert (len(state["reject_bin"]), len(state["taken"])) == (1, 1)

        # 重试 with the stack run out: the machine's fault in the patient's words, the code for staff
        dispenser(kiosk_daemon, "empty", after=0)
        kiosk.tap("重试")
        kiosk.page.get_by_text("代码：dispenser_empty").wait_for(timeout=ISSUED_MS)
        assert "本机的健康卡已发完" in kiosk.text
        assert kiosk.prompt == "issue_machine"
        kiosk.check("issue-8-dispenser-empty")

        # refilled, once more from the menu (no 重试 for an empty stack), and the ID card taken while the card
        # is written: the request is not abandoned, and what it made is said once it is done
        dispenser(kiosk_daemon, "refill", count=1)
        send_control(demo_facts(kiosk_daemon)["dispenser_control"], {"cmd": "latency", "ms": 400})
        assert kiosk.page.get_by_role("button", name="重试").count() == 0
        kiosk.tap("返回")
        kiosk.wait_for("menu")
        apply(kiosk)
        kiosk.page.get_by_role("heading", name="正在写卡").wait_for(timeout=ISSUED_MS)
        place(kiosk_daemon, None)
        kiosk.wait_for("removed")
        assert "正在制卡" in kiosk.text
        kiosk.check("issue-9-id-card-taken-while-writing")
        send_control(demo_facts(kiosk_daemon)["dispenser_control"], {"cmd": "latency", "ms": 0})
        kiosk.page.get_by_text("已办理居民健康卡，请从出卡口取卡").wait_for(timeout=ISSUED_MS)
        kiosk.check("issue-10-made-after-the-id-card-left")
        assert len(dispenser(kiosk_daemon)["taken"]) == 2
    finally:
        place(kiosk_daemon, None)
        dispenser(kiosk_daemon, "refill", count=stack)
        send_control(
            default_control_path(CARD_PORT), {"cmd": "swap", "image": str(home / "sim" / "card.json")}
        )
