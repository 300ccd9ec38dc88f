"""The real topology: one daemon per kiosk, all on one PostgreSQL, each kiosk with its own card and patient.

Four ``cardservice serve --demo`` processes share one PostgreSQL database (a private one started with
``scripts/postgres-ctl``, or ``--database-url``). Each has its own data directory, port, print station,
API key (``kiosk-N``, scope kiosk) and card: a health card personalised for its own synthetic patient,
with ¥10,000,000 topped up on the patient's prepaid account through the demo acquirer. A kiosk does one
patient at a time: one client per daemon, each round trip ``POST /v1/registration/bookings`` then
``POST /v1/payments`` (prepaid) of the new bill.

Printed, per run and as the median of the runs: round trips per second of one daemon (one kiosk busy,
the others idle) and of the four at once, the ratio (target >= 1.5 on a 2-core machine), and the database
work per round trip counted inside the daemons (:mod:`bench._sqlcount`): statements, transactions
(commits, of which writing), pool checkouts; then the statements that repeat most.

The cards run in-process in each daemon (book and pay do no card I/O; the identity is read once at
insertion): each daemon gets ``PCSCLITE_CSOCK_NAME`` pointing nowhere, so the demo finds no pcscd and
serves ``HOME/sim/card.json`` in-process — the image this benchmark personalised there beforehand. The
demo's own API key is not used: every daemon's demo revokes the previous ``demo`` key on the shared
database.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench._sqlcount import COUNTS_ENV, read_counts
from bench.bench_hospital import round_trip

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_CTL = ROOT / "scripts" / "postgres-ctl"
_NAMES = ("张伟", "王芳", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周丽")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_TOP_UP_FEN = 10**9
_START_TIMEOUT = 60.0
_WARM_UP = 10  # round trips per kiosk, all at once, before the runs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _id_number(serial: int) -> str:
    """A synthetic resident ID number (GB 11643: valid form and check digit), born 1990-01-01."""
    body = f"11010519900101{serial:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def _make_card(home: Path, index: int) -> tuple[str, str]:
    """The kiosk's card image in ``home/sim/card.json`` (where the demo looks), for a patient of its own;
    (card number, name)."""
    from simulators.cardos import create_image
    from simulators.health import DEMO_HOLDER_PATH

    number, name = _id_number(100 + index), _NAMES[index % len(_NAMES)]
    holder = json.loads(DEMO_HOLDER_PATH.read_text(encoding="utf-8"))
    holder["DDF1/EF05"].update(card_number=number, issuance_serial=f"{9000000000 + index}")
    holder["DDF1/EF06"].update(name=name, id_number=number, birth_date="1990-01-01")
    holder["DDF1/DF01/EF08"].update(document_number=number)
    (home / "sim").mkdir(parents=True, exist_ok=True)
    holder_path = home / "holder.json"
    holder_path.write_text(json.dumps(holder, ensure_ascii=False), encoding="utf-8")
    create_image(home / "sim" / "card.json", "health", holder=str(holder_path))
    return number, name


@contextlib.contextmanager
def _postgres(run_dir: Path) -> Iterator[str]:
    """A private PostgreSQL (scripts/postgres-ctl with its own run directory): its URL; stopped after."""
    env = {**os.environ, "CARDSERVICE_RUN_DIR": str(run_dir)}
    started = subprocess.run([str(POSTGRES_CTL), "start"], env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise RuntimeError(f"postgres-ctl start: {started.stderr.strip() or started.stdout.strip()}")
    try:
        url = subprocess.run(
            [str(POSTGRES_CTL), "url"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        yield url
    finally:
        subprocess.run([str(POSTGRES_CTL), "stop"], env=env, capture_output=True, text=True)


@dataclass
class _Kiosk:
    index: int
    home: Path
    port: int
    token: str
    card_number: str
    name: str
    process: subprocess.Popen[bytes] | None = None
    client: httpx.Client | None = None
    slots: list[str] = field(default_factory=list)

    @property
    def counts_path(self) -> Path:
        return self.home / "sql-counts.json"

    def http(self) -> httpx.Client:
        assert self.client is not None
        return self.client

    def counts(self) -> dict[str, Any]:
        """The daemon's database counters now (it writes them on SIGUSR1)."""
        assert self.process is not None
        before = read_counts(self.counts_path).get("dump", 0)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            counts = read_counts(self.counts_path)
            if counts.get("dump", 0) > before:
                return counts
            time.sleep(0.01)
        raise RuntimeError(f"kiosk {self.index}: no database counts from the daemon")


