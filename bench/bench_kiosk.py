"""The kiosk as a patient meets it: Debian's Chromium on ``/kiosk/`` of a real ``cardservice serve --demo``
through pcscd + vpcd. Printed, in one run:

1. card inserted → greeting painted (``card-sim ctl insert`` to the frame showing 「李*，您好」), median and
   p95 over 20 insertions, split into pcscd's share (the insertion until the daemon starts reading: vpcd is
   polled every 400 ms, as a real reader's insertion interrupt would be), the daemon's read of the card
   (``read_ms`` of its ``card.inserted`` event) and the kiosk page's share (the event to the painted greeting:
   the SSE hop, the identity request, the render);
2. the page's weight (what the first screen loads: HTML, CSS, scripts; and the voice prompt it plays) and its
   first contentful paint;
3. the daemon's ``GET /v1/health`` round trip from the same machine in the same run, as the baseline.

Needs pcscd with the project's readers and the vpcd ports free (``make bench``).
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from bench.bench_daemon import _ctl, _daemon, _Events, _free_port

__all__ = ["main"]

ROUNDS = 20
FLAGS = ["--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--autoplay-policy=no-user-gesture-required"]  # fmt: skip

# Arms a watch: window.greetedAt becomes the wall-clock time (ms) of the frame after the greeting appears.
_ARM = """() => {
  window.greetedAt = null;
  const shown = () => document.querySelector('.kiosk[data-screen="menu"]');
  const painted = () => requestAnimationFrame(() => requestAnimationFrame(() => {
    window.greetedAt = performance.timeOrigin + performance.now();
  }));
  const watch = new MutationObserver(() => { if (shown()) { watch.disconnect(); painted(); } });
  watch.observe(document.body, { subtree: true, attributes: true, childList: true });
}"""


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):7.1f} ms   p95 {_percentile(values, 0.95):7.1f} ms"


def _insertions(page: Page, events: _Events) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"total": [], "pcscd": [], "daemon": [], "page": []}
    for _ in range(ROUNDS):
        mark = events.mark()
        _ctl("remove")
        events.wait("card.removed", mark)
        page.wait_for_selector('.kiosk[data-screen="attract"]', timeout=15000)
        mark = events.mark()
        page.evaluate(_ARM)  # before the card goes in
        inserted_at = time.time() * 1000
        _ctl("insert")
        event, _ = events.wait("card.inserted", mark)
        event_at = time.time() * 1000
        greeted_at = float(page.wait_for_function("() => window.greetedAt", timeout=15000).json_value())
        read_ms = float(event.get("read_ms", 0.0))
        figures["total"].append(greeted_at - inserted_at)
        figures["daemon"].append(read_ms)
        figures["pcscd"].append(max(0.0, event_at - inserted_at - read_ms))
        figures["page"].append(greeted_at - event_at)
    return figures


def _page_weight(page: Page) -> tuple[int, int, float]:
    entries: list[dict[str, Any]] = page.evaluate(
        "() => [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
        ".map(e => ({name: e.name, size: e.encodedBodySize || e.transferSize || 0}))"
    )
    code = sum(int(e["size"]) for e in entries if "/kiosk/audio/" not in e["name"])
    audio = sum(int(e["size"]) for e in entries if "/kiosk/audio/" in e["name"])
    paint = page.evaluate(
        "() => (performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN}).startTime"
    )
    return code, audio, float(paint)


def _health(base: str, rounds: int = 200) -> list[float]:
    times = []
    with httpx.Client(base_url=base) as client:
        for _ in range(rounds):
            started = time.perf_counter()
            client.get("/v1/health").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("bench_kiosk: no chromium (scripts/setup.sh installs it)")
        return 1
    with tempfile.TemporaryDirectory() as home, _daemon(Path(home), _free_port()) as (_, key):
        facts = json.loads((Path(home) / "demo-api-keys.json").read_text(encoding="utf-8"))
        base = facts["url"]
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {facts['kiosk']}"}) as client:
            url = base + client.post("/v1/kiosk/launch-tokens", json={}).json()["url"]
        events = _Events(base, key)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
                context = browser.new_context(
                    viewport={"width": 1080, "height": 1920}, has_touch=True, locale="zh-CN",
                    timezone_id="Asia/Shanghai",
                )  # fmt: skip
                page = context.new_page()
                page.goto(url)
                page.wait_for_selector("body[data-ready]", timeout=20000)
                code, audio, first_paint = _page_weight(page)
                figures = _insertions(page, events)
                browser.close()
            health = _health(base)
        finally:
            events.close()
    print(f"card inserted → greeting painted, {ROUNDS} insertions (Chromium, serve --demo, pcscd + vpcd):")
    print(f"  end to end         {_summary(figures['total'])}")
    print(f"  pcscd (detection)  {_summary(figures['pcscd'])}")
    print(f"  daemon (card read) {_summary(figures['daemon'])}")
    print(f"  kiosk page         {_summary(figures['page'])}   (event → identity → painted)")
    ours = statistics.median(figures["daemon"]) + statistics.median(figures["page"])
    print(f"  ours (daemon + page) is {ours / statistics.median(figures['total']):.0%} of the median")
    weight = f"{code / 1024:.1f} KiB (HTML, CSS, scripts), first voice prompt {audio / 1024:.1f} KiB"
    print(f"page weight: {weight}; first contentful paint {first_paint:.0f} ms")
    print(f"baseline GET /v1/health: {_summary(health)}")
    ratio = statistics.median(figures["total"]) / statistics.median(health)
    print(f"  greeting median / health median: {ratio:.0f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
