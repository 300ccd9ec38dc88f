"""The kiosk in a real browser: Debian's chromium driven by Playwright (no browser download), in a
1080×1920 portrait touch context, against the real ``cardservice serve --demo`` through pcscd + vpcd —
one daemon per module, one fresh browser context (and kiosk session) per test.

Every screen a test reaches is checked with :meth:`Kiosk.check`: axe-core (WCAG 2.2 AA, best practice and
the enhanced contrast rule) with zero violations, the project's own checks that axe does not make (tap
targets ≥ 96×96 px with ≥ 24 px between them, text ≥ 32 px, nothing outside the screen or clipped), and a
screenshot in ``test-results/kiosk/<name>.png`` for review.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from drivers.readers import list_readers
from tests.pcsc.conftest import CARD_READER
from tests.pcsc.test_daemon_pcsc import Daemon, start_daemon

__all__ = ["FLAGS", "SHOTS", "Kiosk", "browser", "kiosk", "kiosk_daemon", "open_kiosk", "printer_signal"]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-results" / "kiosk"  # one PNG per screen, named by the test's check
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# The flags the kiosk-ux notes tested with Debian's chromium; the kiosk launcher adds --kiosk and friends.
FLAGS = [
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip
CONTEXT = {
    "viewport": {"width": 1080, "height": 1920},
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
    "reduced_motion": "reduce",
    "bypass_csp": True,  # axe is injected as an inline script; the page's CSP is tested on its own
}
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
WAIT_MS = 20_000

# The checks axe does not make (kiosk-ux.md C): what an older patient's finger and eyes need.
_OWN_CHECKS = """() => {
  const problems = [];
  const W = window.innerWidth, H = window.innerHeight;
  const shown = (el) => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const name = (el) => (el.getAttribute("aria-label") || el.textContent || el.tagName).trim().slice(0, 30);
  const targets = [...document.querySelectorAll("button, a[href], input, select, textarea, [role=button]")]
    .filter((el) => shown(el) && !el.closest("[inert]"));
  for (const el of targets) {
    const r = el.getBoundingClientRect();
    if (r.width < 96 || r.height < 96) problems.push(`target "${name(el)}" is ${r.width}x${r.height} px`);
  }
  for (let i = 0; i < targets.length; i++) {
    for (let j = i + 1; j < targets.length; j++) {
      const a = targets[i].getBoundingClientRect(), b = targets[j].getBoundingClientRect();
      const gap = Math.max(b.left - a.right, a.left - b.right, b.top - a.bottom, a.top - b.bottom);
      if (gap < 24) problems.push(`"${name(targets[i])}" and "${name(targets[j])}" are ${gap} px apart`);
    }
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || !shown(el)) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < 32) problems.push(`text "${node.textContent.trim().slice(0, 30)}" is ${size} px`);
  }
  for (const el of document.querySelectorAll("body *")) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.left < -0.5 || r.top < -0.5 || r.right > W + 0.5 || r.bottom > H + 0.5) {
      problems.push(`${el.tagName.toLowerCase()}.${el.className} reaches outside the screen`);
    }
  }
  const page = [document.documentElement, document.body];
  for (const el of [...page, ...document.querySelectorAll(".screen, .screen *")]) {
    const over = el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1;
    if (over && (getComputedStyle(el).overflow !== "visible" || page.includes(el))) {
      problems.push(`${el.tagName.toLowerCase()}.${el.className} clips its content`);
    }
  }
  return problems;
}"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "no chromium: scripts/setup.sh installs Debian's chromium (make test runs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        yield launched
        launched.close()


def pcscd_up() -> None:
    """These tests fail, never skip, without the project's pcscd (as tests/pcsc do)."""
    try:
        readers = list_readers()
    except Exception as exc:
        pytest.fail(f"pcscd is not reachable ({exc}); start it with: scripts/pcscd-ctl start", pytrace=False)
    assert CARD_READER in readers, f"no {CARD_READER} in {readers}: pcscd runs without the project's vpcd"


@pytest.fixture(scope="module")
def kiosk_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    pcscd_up()
    with start_daemon(tmp_path_factory.mktemp("kiosk-home")) as running:
        yield running