def _start(kiosk: _Kiosk, database_url: str, nowhere: Path) -> None:
    env = {
        **os.environ,
        "CARDSERVICE_HOME": str(kiosk.home),
        "CARDSERVICE_DATABASE_URL": database_url,
        "CARDSERVICE_PRINT_STATION": f"kiosk-{kiosk.index}",
        # One client per kiosk: lift the per-client card rate limit, as bench_daemon does.
        "CARDSERVICE_RATE_LIMIT": json.dumps({"per_second": 1e6, "burst": 1_000_000}),
        "CARDSERVICE_LOG_LEVEL": "WARNING",
        # No pcscd for this process: the demo serves HOME/sim/card.json in-process.
        "PCSCLITE_CSOCK_NAME": str(nowhere),
        COUNTS_ENV: str(kiosk.counts_path),
    }
    kiosk.process = subprocess.Popen(
        [sys.executable, "-m", "bench._sqlcount", "serve", "--demo", "--port", str(kiosk.port)],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {kiosk.token}"}
    kiosk.client = httpx.Client(base_url=f"http://127.0.0.1:{kiosk.port}", headers=headers, timeout=30)
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        if kiosk.process.poll() is not None:
            raise RuntimeError(f"kiosk {kiosk.index}: the daemon exited ({kiosk.process.returncode})")
        with contextlib.suppress(httpx.HTTPError):
            if kiosk.http().get("/v1/readers/default").json().get("state") == "ready":
                break
        if time.monotonic() > deadline:
            raise RuntimeError(f"kiosk {kiosk.index}: the daemon's card was not ready")
        time.sleep(0.1)
    identity = kiosk.http().get("/v1/readers/default/card/identity")
    identity.raise_for_status()
    if identity.json()["name"] != kiosk.name:
        raise RuntimeError(f"kiosk {kiosk.index}: the card in the reader is {identity.json()['name']}")
    top_up = kiosk.http().post(
        "/v1/payments/top-ups", json={"amount_fen": _TOP_UP_FEN, "method": "gateway"},
        headers={"Idempotency-Key": f"bench-top-up-{kiosk.index}"},
    )  # fmt: skip
    top_up.raise_for_status()
    if top_up.json()["status"] != "settled":
        raise RuntimeError(f"kiosk {kiosk.index}: top-up {top_up.json()['status']}")


def _stop(kiosk: _Kiosk) -> None:
    if kiosk.client is not None:
        kiosk.client.close()
    if kiosk.process is not None and kiosk.process.poll() is None:
        kiosk.process.terminate()
        try:
            kiosk.process.wait(15)
        except subprocess.TimeoutExpired:
            kiosk.process.kill()


def _deal_slots(kiosks: list[_Kiosk], days: int) -> None:
    """Every kiosk's bookable slots: the general clinics' (50 places) for everyone, each doctor's slot
    (2-4 places) to one kiosk, so no booking meets a full slot."""
    client = kiosks[0].http()
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    shared: list[str] = []
    dealt: list[str] = []
    for start in range(1, days, 28):
        span = {"date_from": str(today + dt.timedelta(days=start)),
                "date_to": str(today + dt.timedelta(days=min(days - 1, start + 27)))}  # fmt: skip
        for department in client.get("/v1/registration/departments").json()["departments"]:
            response = client.get("/v1/registration/slots", params={"department": department["id"], **span})
            response.raise_for_status()
            for slot in response.json()["slots"]:
                if slot["remaining"] >= len(kiosks) and slot["doctor_id"] is None:
                    shared.append(slot["id"])
                elif slot["remaining"] > 0 and slot["doctor_id"] is not None:
                    dealt.append(slot["id"])
    for kiosk in kiosks:
        kiosk.slots = shared + dealt[kiosk.index :: len(kiosks)]
        kiosk.slots.reverse()  # taken from the end: the earliest first


def _round_trip(kiosk: _Kiosk, key: str) -> float:
    return round_trip(kiosk.http(), kiosk.slots.pop(), key)


_TICK = os.sysconf("SC_CLK_TCK")
_CPU = ("daemons", "postgres", "client", "machine")


def _cpu(daemons: set[int]) -> dict[str, float]:
    """CPU seconds used so far by the daemons (with their children: acquirer, printer), PostgreSQL's
    processes, this process, and the whole machine (busy time of every core)."""
    used = dict.fromkeys(_CPU, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICK
        pid, ppid = int(entry.name), int(fields[1])
        if pid in daemons or ppid in daemons:
            used["daemons"] += seconds
        elif comm.startswith("postgres"):
            used["postgres"] += seconds
        elif pid == os.getpid():
            used["client"] += seconds
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    used["machine"] = (sum(int(v) for v in cpu) - int(cpu[3]) - int(cpu[4])) / _TICK  # not idle, not iowait
    return used


@dataclass
class _Phase:
    daemons: int
    round_trips: int
    seconds: float
    times: list[float]
    counts: Counter[str]
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.round_trips / self.seconds


_COUNTED = ("statements", "commits", "writes", "checkouts")


def _totals(kiosks: list[_Kiosk]) -> tuple[Counter[str], Counter[str]]:
    totals: Counter[str] = Counter()
    texts: Counter[str] = Counter()
    for kiosk in kiosks:
        counts = kiosk.counts()
        totals.update({name: int(counts.get(name, 0)) for name in _COUNTED})
        texts.update(counts.get("by_statement", {}))
    return totals, texts


def _phase(kiosks: list[_Kiosk], everyone: list[_Kiosk], count: int, tag: str) -> tuple[_Phase, Counter[str]]:
    """*count* round trips by each kiosk of *kiosks* at once; the database work of every daemon meanwhile."""
    pids = {k.process.pid for k in everyone if k.process is not None}
    before, texts_before = _totals(everyone)
    cpu_before = _cpu(pids)

    def drive(kiosk: _Kiosk) -> list[float]:
        return [_round_trip(kiosk, f"{tag}-k{kiosk.index}-{n}") for n in range(count)]

    started = time.perf_counter()
    with ThreadPoolExecutor(len(kiosks)) as pool:
        times = [t for kiosk_times in pool.map(drive, kiosks) for t in kiosk_times]
    elapsed = time.perf_counter() - started
    cpu = {name: used - cpu_before[name] for name, used in _cpu(pids).items()}
    after, texts_after = _totals(everyone)
    after.subtract(before)
    texts_after.subtract(texts_before)
    return _Phase(len(kiosks), len(times), elapsed, times, after, cpu), texts_after


def _cuts(times: list[float]) -> str:
    cuts = statistics.quantiles(times, n=100)
    return f"p50 {cuts[49] * 1000:6.1f} ms  p99 {cuts[98] * 1000:6.1f} ms"


def _per_round_trip(phases: list[_Phase]) -> dict[str, float]:
    trips = sum(p.round_trips for p in phases)
    return {name: sum(p.counts[name] for p in phases) / trips for name in _COUNTED}


def run(
    kiosk_count: int, round_trips: int, runs: int, database_url: str | None, *, top: int = 12
) -> dict[str, float]:
    """Run the benchmark and print it; the medians and the work per round trip by name."""
    from cardservice.access import ApiKeys, Scope
    from cardservice.his import CHINA_TZ, seed
    from cardservice.store import open_database

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-kiosks-")))
        private = database_url is None
        url = database_url or stack.enter_context(_postgres(tmp / "run"))
        database = open_database(url)  # migrated before the daemons start
        stack.callback(database.close)
        today = dt.datetime.now(CHINA_TZ).date()
        weeks = 4
        for week in range(weeks):  # the daemons seed a week; a run needs more slots than that
            seed(database, today + dt.timedelta(days=7 * week))
        keys = ApiKeys(database)
        stack.callback(keys.close)
        kiosks: list[_Kiosk] = []
        for index in range(kiosk_count):
            home = tmp / f"kiosk-{index}"
            number, name = _make_card(home, index)
            _, token = keys.create(f"bench-kiosk-{index}-{os.getpid()}", [Scope.KIOSK], created_by="bench")
            kiosks.append(_Kiosk(index, home, _free_port(), token, number, name))
        for kiosk in kiosks:
            stack.callback(_stop, kiosk)
            _start(kiosk, url, tmp / "no-pcscd")  # one after the other: the demo seeds the shared database
        _deal_slots(kiosks, 7 * weeks)
        per_kiosk = min(round_trips, min(len(k.slots) for k in kiosks) // (runs + 1))
        where = "a private PostgreSQL (fsync off)" if private else "the PostgreSQL given"
        print(
            f"{kiosk_count} kiosks: one `cardservice serve --demo` each (card in-process, own patient), "
            f"all on {where}; book + pay, {per_kiosk} round trips per busy kiosk per run, {runs} runs",
            flush=True,
        )
        _round_trip(kiosks[0], "warm-up-0")  # first requests pay for imports and connections
        for kiosk in kiosks[1:]:
            _round_trip(kiosk, f"warm-up-{kiosk.index}")
        # Then the measured shapes once, unmeasured: kiosks at once open the connections and backends a
        # sequential warm-up never needs (else the first run's all-daemons phase pays for them).
        warm = min(_WARM_UP, min(len(k.slots) for k in kiosks) - per_kiosk * runs)
        if warm > 0:
            _phase(kiosks, kiosks, warm, "warm-up-all")
        ones: list[_Phase] = []
        alls: list[_Phase] = []
        texts: Counter[str] = Counter()
        for run_index in range(runs):
            busy = kiosks[run_index % kiosk_count]  # one kiosk busy, the others idle
            one, one_texts = _phase([busy], kiosks, per_kiosk, f"r{run_index}-one")
            every, every_texts = _phase(kiosks, kiosks, per_kiosk, f"r{run_index}-all")
            ones.append(one)
            alls.append(every)
            texts.update(one_texts)
            texts.update(every_texts)
            print(
                f"  run {run_index + 1}: 1 daemon {one.rate:6.1f}/s ({_cuts(one.times)}) | "
                f"{kiosk_count} daemons {every.rate:6.1f}/s ({_cuts(every.times)}) | "
                f"ratio {every.rate / one.rate:4.2f}",
                flush=True,
            )
    one_rate = statistics.median(p.rate for p in ones)
    all_rate = statistics.median(p.rate for p in alls)
    ratio = statistics.median(a.rate / o.rate for a, o in zip(alls, ones, strict=True))
    print(
        f"  median: 1 daemon {one_rate:6.1f} round trips/s, {kiosk_count} daemons {all_rate:6.1f}/s, "
        f"ratio {ratio:.2f} (target >= 1.5)"
    )
    work = _per_round_trip(ones + alls)
    print(
        f"  database work per round trip (book + pay, every daemon counted): {work['statements']:.1f} "
        f"statements, {work['commits']:.1f} transactions committed ({work['writes']:.1f} writing), "
        f"{work['checkouts']:.1f} pool checkouts"
    )
    for label, phases in (("1 daemon", ones), (f"{kiosk_count} daemons", alls)):
        trips = sum(p.round_trips for p in phases)
        cpu = {name: sum(p.cpu[name] for p in phases) / trips * 1000 for name in _CPU}
        cores = sum(p.cpu["machine"] for p in phases) / sum(p.seconds for p in phases)
        print(
            f"  CPU per round trip, {label}: daemons {cpu['daemons']:.1f} ms, PostgreSQL "
            f"{cpu['postgres']:.1f} ms, this client {cpu['client']:.1f} ms; the machine {cpu['machine']:.1f} "
            f"ms ({cores:.2f} of {os.cpu_count()} cores busy: the rest is other programs)"
        )
    trips = sum(p.round_trips for p in ones + alls)
    print("  statements per round trip, most frequent first:")
    for text, count in texts.most_common(top):
        if count / trips >= 0.05:
            print(f"    {count / trips:5.2f}  {text[:110]}")
    return {"one_daemon_rate": one_rate, "all_daemons_rate": all_rate, "ratio": ratio, **work}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_kiosks", description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", type=int, default=4, help="daemons, one kiosk each (default 4)")
    parser.add_argument("--round-trips", type=int, default=60, help="per busy kiosk per run (default 60)")
    parser.add_argument("--runs", type=int, default=3, help="runs of (1 daemon, all daemons) (default 3)")
    parser.add_argument(
        "--database-url", default=os.environ.get("CARDSERVICE_BENCH_DATABASE_URL"),
        help="a PostgreSQL to use (default: a private one from scripts/postgres-ctl)",
    )  # fmt: skip
    parser.add_argument("--top", type=int, default=12, help="statements to list (default 12)")
    args = parser.parse_args(argv)
    try:
        run(args.kiosks, args.round_trips, args.runs, args.database_url, top=args.top)
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"bench_kiosks: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
