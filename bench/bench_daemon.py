"""The daemon as clients see it: ``cardservice serve --demo`` through pcscd + vpcd, measured over HTTP.

Printed, in one run:

1. identity latency from card insertion to data available: ``card-sim`` puts the card in, the SSE
   stream delivers ``card.inserted`` (the daemon has read the identity), then GET identity answers.
   With the daemon's own read time and its card APDU count from the event (pcscd's 400 ms polling of
   vpcd is part of the end-to-end figure, as it would be with a real reader's insertion interrupt);
2. cached-identity throughput and p50/p99 under concurrent clients vs ``/v1/health`` (no card work, no
   key, no audit) from the same client in the same run, in alternating rounds (the machine's load
   drifting hits both alike) — the ratio is the cost of key check, session lookup, masking and one audit
   record per request (target: >= 0.9× the throughput, <= 1.1× the p99);
3. the daemon's resident memory at start (after warm-up) and after 10,000 identity requests.

Needs pcscd with the project's readers and the vpcd ports free (``make bench``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from simulators.control import default_control_path, send_control

__all__ = ["main"]

CARDSERVICE = Path(sys.executable).with_name("cardservice")
CARD_VPCD_PORT = 40000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _daemon(home: Path, port: int) -> Iterator[tuple[subprocess.Popen[str], str]]:
    env = {
        **os.environ,
        "CARDSERVICE_HOME": str(home),
        # The bench is the only client: lift the per-client card rate limit it would otherwise hit.
        "CARDSERVICE_RATE_LIMIT": json.dumps({"per_second": 1e6, "burst": 1_000_000}),
        "CARDSERVICE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [str(CARDSERVICE), "serve", "--demo", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        key = ""
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while not key and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("cardservice serve --demo exited early")
            if "demo API key" in line:
                key = line.rsplit(" ", 1)[-1].strip()
        threading.Thread(target=process.stdout.read, daemon=True).start()  # keep draining
        yield process, key
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class _Events:
    """The SSE stream in a thread: event dicts into a list with a condition to wait on."""

    def __init__(self, base: str, key: str) -> None:
        self.seen: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self._client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(httpx.HTTPError), self._client.stream("GET", "/v1/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    with self.changed:
                        self.seen.append(json.loads(line[6:]))
                        self.changed.notify_all()

    def wait(self, kind: str, after: int, timeout: float = 10) -> tuple[dict[str, Any], float]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for event in self.seen[after:]:
                    if event["type"] == kind:
                        return event, time.perf_counter()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no {kind} event")
                self.changed.wait(remaining)

    def mark(self) -> int:
        with self.changed:
            return len(self.seen)

    def close(self) -> None:
        self._client.close()


def _ctl(command: str) -> None:
    reply = send_control(default_control_path(CARD_VPCD_PORT), {"cmd": command})
    if not reply.get("ok"):
        raise RuntimeError(f"card-sim ctl {command}: {reply}")


def _insertion(base: str, key: str, rounds: int) -> dict[str, float]:
    events = _Events(base, key)
    headers = {"Authorization": f"Bearer {key}"}
    to_event, to_data, read_ms, apdus = [], [], [], []
    try:
        with httpx.Client(base_url=base, headers=headers) as client:
            # The demo card at start: its card.inserted may come before this stream is open (the
            # daemon's start-up takes a moment after card-sim attached), so ask for the reader state.
            deadline = time.monotonic() + 30
            while client.get("/v1/readers/default").json().get("state") != "ready":
                if time.monotonic() > deadline:
                    raise TimeoutError("the demo card was not read")
                time.sleep(0.05)
            for _ in range(rounds):
                mark = events.mark()
                _ctl("remove")
                events.wait("card.removed", mark)
                mark = events.mark()
                started = time.perf_counter()
                _ctl("insert")
                event, at = events.wait("card.inserted", mark)
                response = client.get("/v1/readers/default/card/identity")
                response.raise_for_status()
                done = time.perf_counter()
                to_event.append((at - started) * 1000)
                to_data.append((done - started) * 1000)
                read_ms.append(float(event["read_ms"]))
                apdus.append(float(event["apdus"]))
    finally:
        events.close()
    return {
        "insert_to_event_ms": statistics.median(to_event),
        "insert_to_identity_ms": statistics.median(to_data),
        "daemon_read_ms": statistics.median(read_ms),
        "card_apdus": statistics.median(apdus),
    }


async def _load(
    base: str, path: str, headers: dict[str, str], total: int, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    failures = 0
    remaining = total
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining, failures
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await client.get(path)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "failures": failures}


def _figures(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Throughput, p50 and p99 of several runs of one endpoint, pooled."""
    latencies = sorted(t for run in runs for t in run["latencies"])
    return {
        "rps": len(latencies) / sum(run["elapsed"] for run in runs),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "failures": sum(run["failures"] for run in runs),
    }