def demo_facts(daemon: Daemon) -> dict[str, Any]:
    facts: dict[str, Any] = json.loads((daemon.home / "demo-api-keys.json").read_text(encoding="utf-8"))
    return facts


def launch_url(daemon: Daemon, **body: Any) -> str:
    """A one-time launch URL, asked for with the kiosk key as the kiosk launcher does."""
    with daemon.client(demo_facts(daemon)["kiosk"]) as client:
        answer = client.post("/v1/kiosk/launch-tokens", json=body)
    assert answer.status_code == 201, answer.text
    return daemon.base + answer.json()["url"]


@dataclass
class Kiosk:
    """A kiosk page and what a test does with it: tap by role and Chinese name, wait for screens, check."""

    page: Page
    daemon: Daemon

    def tap(self, name: str) -> None:
        """Tap the button whose accessible name is *name*, or begins with it (a tile: its title, then its
        detail)."""
        pattern = re.compile(rf"^{re.escape(name)}(\s|$)")
        self.page.get_by_role("button", name=pattern).first.tap()

    @property
    def screen(self) -> str:
        return str(self.page.locator(".kiosk").get_attribute("data-screen"))

    def wait_for(self, screen: str, timeout: float = WAIT_MS) -> None:
        try:
            self.page.wait_for_selector(f'.kiosk[data-screen="{screen}"]', timeout=timeout)
        except PlaywrightTimeout:
            shows = f"the kiosk shows {self.screen!r}: {self.text!r}"
            raise AssertionError(f"waited for {screen!r}; {shows}") from None

    @property
    def prompt(self) -> str:
        return str(self.page.locator("body").get_attribute("data-prompt"))

    @property
    def text(self) -> str:
        return self.page.inner_text("body")

    def check(self, shot: str) -> None:
        """axe with zero violations, our own checks, and the screenshot ``test-results/kiosk/<shot>.png``."""
        self.page.evaluate("document.fonts.ready")
        if not self.page.evaluate("typeof axe !== 'undefined'"):
            self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
            " rules: {'color-contrast-enhanced': {enabled: true}}})",
            AXE_TAGS,
        )
        violations = [
            f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'][:3])})"
            for v in result["violations"]
        ]
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{shot}.png"))
        assert violations == [], f"axe on {shot}: {violations}"
        problems = self.page.evaluate(_OWN_CHECKS)
        assert problems == [], f"kiosk checks on {shot}: {problems}"
        prompt = self.prompt
        if prompt != "None":  # the voice prompt this screen plays is a file the daemon serves
            recording = ROOT / "kiosk" / "audio" / f"{prompt}.opus"
            assert recording.is_file(), f"{shot}: no recording of {prompt!r}"

    def api(self, key: str = "his") -> httpx.Client:
        return self.daemon.client(demo_facts(self.daemon)[key])


def open_kiosk(
    browser: Browser, daemon: Daemon, *, clock: bool = False, init_script: str | None = None
) -> tuple[BrowserContext, Kiosk]:
    """A new browser context on a fresh launch URL, the page started (its event stream connected).
    *clock*: Playwright's clock is installed first, so the test moves the page's time; *init_script* runs
    before the page's own scripts."""
    context = browser.new_context(**CONTEXT)
    if init_script is not None:
        context.add_init_script(init_script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    if clock:
        page.clock.install()
    page.goto(launch_url(daemon))
    page.wait_for_selector("body[data-ready]", timeout=WAIT_MS)
    assert page.url.endswith("/kiosk/"), page.url  # the launch token left the address bar at once
    assert errors == []
    return context, Kiosk(page, daemon)


@pytest.fixture
def kiosk(browser: Browser, kiosk_daemon: Daemon) -> Iterator[Kiosk]:
    context, opened = open_kiosk(browser, kiosk_daemon)
    try:
        yield opened
    finally:
        context.close()


def printer_signal(daemon: Daemon) -> None:
    """Take the demo printer's paper away, or put it back (its SIGUSR1)."""
    os.kill(int(demo_facts(daemon)["printer_pid"]), signal.SIGUSR1)
