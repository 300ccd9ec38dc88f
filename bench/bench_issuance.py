"""The issuance service under many kiosks: cards per hour with 1 kiosk, then 8 at once, the per-card latency,
and how much of that time and CPU is the service's own — the kiosks in processes of their own.

One issuance service (its FastAPI app under uvicorn on a loopback port, real WebSockets) runs in this
process, over the demo key store, the bank application on every card (the service's default), the registry
and its API keys on PostgreSQL when a URL is given (``--database-url`` or ``$CARDSERVICE_BENCH_DATABASE_URL``:
a fresh database is made on that server and dropped afterwards), else SQLite in a temporary directory.
Each kiosk runs in a process of its own (multiprocessing, ``spawn``; :mod:`bench._issuance_kiosk`):
:class:`~cardservice.issuance.KioskRelay` over the K720 driver wired straight to a virtual K720, the card at
its read position answered by card-sim's card OS in that process (no pcscd). So this process does the
service's work only, under a GIL no kiosk shares. A kiosk issues one card at a time, each to a new
synthetic person; every kiosk issues one card first, uncounted (imports, connections, caches). All the
kiosk processes (1 for the baseline, then the 8) are started and warmed up before the first phase; a
phase's clock starts when all its kiosks hold their people and ends when the last card is issued.

What the figures mean:

- **cards/hour** and the **ratio** 8 : 1 — what the service issues with that many kiosks busy at once.
  The service, the kiosks and PostgreSQL all run on this machine's cores (printed: 2 on the project's
  machine, i.e. 8 kiosk processes + the service on 2 cores), so the 8-kiosk figure is bounded by the
  machine as well as by the service: the *machine ceiling* (cores × 3600 s / all CPU spent per card) says
  which bound was met, the *service ceiling* below the one that stays when the kiosks are elsewhere.
  **Busy cores**: the CPU seconds per wall second of the bench's processes and PostgreSQL's ("ours"), and
  of everything on the machine (``/proc/stat``, "all"): more "all" than "ours" is other work sharing the
  cores during the run, and the figures are then lower than the machine alone would give.
- **latency** — median and p95 of one card as its kiosk waits for it (dispense to card presented).
- **wall**: inside :func:`~cardservice.issuance.relay_issuance` (the service's side of one issuance), the
  time spent waiting for the kiosk's answers (each APDU and card motion: the frame out, the kiosk's work,
  the answer back) is counted apart from the rest — the service's own work: key derivation, secure
  messaging, signing, the registry's writes. That own time is shown per card and as a share of the latency
  the kiosk sees (the rest is the kiosk, the link and the card — and, with more processes than cores,
  waiting for a core).
- **CPU**: this process's CPU time per card — all of it the service's (the main thread only waits on the
  kiosks' pipes); of which measured by thread: the relay's worker threads while in the relay, the key checks
  and audit records, and the event loop's thread (WebSocket frames, JSON). Beside it the kiosk processes'
  CPU per card and, with PostgreSQL, the CPU its server processes used on this machine (every ``postgres``
  process: other users of the server count too); the service's share of all three.
- **service ceiling**: the service's Python runs under one GIL, so 3600 s / its CPU per card bounds what
  one service process can issue per hour however many kiosks and cores it has (if all its CPU holds the
  GIL, as its Python and its crypto on a few bytes at a time do).

``python -m bench.bench_issuance [-n CARDS_PER_KIOSK] [-k KIOSKS] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import secrets
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cardservice.issuance_service._app as service_app
from bench._issuance_kiosk import KioskProcess
from cardservice.access import ApiClientInfo, ApiKeys, AuditLog, Blacklist, Scope
from cardservice.issuance import (
    BankIssuer,
    ContentCipher,
    IssuerProfile,
    IssuerSetup,
    Registry,
    TransportKeys,
)
from cardservice.issuance_service import IssuanceService, create_app
from cardservice.keys import ScryptParams, SoftwareSam
from cardservice.store import LIVE_CARD_STATES, Database, open_database

__all__ = ["main", "run_bench"]

DATABASE_ENV = "CARDSERVICE_BENCH_DATABASE_URL"
_RELAY = "relay_issuance"  # the name the service's app calls the relay logic by (see _measured_relay)
_TICK = os.sysconf("SC_CLK_TCK")


# -- the service, measured ------------------------------------------------------------------------------


@dataclass
class _Meter:
    """What the service spent, summed over its sessions (thread-safe)."""

    sessions: int = 0
    relay_wall: float = 0.0  # inside relay_issuance
    waiting: float = 0.0  # of which waiting for the kiosk's answers (and telling it the stages)
    frames: int = 0  # operations sent to kiosks (dispense, APDUs, motions)
    relay_cpu: float = 0.0  # thread CPU time inside relay_issuance
    other_cpu: float = 0.0  # thread CPU time of the key checks and the audit records
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, float]:
        with self.lock:
            names = ("sessions", "relay_wall", "waiting", "frames", "relay_cpu", "other_cpu")
            return {name: float(getattr(self, name)) for name in names}


class _TimedChannel:
    """The session's channel, timing each wait for the kiosk."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds, self.asks = inner, 0.0, 0

    def ask(self, frame: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.ask(frame)
        finally:
            self.seconds += time.perf_counter() - started
            self.asks += 1

    def tell(self, frame: Any) -> None:
        started = time.perf_counter()
        try:
            self.inner.tell(frame)
        finally:
            self.seconds += time.perf_counter() - started


def _cpu_timed(meter: _Meter, work: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return work(*args, **kwargs)
        finally:
            with meter.lock:
                meter.other_cpu += time.thread_time() - started

    return timed


@contextlib.contextmanager
def _measured_relay(meter: _Meter) -> Iterator[None]:
    """The service's relay_issuance, timed: the app calls it by its module's name, so it is swapped there
    for the benchmark's run (a measurement hook; the product has none)."""
    original = getattr(service_app, _RELAY)

    def relay(setup: Any, channel: Any, opening: Any, **kwargs: Any) -> Any:
        timed = _TimedChannel(channel)
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(setup, timed, opening, **kwargs)
        finally:
            with meter.lock:
                meter.sessions += 1
                meter.relay_wall += time.perf_counter() - wall
                meter.relay_cpu += time.thread_time() - cpu
                meter.waiting += timed.seconds
                meter.frames += timed.asks

    setattr(service_app, _RELAY, relay)
    try:
        yield
    finally:
        setattr(service_app, _RELAY, original)


@dataclass
class _Service:
    url: str
    keys: ApiKeys
    registry: Registry
    meter: _Meter
    loop_thread: threading.Thread

    def token(self, name: str) -> str:
        return self.keys.create(name, [Scope.ISSUER], created_by="bench")[1]

    def loop_cpu(self) -> float:
        """CPU seconds of the event loop's thread so far."""
        assert self.loop_thread.ident is not None
        return time.clock_gettime(time.pthread_getcpuclockid(self.loop_thread.ident))


@contextlib.contextmanager
def _service(database: Database, home: Path) -> Iterator[_Service]:
    import uvicorn

    from simulators.health import write_demo_keystore

    store = write_demo_keystore(home / "keys.json", kdf_params=ScryptParams(n=2**10))
    bank = BankIssuer.from_keystore(store)
    setup = IssuerSetup(
        registry=Registry(database, ContentCipher.from_keystore(store)), blacklist=Blacklist(database),
        keystore=store, sam=SoftwareSam(store), transport=TransportKeys.card_sim(), issuer=IssuerProfile(),
        bank=BankIssuer(bank.master_keys, bank.scheme, None, bank.bin),  # no ODA: the service's default
    )  # fmt: skip
    meter = _Meter()
    keys = ApiKeys(database)
    audit = AuditLog.for_home(database, home)
    authenticate: Callable[[str], ApiClientInfo | None] = _cpu_timed(meter, keys.authenticate)
    service = IssuanceService(setup, authenticate, _cpu_timed(meter, audit.record), answer_timeout=60.0)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(
        create_app(service), log_level="warning", access_log=False, lifespan="off", ws="websockets-sansio",
        ws_max_size=64 * 1024, timeout_graceful_shutdown=3,
    ))  # fmt: skip
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="service", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("bench_issuance: the service did not start")
        time.sleep(0.01)
    try:
        with _measured_relay(meter):
            url = f"ws://127.0.0.1:{sock.getsockname()[1]}"
            yield _Service(url, keys, setup.registry, meter, thread)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        audit.close()
        keys.close()


@contextlib.contextmanager
def _database(url: str | None, directory: Path) -> Iterator[tuple[Database, str]]:
    """SQLite in *directory*, or a new database on the PostgreSQL server of *url* (dropped after)."""
    if not url:
        with open_database(f"sqlite:///{directory / 'issuance.db'}") as database:
            yield database, "SQLite"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"bench_issuance_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            fresh = make_url(url).set(database=name).render_as_string(hide_password=False)
            with open_database(fresh) as database:
                yield database, "PostgreSQL (a fresh database)"
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _postgres_cpu() -> float:
    """CPU seconds used so far by this machine's ``postgres`` processes."""
    used = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")].startswith("postgres"):
            fields = stat[stat.rindex(")") + 2 :].split()
            used += (int(fields[11]) + int(fields[12])) / _TICK
    return used


def _machine_cpu() -> float:
    """CPU seconds this machine's cores have been busy so far (``/proc/stat``): whatever else runs on them
    during a phase shows as busy cores that are neither the bench's nor PostgreSQL's."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(n) for n in Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / _TICK


# -- the runs ---------------------------------------------------------------------------------------------


@dataclass
class _Phase:
    kiosks: int
    cards: int
    seconds: float
    latencies: list[float]
    meter: dict[str, float]  # the service's spending during the phase, by thread
    loop_cpu: float
    service_cpu: float  # this process's
    kiosk_cpu: float  # the kiosk processes'
    postgres_cpu: float
    machine_cpu: float  # every process's on this machine, the bench's and others'
    kiosk_processes: int  # distinct processes the phase's kiosks ran in, none of them this one


def _phase(service: _Service, kiosks: list[KioskProcess], start: int, count: int) -> _Phase:
    """*count* cards per kiosk, all kiosks at once, each issuing one card after the other; the people from
    index *start* on."""
    for n, kiosk in enumerate(kiosks):
        kiosk.arm(start + n * count, count)
    for kiosk in kiosks:
        kiosk.armed()
    # the /proc scans first at the start and last at the end: they are the bench's work, not the service's
    postgres, machine = _postgres_cpu(), _machine_cpu()
    meter, loop, cpu = service.meter.snapshot(), service.loop_cpu(), time.process_time()
    began = time.perf_counter()
    for kiosk in kiosks:
        kiosk.go()
    reports = [kiosk.done() for kiosk in kiosks]
    seconds = time.perf_counter() - began
    cpu, loop, after = time.process_time() - cpu, service.loop_cpu() - loop, service.meter.snapshot()
    postgres, machine = _postgres_cpu() - postgres, _machine_cpu() - machine
    spent = {name: after[name] - meter[name] for name in after}
    latencies = [latency for report in reports for latency in report.latencies]
    pids = {kiosk.pid for kiosk in kiosks} - {os.getpid()}
    kiosk_cpu = sum(report.cpu for report in reports)
    return _Phase(len(kiosks), len(latencies), seconds, latencies, spent, loop, cpu, kiosk_cpu, postgres,
                  machine, len(pids))  # fmt: skip


def _ms(values: list[float]) -> tuple[float, float]:
    """Median and p95 in milliseconds."""
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def _results(phase: _Phase, tag: str, postgres: bool, cores: int) -> dict[str, float]:
    cards, meter = phase.cards, phase.meter
    own = meter["relay_wall"] - meter["waiting"]
    service_cpu = phase.service_cpu
    all_cpu = service_cpu + phase.kiosk_cpu + (phase.postgres_cpu if postgres else 0.0)
    median, p95 = _ms(phase.latencies)
    r = {
        f"{tag}.kiosks": phase.kiosks,
        f"{tag}.kiosk_processes": phase.kiosk_processes,
        f"{tag}.cards": cards,
        f"{tag}.seconds": phase.seconds,
        f"{tag}.cards_per_hour": cards / phase.seconds * 3600,
        f"{tag}.median_ms": median,
        f"{tag}.p95_ms": p95,
        f"{tag}.sessions": meter["sessions"],
        f"{tag}.frames_per_card": meter["frames"] / cards,
        f"{tag}.relay_ms": meter["relay_wall"] / cards * 1000,
        f"{tag}.waiting_ms": meter["waiting"] / cards * 1000,
        f"{tag}.own_ms": own / cards * 1000,
        f"{tag}.own_share_of_latency": own / sum(phase.latencies),
        f"{tag}.service_cpu_ms": service_cpu / cards * 1000,
        f"{tag}.threads_cpu_ms": (meter["relay_cpu"] + meter["other_cpu"] + phase.loop_cpu) / cards * 1000,
        f"{tag}.relay_cpu_ms": meter["relay_cpu"] / cards * 1000,
        f"{tag}.loop_cpu_ms": phase.loop_cpu / cards * 1000,
        f"{tag}.kiosk_cpu_ms": phase.kiosk_cpu / cards * 1000,
        f"{tag}.service_cpu_share": service_cpu / all_cpu if all_cpu else 0.0,
        f"{tag}.service_cores": service_cpu / phase.seconds,
        f"{tag}.busy_cores": all_cpu / phase.seconds,
        f"{tag}.machine_busy_cores": phase.machine_cpu / phase.seconds,
        f"{tag}.ceiling_cards_per_hour": 3600 / (service_cpu / cards) if service_cpu else 0.0,
        f"{tag}.machine_ceiling_cards_per_hour": cores * 3600 / (all_cpu / cards) if all_cpu else 0.0,
    }
    if postgres:
        r[f"{tag}.postgres_cpu_ms"] = phase.postgres_cpu / cards * 1000
    return r


def run_bench(*, cards: int = 10, kiosks: int = 8, database_url: str | None = None) -> dict[str, float]:
    """1 kiosk, then *kiosks* at once, *cards* each, every kiosk a process of its own; flat results (see
    :func:`_results`), and the checks: every card issued is live in the registry, presented once, nothing
    in a reject bin."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database, label = stack.enter_context(_database(database_url, tmp))
        service = stack.enter_context(_service(database, tmp))
        context = multiprocessing.get_context("spawn")  # not fork: this process runs the service's threads
        names = ["alone", *(f"kiosk-{n}" for n in range(1, kiosks + 1))]
        made: list[KioskProcess] = []
        for first, name in enumerate(names):  # person *first* is its uncounted first card
            made.append(KioskProcess(context, name, service.url, service.token(name), tmp, cards + 1, first))
            stack.callback(made[-1].close)
        for kiosk in made:
            kiosk.ready()
        phases = [
            _phase(service, made[:1], len(made), cards),
            _phase(service, made[1:], len(made) + cards, cards),
        ]
        ends = [kiosk.stop() for kiosk in made]
        live = [card for card in service.registry.cards() if card.status in LIVE_CARD_STATES]
        issued = len(made) + sum(phase.cards for phase in phases)
        taken = sum(end[0] for end in ends)
        rejected = sum(end[1] for end in ends)
        if not len(live) == len({card.card_number for card in live}) == taken == issued or rejected:
            raise RuntimeError(f"bench_issuance: {issued} issued, {len(live)} live, {taken} presented, "
                               f"{rejected} in reject bins")  # fmt: skip
        postgres = label.startswith("PostgreSQL")
        cores = len(os.sched_getaffinity(0))
        results = {
            **_results(phases[0], "one", postgres, cores),
            **_results(phases[1], "many", postgres, cores),
        }
        results["ratio"] = results["many.cards_per_hour"] / results["one.cards_per_hour"]
        results["postgresql"] = float(postgres)
        results["cores"] = float(cores)
        return results


def _print(r: dict[str, float], *, cards: int) -> None:
    where = "PostgreSQL (a fresh database)" if r["postgresql"] else "SQLite"
    many, cores = int(r["many.kiosks"]), int(r["cores"])
    print(f"issuance service: 1 kiosk, then {many} at once, {cards} cards each; registry on {where}; the "
          "service in this process (uvicorn on loopback, WebSockets),")  # fmt: skip
    print("  each kiosk in a process of its own (spawn; virtual K720, card-sim card OS)")
    server = " (+ the PostgreSQL server on the same cores)" if r["postgresql"] else ""
    print(f"  measured: {many} kiosk processes + the service's process on {cores} "
          f"core{'s' if cores > 1 else ''}{server}; the baseline: 1 kiosk process + the service")  # fmt: skip
    print(f"  {'kiosks':>6}{'cards':>7}{'wall s':>9}{'cards/hour':>12}{'latency median':>16}{'p95':>9}"
          f"{'frames/card':>13}{'busy cores: ours, all':>23}")  # fmt: skip
    for tag in ("one", "many"):
        print(f"  {r[f'{tag}.kiosks']:6.0f}{r[f'{tag}.cards']:7.0f}{r[f'{tag}.seconds']:9.2f}"
              f"{r[f'{tag}.cards_per_hour']:12.0f}{r[f'{tag}.median_ms']:13.0f} ms"
              f"{r[f'{tag}.p95_ms']:6.0f} ms{r[f'{tag}.frames_per_card']:13.0f}"
              f"{r[f'{tag}.busy_cores']:14.2f}, {r[f'{tag}.machine_busy_cores']:.2f} of {cores}")  # fmt: skip
    machine = r["many.machine_ceiling_cards_per_hour"]
    print(f"  {many} kiosks / 1: {r['ratio']:.2f}x the cards per hour (this machine's ceiling with the "
          f"kiosks on it: {machine:.0f} cards/hour = {cores} cores / all CPU per card)")  # fmt: skip
    print("the service's own share, per card:")
    for tag in ("one", "many"):
        label = f"{r[f'{tag}.kiosks']:.0f} kiosk{'s' if r[f'{tag}.kiosks'] > 1 else ''}"
        print(f"  {label:9} wall in the relay {r[f'{tag}.relay_ms']:6.0f} ms: waiting for the kiosk "
              f"{r[f'{tag}.waiting_ms']:5.0f} ms, its own work {r[f'{tag}.own_ms']:5.0f} ms "
              f"({r[f'{tag}.own_share_of_latency']:.0%} of the latency the kiosk sees)")  # fmt: skip
        postgres = (
            f", PostgreSQL {r[f'{tag}.postgres_cpu_ms']:.0f} ms" if f"{tag}.postgres_cpu_ms" in r else ""
        )
        print(f"  {'':9} CPU: the service's process {r[f'{tag}.service_cpu_ms']:5.0f} ms (relay threads "
              f"{r[f'{tag}.relay_cpu_ms']:.0f} ms, event loop {r[f'{tag}.loop_cpu_ms']:.0f} ms), kiosk "
              f"processes {r[f'{tag}.kiosk_cpu_ms']:.0f} ms{postgres}: the service "
              f"{r[f'{tag}.service_cpu_share']:.0%} of it")  # fmt: skip
        print(f"  {'':9} {r[f'{tag}.service_cores']:.2f} of a core busy in the service; ceiling of one "
              f"service process {r[f'{tag}.ceiling_cards_per_hour']:.0f} cards/hour")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_issuance", description="the issuance service under kiosks")
    parser.add_argument("-n", "--cards", type=int, default=10, help="cards per kiosk and phase")
    parser.add_argument("-k", "--kiosks", type=int, default=8, help="kiosks at once in the second phase")
    parser.add_argument("--database-url", default=os.environ.get(DATABASE_ENV),
                        help=f"a PostgreSQL server's URL (${DATABASE_ENV}); default SQLite")  # fmt: skip
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = run_bench(cards=args.cards, kiosks=args.kiosks, database_url=args.database_url)
    _print(results, cards=args.cards)
    print(f"  ({time.perf_counter() - started:.1f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
