"""为孩子办卡 and 登记孩子身份证号 at the kiosk, end to end: Debian's chromium, the real ``serve --demo``
through pcscd — its embedded HIS with one newborn (李小宝, certificate O110000001, father the demo
patient 李明), its issuance service and the K720 dispenser simulator, the ID-card reader simulator.
李明 lays his ID card down, asks first for a number the HIS does not give him (未找到), then for his
daughter's: the birth record to confirm, what is written on the card, his phone, the card from the
dispenser — linked to him in the registry. Her card in the kiosk's reader, he lays his ID card down
again and types her new ID number: the registry and the card carry it. The same child again is
refused before anything moves. Every screen is checked (axe, sizes, screenshot)."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path

import pytest

from cardservice.healthcard import id_check_character
from cardservice.issuance import CardRecord, CardStatus, Registry
from cardservice.issuance._batch import chip_serial
from cardservice.store import open_database
from simulators.cardos import load_card
from simulators.control import default_control_path, send_control
from simulators.health import DEMO_HOLDER_PATH
from tests.kiosk.conftest import Kiosk, demo_facts
from tests.kiosk.test_issuance import ISSUED_MS, PHONE, dispenser, place
from tests.pcsc.conftest import CARD_PORT
from tests.pcsc.test_daemon_pcsc import Daemon, ctl

pytestmark = pytest.mark.pcsc

GUARDIAN = json.loads(Path(DEMO_HOLDER_PATH).read_text(encoding="utf-8"))["DDF1/EF06"]
CERTIFICATE = "O110000001"  # the demo HIS's newborn, 李小宝 (女), 李明's daughter
CHILD = "李小宝"


def registry_card(daemon: Daemon, number: str) -> CardRecord | None:
    """The live card of *number* (a card number, or a child's recorded ID number) in the registry."""
    url = f"sqlite:///{daemon.home / 'issuance-service' / 'issuance.db'}"
    database = open_database(url, migrate=False)
    try:
        return Registry(database).live_card(number)
    finally:
        database.close()


def child_id_number(born: _dt.date) -> str:
    """A girl's ID number, born on *born* in her father's division: sequence 002 (even), check character."""
    first17 = str(GUARDIAN["id_number"][:6]) + born.strftime("%Y%m%d") + "002"
    return first17 + id_check_character(first17)


def certificate(kiosk: Kiosk, number: str) -> None:
    """From the letter screen: the certificate's letter, its nine digits, 查询出生记录."""
    kiosk.tap(number[0])
    kiosk.wait_for("child_digits")
    for digit in number[1:]:
        kiosk.tap(digit)
    kiosk.tap("查询出生记录")


def apply_for_child(kiosk: Kiosk, shots: str | None = None) -> None:
    """From the menu of 李明's ID-card visit: 为孩子办卡 → the certificate → 对 → 同意 → the phone → 确认."""
    kiosk.tap("为孩子办卡")
    kiosk.wait_for("child_letter")
    if shots:
        assert "第1步 / 共5步" in kiosk.text
        kiosk.check(f"{shots}-1-letter")
        kiosk.tap(CERTIFICATE[0])
        kiosk.wait_for("child_digits")
        for digit in CERTIFICATE[1:6]:
            kiosk.tap(digit)
        kiosk.tap("查询出生记录")  # five digits: asked for nine, nothing sent
        kiosk.page.get_by_role("alert").get_by_text("请输入编号的9位数字（已输入5位）").wait_for()
        kiosk.check(f"{shots}-2-digits-too-short")
        kiosk.tap("返回")
        kiosk.wait_for("child_letter")
    certificate(kiosk, CERTIFICATE)
    kiosk.wait_for("child_confirm")
    if shots:
        assert kiosk.prompt == "child_confirm"
        for fact in (CHILD, "女", "父亲", CERTIFICATE, "第3步 / 共5步"):
            assert fact in kiosk.text, fact
        kiosk.check(f"{shots}-4-confirm")
    kiosk.tap("对")
    kiosk.wait_for("issue_consent")
    if shots:
        assert "第4步 / 共5步" in kiosk.text
        for item in ("姓名", "性别", "出生日期", "出生医学证明编号", "监护人姓名", "监护人电话"):
            assert item in kiosk.text, item
        assert "身份证号码" not in kiosk.text  # a newborn has none: not written
        kiosk.check(f"{shots}-5-consent")
    kiosk.tap("同意")
    kiosk.wait_for("issue_phone")
    if shots:
        assert "将作为监护人电话写入孩子的健康卡" in kiosk.text
        kiosk.check(f"{shots}-6-phone")
    for digit in PHONE:
        kiosk.tap(digit)
    kiosk.tap("确认，开始制卡")


def test_a_newborns_card_then_her_id_number_then_the_same_child_again(
    kiosk: Kiosk, kiosk_daemon: Daemon
) -> None:
    home = kiosk_daemon.home
    stack = dispenser(kiosk_daemon)["stack"]
    ctl("remove")  # the demo's health card out: 李明 comes with his ID card
    kiosk.wait_for("attract")
    place(kiosk_daemon, demo_facts(kiosk_daemon)["idcard_card"])
    try:
        kiosk.wait_for("menu")
        assert kiosk.page.get_by_role("button", name="为孩子办卡").is_visible()
        kiosk.check("child-0-menu")

        # a certificate the HIS does not give this guardian: said, nothing else asked
        kiosk.tap("为孩子办卡")
        kiosk.wait_for("child_letter")
        certificate(kiosk, "O110000002")
        kiosk.wait_for("child_not_found")
        assert kiosk.prompt == "issue_birth_not_found"
        assert "未找到孩子的出生记录" in kiosk.text
        kiosk.check("child-3-not-found")
        kiosk.tap("返回")
        kiosk.wait_for("menu")

        apply_for_child(kiosk, shots="child")
        kiosk.wait_for("issued", timeout=ISSUED_MS)
        assert kiosk.prompt == "issue_child_done"
        assert "请取走孩子的健康卡和您的身份证" in kiosk.text
        assert PHONE not in kiosk.page.content()
        kiosk.check("child-7-done")

        # the card at the dispenser's mouth, taken; the registry's row: the certificate's, linked to 李明
        state = dispenser(kiosk_daemon)
        assert (len(state["taken"]), state["reject_bin"], state["stack"]) == (1, [], stack - 1)
        record = registry_card(kiosk_daemon, CERTIFICATE)
        assert record is not None
        assert record.status is CardStatus.ACTIVE
        assert record.guardian_number == GUARDIAN["id_number"]
        assert record.id_number is None
        assert record.chip_serial == chip_serial(load_card(state["taken"][0]).power_on())
        place(kiosk_daemon, None)
        kiosk.wait_for("removed")

        # her card in the kiosk's card reader: a child's (no ID number), so the menu offers to add one
        assert send_control(
            default_control_path(CARD_PORT), {"cmd": "swap", "image": str(state["taken"][0])}
        )["ok"]
        ctl("insert")
        kiosk.wait_for("menu")
        with kiosk.api() as client:
            identity = client.get("/v1/readers/default/card/identity").json()
        assert (identity["name"], identity["sex"], identity["id_number"]) == (CHILD, "2", None)
        kiosk.check("child-8-menu-child-card")

        kiosk.tap("登记孩子身份证号")
        kiosk.wait_for("idnum_guardian")
        assert kiosk.prompt == "idnum_guardian"
        kiosk.check("child-9-guardian-id-card")
        place(kiosk_daemon, demo_facts(kiosk_daemon)["idcard_card"])
        kiosk.wait_for("idnum_entry")

        # her ID number: his division, her birth date, sequence 002 (even: a girl), GB 11643 check character
        born = _dt.date.fromisoformat(identity["birth_date"])
        number = child_id_number(born)
        wrong = number[:17] + ("1" if number[-1] != "1" else "2")
        for char in wrong:
            kiosk.tap(char)
        kiosk.tap("确认登记")  # one character mistyped: found by the check character, nothing sent
        kiosk.page.get_by_role("alert").get_by_text("号码有误（校验位不符），请核对后重新输入").wait_for()
        kiosk.check("child-10-id-number-mistyped")
        kiosk.tap("清空")
        for char in child_id_number(born - _dt.timedelta(days=1)):  # well-formed, but not her birth date
            kiosk.tap(char)
        kiosk.tap("确认登记")
        kiosk.wait_for("idnum_failed")
        assert "身份证号码与孩子不符" in kiosk.text
        assert "代码：issuance_invalid_id_number" in kiosk.text
        assert kiosk.prompt == "idnum_failed"
        kiosk.check("child-11-id-number-refused")
        record = registry_card(kiosk_daemon, CERTIFICATE)
        assert record is not None
        assert record.id_number is None  # nothing recorded
        kiosk.tap("重新输入")
        kiosk.wait_for("idnum_entry")
        for char in number:
            kiosk.tap(char)
        kiosk.tap("确认登记")
        kiosk.wait_for("idnum_done")
        assert kiosk.prompt == "idnum_done"
        assert "已登记" in kiosk.text
        assert number not in kiosk.page.content()  # shown masked
        kiosk.check("child-12-id-number-recorded")
        record = registry_card(kiosk_daemon, number)
        assert record is not None
        assert (record.card_number, record.id_number) == (CERTIFICATE, number)
        with kiosk.api() as client:  # on the card too: DF01/EF08 (EF06 is never written after issuance)
            items = client.get("/v1/readers/default/card/items", params={"item": ["ZJLB", "ZJHM"]}).json()[
                "items"
            ]
        assert (items["ZJLB"]["value"], items["ZJHM"]["value"]) == ("1", number)

        # the same child again, from 李明's ID card: refused before anything moves
        ctl("remove")
        kiosk.wait_for("removed")
        place(kiosk_daemon, demo_facts(kiosk_daemon)["idcard_card"])
        kiosk.wait_for("menu")
        kiosk.tap("为孩子办卡")  # first 不对: the record is not his child's as he knows it
        kiosk.wait_for("child_letter")
        certificate(kiosk, CERTIFICATE)
        kiosk.wait_for("child_confirm")
        kiosk.tap("不对")
        kiosk.wait_for("child_mismatch")
        assert "请到人工窗口办理" in kiosk.text
        assert kiosk.prompt == "child_mismatch"
        kiosk.check("child-13-mismatch")
        kiosk.tap("返回")
        kiosk.wait_for("menu")
        apply_for_child(kiosk)
        kiosk.wait_for("issue_failed", timeout=ISSUED_MS)
        assert "这个孩子已有居民健康卡" in kiosk.text
        assert kiosk.prompt == "issue_child_has_card"
        kiosk.check("child-14-has-card")
        assert dispenser(kiosk_daemon)["stack"] == stack - 1
    finally:
        place(kiosk_daemon, None)
        dispenser(kiosk_daemon, "refill", count=stack)
        send_control(
            default_control_path(CARD_PORT), {"cmd": "swap", "image": str(home / "sim" / "card.json")}
        )
