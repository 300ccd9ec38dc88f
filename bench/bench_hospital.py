"""Registration + payment round trips against the embedded HIS: ``cardservice serve --demo`` over HTTP.

One round trip is what a kiosk does for a patient at the desk: ``POST /v1/registration/bookings`` (a
slot for the card holder; the HIS creates the registration-fee bill) then ``POST /v1/payments`` (that
bill, from the prepaid account: order, ledger transaction, HIS settlement, audit records). Printed:
round trips per second and p50/p99 of one round trip, for one kiosk and for 8 kiosks at once, next to
``GET /v1/health`` from the same client in the same run (the ratio is the cost of the hospital work:
key check, the card session, two HIS transactions, the ledger, four audit records).

Needs pcscd with the project's readers and the vpcd ports free (``make bench``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.bench_daemon import _daemon, _free_port

__all__ = ["main", "round_trip"]


class _Slots:
    """Bookable slots of the coming days, handed out one per round trip (a patient books a slot once)."""

    def __init__(self, client: httpx.Client) -> None:
        self._free: list[str] = []
        self._lock = threading.Lock()
        today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
        days = {"date_from": str(today + dt.timedelta(days=1)), "date_to": str(today + dt.timedelta(days=6))}
        for department in client.get("/v1/registration/departments").json()["departments"]:
            params = {"department": department["id"], **days}
            slots = client.get("/v1/registration/slots", params=params).json()["slots"]
            self._free += [s["id"] for s in slots if s["remaining"] > 0]

    def __len__(self) -> int:
        return len(self._free)

    def take(self) -> str:
        with self._lock:
            return self._free.pop()


def round_trip(client: httpx.Client, slot: str, key: str) -> float:
    """One patient's book + pay (prepaid) of *slot*: seconds it took."""
    started = time.perf_counter()
    booked = client.post(
        "/v1/registration/bookings", json={"slot_id": slot}, headers={"Idempotency-Key": key}
    )
    booked.raise_for_status()
    registration = booked.json()
    paid = client.post(
        "/v1/payments",
        json={"bill_id": registration["bill_id"], "amount_fen": registration["fee_fen"], "method": "prepaid"},
        headers={"Idempotency-Key": key + "-pay"},
    )
    paid.raise_for_status()
    if paid.json()["status"] != "settled":
        raise RuntimeError(f"payment not settled: {paid.json()['status']}")
    return time.perf_counter() - started


def _health(client: httpx.Client) -> float:
    started = time.perf_counter()
    client.get("/v1/health").raise_for_status()
    return time.perf_counter() - started


def _run(clients: list[httpx.Client], count: int, work: Any) -> tuple[float, list[float]]:
    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients)) as pool:
        times = list(pool.map(lambda n: work(clients[n % len(clients)], n), range(count)))
    return time.perf_counter() - started, times


def _line(label: str, elapsed: float, times: list[float]) -> float:
    rate = len(times) / elapsed
    cuts = statistics.quantiles(times, n=100)
    print(f"  {label:34} {rate:8.1f}/s   p50 {cuts[49] * 1000:7.1f} ms   p99 {cuts[98] * 1000:7.1f} ms")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_hospital", description=__doc__.splitlines()[0])
    parser.add_argument("--round-trips", type=int, default=200, help="per run (default 200)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-hospital-") as tmp:
        port = _free_port()
        with _daemon(Path(tmp), port) as (_, key):
            headers = {"Authorization": f"Bearer {key}"}
            base = f"http://127.0.0.1:{port}"
            clients = [httpx.Client(base_url=base, headers=headers, timeout=30) for _ in range(8)]
            try:
                first = clients[0]
                deadline = time.monotonic() + 30
                while first.get("/v1/readers/default").json().get("state") != "ready":
                    if time.monotonic() > deadline:
                        raise SystemExit("the demo card was not ready")
                    time.sleep(0.1)
                top_up = first.post("/v1/payments/top-ups", json={"amount_fen": 10**9, "method": "gateway"},
                                    headers={"Idempotency-Key": "bench-top-up"})  # fmt: skip
                top_up.raise_for_status()
                slots = _Slots(first)
                count = min(args.round_trips, len(slots) // 2)
                print(f"registration + payment round trips, {count} per run, embedded HIS, SQLite")
                results = {}
                for label, pool in (("1 kiosk", clients[:1]), ("8 kiosks at once", clients)):
                    tag = label.split()[0]
                    elapsed, times = _run(
                        pool, count, lambda c, n, t=tag: round_trip(c, slots.take(), f"b{t}-{n}")
                    )
                    results[label] = _line(f"book + pay, {label}", elapsed, times)
                    elapsed, times = _run(pool, count * 5, lambda c, n: _health(c))
                    health = _line(f"GET /v1/health, {label}", elapsed, times)
                    print(f"  {'round trip / health throughput':34} {results[label] / health:8.3f}")
            finally:
                for client in clients:
                    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