def _interleaved_load(
    base: str, key: str, total: int, concurrency: int, rounds: int
) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """/v1/health and the cached identity, *total* requests each in *rounds* alternating runs (which goes
    first alternates too), so the machine's load drifting hits both alike: their pooled figures and each
    round's identity / health throughput."""
    auth = {"Authorization": f"Bearer {key}"}
    endpoints = {"health": ("/v1/health", {}), "identity": ("/v1/readers/default/card/identity", auth)}
    runs: dict[str, list[dict[str, Any]]] = {"health": [], "identity": []}
    ratios = []
    for index in range(rounds):
        order = ["health", "identity"] if index % 2 == 0 else ["identity", "health"]
        for name in order:
            path, headers = endpoints[name]
            runs[name].append(asyncio.run(_load(base, path, headers, total // rounds, concurrency)))
        health, identity = runs["health"][-1], runs["identity"][-1]
        ratios.append(health["elapsed"] / identity["elapsed"])
    return _figures(runs["health"]), _figures(runs["identity"]), ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_daemon", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="insertions to time")
    parser.add_argument("--requests", type=int, default=10_000, help="requests per endpoint")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--load-rounds", type=int, default=4, help="alternating runs the requests are split into (default 4)"
    )
    args = parser.parse_args(argv)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with (
        tempfile.TemporaryDirectory(prefix="bench-daemon-") as home,
        _daemon(Path(home), port) as (process, key),
    ):
        insertion = _insertion(base, key, args.rounds)
        i = insertion
        print(
            f"identity after insertion (median of {args.rounds}): insert → card.inserted event "
            f"{i['insert_to_event_ms']:.0f} ms, → identity answered {i['insert_to_identity_ms']:.0f} ms "
            f"(incl. pcscd's ≤400 ms vpcd polling); the daemon's own read {i['daemon_read_ms']:.1f} ms, "
            f"{i['card_apdus']:.0f} card APDUs"
        )
        auth = {"Authorization": f"Bearer {key}"}
        asyncio.run(_load(base, "/v1/readers/default/card/identity", auth, 200, args.concurrency))  # warm-up
        asyncio.run(_load(base, "/v1/health", {}, 200, args.concurrency))
        rss_start = _rss_kib(process.pid)
        baseline, identity, ratios = _interleaved_load(
            base, key, args.requests, args.concurrency, args.load_rounds
        )
        rss_end = _rss_kib(process.pid)
    for name, figures in (("/v1/health (baseline, no card work)", baseline), ("identity (cached)", identity)):
        print(
            f"{name:38} {figures['rps']:7.0f} req/s  p50 {figures['p50_ms']:6.2f} ms  "
            f"p99 {figures['p99_ms']:6.2f} ms"
            f"  ({args.requests} requests, {args.concurrency} clients, {figures['failures']:.0f} failed)"
        )
    print(
        f"identity / baseline: throughput {identity['rps'] / baseline['rps']:.2f}× (target >= 0.9; rounds "
        f"{' '.join(f'{r:.2f}' for r in ratios)}), p99 {identity['p99_ms'] / baseline['p99_ms']:.2f}× "
        f"(target <= 1.1)"
    )
    print(
        f"daemon RSS: {rss_start / 1024:.1f} MiB after warm-up, {rss_end / 1024:.1f} MiB after "
        f"{2 * args.requests} more requests ({(rss_end - rss_start) / 1024:+.1f} MiB, "
        f"{rss_end / rss_start:.2f}×)"
    )
    return 1 if identity["failures"] or baseline["failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
