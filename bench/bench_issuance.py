"""The issuance service under many kiosks: cards per hour with 1 kiosk, then 8 at once, the per-card latency,
and how much of that time is the service's own.

One issuance service (its FastAPI app under uvicorn on a loopback port, real WebSockets, in this process)
over the demo key store, the bank application on every card (the service's default), the registry and its
API keys on PostgreSQL when a URL is given (``--database-url`` or ``$CARDSERVICE_BENCH_DATABASE_URL``: a
fresh database is made on that server and dropped afterwards), else SQLite in a temporary directory.
Each kiosk is :class:`~cardservice.issuance.KioskRelay` over the K720 driver wired straight to the virtual
K720 (no pty), the card at its read position answered by card-sim's card OS in this process (no pcscd):
what a kiosk costs is near nothing, so the service is what is measured. A kiosk issues one card at a time,
each to a new synthetic person; every kiosk issues one card first, uncounted (connections, imports).

The service's own share, measured two ways:

- **wall**: inside :func:`~cardservice.issuance.relay_issuance` (the service's side of one issuance), the
  time spent waiting for the kiosk's answers (each APDU and card motion: the frame out, the kiosk's work,
  the answer back) is counted apart from the rest — the service's own work: key derivation, secure
  messaging, signing, the registry's writes. That own time is shown per card and as a share of the latency
  the kiosk sees (the rest is the kiosk, the link and the card).
- **CPU**: thread CPU time of the service's threads (its relay worker threads while in the relay, the key
  check and the audit record, and the event loop's thread: WebSocket frames, JSON) per card, against this
  process's CPU time (the kiosks, their card OS and the driver are the rest); with PostgreSQL, the CPU its
  server processes used on this machine (every ``postgres`` process: other users of the server count too).
  The service's Python runs under one GIL, so 3600 s / its CPU per card bounds what one service process
  can issue per hour however many kiosks it has: printed as its ceiling.

With 8 kiosks in this process, the kiosks and the service share one GIL: the ratio 8 : 1 is what one
process of both reaches, a lower bound of the service's own scaling (the ceiling above says how far off).

``python -m bench.bench_issuance [-n CARDS_PER_KIOSK] [-k KIOSKS] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import os
import secrets
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cardservice.issuance_service._app as service_app
from cardservice.access import ApiClientInfo, ApiKeys, AuditLog, Blacklist, Scope
from cardservice.healthcard import id_check_character
from cardservice.issuance import (
    BankIssuer,
    ContentCipher,
    DispenserCardSource,
    IssuerProfile,
    IssuerSetup,
    KioskRelay,
    PersonIn,
    Registry,
    TransportKeys,
)
from cardservice.issuance_service import IssuanceService, create_app
from cardservice.keys import ScryptParams, SoftwareSam
from cardservice.store import LIVE_CARD_STATES, Database, open_database
from drivers.dispenser import K720Dispenser
from simulators.cardos import load_card
from simulators.dispenser import VirtualDispenser

__all__ = ["main", "run_bench"]

DATABASE_ENV = "CARDSERVICE_BENCH_DATABASE_URL"
_RELAY = "relay_issuance"  # the name the service's app calls the relay logic by (see _measured_relay)
_TICK = os.sysconf("SC_CLK_TCK")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明"


# -- a kiosk in this process ------------------------------------------------------------------------------


class _Loopback:
    """A serial port wired straight to the virtual dispenser (tests/issuance/test_dispenser.py has the
    same few lines; a benchmark does not import the tests)."""

    def __init__(self, machine: VirtualDispenser) -> None:
        self.machine, self.inbox = machine, b""

    def write(self, data: bytes) -> int:
        self.inbox += self.machine.receive(data)
        return len(data)

    def read(self, size: int) -> bytes:
        data, self.inbox = self.inbox[:size], self.inbox[size:]
        return data

    def reset_input_buffer(self) -> None:
        self.inbox = b""

    def close(self) -> None:
        pass


class _Chip:
    def __init__(self, path: Path) -> None:
        self.card = load_card(path)
        self.atr = self.card.power_on()

    def transmit(self, apdu: bytes) -> bytes:
        return self.card.process(apdu)


class _ReadPosition:
    """The reader at the read position as the PC/SC card source behaves: the card there until ejected."""

    def __init__(self, machine: VirtualDispenser, out: Callable[[], None]) -> None:
        self.machine, self.out = machine, out
        self.held: _Chip | None = None
        self.wait_seconds = 0.0

    def next_card(self) -> _Chip:
        if self.held is None:
            if self.machine.position != "read" or self.machine.channel is None:
                raise RuntimeError("bench_issuance: no card at the virtual dispenser's read position")
            self.held = _Chip(self.machine.channel)
        return self.held

    def eject(self, card: object) -> None:
        self.held = None
        self.out()

    def close(self) -> None:
        self.held = None


@dataclass
class _Kiosk:
    name: str
    machine: VirtualDispenser
    relay: KioskRelay


def _kiosk(name: str, url: str, token: str, directory: Path, cards: int) -> _Kiosk:
    machine = VirtualDispenser(directory / name, cards)
    dispenser = K720Dispenser(_Loopback(machine), poll=0.0, motion_timeout=1.0)
    source = DispenserCardSource(dispenser, lambda out: _ReadPosition(machine, out))
    return _Kiosk(name, machine, KioskRelay(url, token, source, timeout=120.0))


def _people(start: int) -> Iterator[PersonIn]:
    """Synthetic residents with distinct, valid GB 11643 numbers (one birth date each, from 1950 on)."""
    index = start
    while True:
        born = _dt.date(1950, 1, 1) + _dt.timedelta(days=index)
        body = f"110101{born:%Y%m%d}{index % 900 + 100:03d}"
        name = _SURNAMES[index % len(_SURNAMES)] + _GIVEN[index // len(_SURNAMES) % len(_GIVEN)]
        yield PersonIn(id_number=body + id_check_character(body), name=name, sex="1" if index % 2 else "2",
                       address=None, phone=f"138{index:08d}", consent=True)  # fmt: skip
        index += 1


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


# -- the runs ---------------------------------------------------------------------------------------------


@dataclass
class _Phase:
    kiosks: int
    cards: int
    seconds: float
    latencies: list[float]
    meter: dict[str, float]  # the service's spending during the phase
    loop_cpu: float
    process_cpu: float
    postgres_cpu: float


def _phase(service: _Service, kiosks: list[_Kiosk], people: Iterator[PersonIn], count: int) -> _Phase:
    """*count* cards per kiosk, all kiosks at once, each issuing one card after the other."""
    batches = [[next(people) for _ in range(count)] for _ in kiosks]
    start = threading.Barrier(len(kiosks) + 1)

    def drive(kiosk: _Kiosk, persons: list[PersonIn]) -> list[float]:
        start.wait()
        times = []
        for person in persons:
            began = time.perf_counter()
            issued = kiosk.relay.issue(person)
            times.append(time.perf_counter() - began)
            if issued.status != "active":
                raise RuntimeError(f"bench_issuance: {kiosk.name} issued a card {issued.status}")
        return times

    with ThreadPoolExecutor(len(kiosks)) as pool:
        running = [pool.submit(drive, kiosk, batch) for kiosk, batch in zip(kiosks, batches, strict=True)]
        before = (service.meter.snapshot(), service.loop_cpu(), time.process_time(), _postgres_cpu())
        start.wait()
        began = time.perf_counter()
        latencies = [seconds for future in running for seconds in future.result()]
        seconds = time.perf_counter() - began
    after = service.meter.snapshot()
    spent = {name: after[name] - before[0][name] for name in after}
    return _Phase(
        len(kiosks), len(latencies), seconds, latencies, spent, service.loop_cpu() - before[1],
        time.process_time() - before[2], _postgres_cpu() - before[3],
    )  # fmt: skip


def _ms(values: list[float]) -> tuple[float, float]:
    """Median and p95 in milliseconds."""
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def _results(phase: _Phase, tag: str, postgres: bool) -> dict[str, float]:
    cards, meter = phase.cards, phase.meter
    own = meter["relay_wall"] - meter["waiting"]
    service_cpu = meter["relay_cpu"] + meter["other_cpu"] + phase.loop_cpu
    median, p95 = _ms(phase.latencies)
    r = {
        f"{tag}.kiosks": phase.kiosks,
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
        f"{tag}.loop_cpu_ms": phase.loop_cpu / cards * 1000,
        f"{tag}.process_cpu_ms": phase.process_cpu / cards * 1000,
        f"{tag}.service_cpu_share": service_cpu / phase.process_cpu if phase.process_cpu else 0.0,
        f"{tag}.service_cores": service_cpu / phase.seconds,
        f"{tag}.ceiling_cards_per_hour": 3600 / (service_cpu / cards) if service_cpu else 0.0,
    }
    if postgres:
        r[f"{tag}.postgres_cpu_ms"] = phase.postgres_cpu / cards * 1000
    return r


def run_bench(*, cards: int = 10, kiosks: int = 8, database_url: str | None = None) -> dict[str, float]:
    """1 kiosk, then *kiosks* at once, *cards* each; flat results (see :func:`_results`), and the checks:
    every card issued is live in the registry, presented once, nothing in a reject bin."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database, label = stack.enter_context(_database(database_url, tmp))
        service = stack.enter_context(_service(database, tmp))
        names = ["alone", *(f"kiosk-{n}" for n in range(1, kiosks + 1))]
        made = [_kiosk(name, service.url, service.token(name), tmp, cards + 1) for name in names]
        for kiosk in made:
            stack.callback(kiosk.relay.close)
        people = _people(0)
        for kiosk in made:  # one card each first, uncounted: connections, caches, imports
            kiosk.relay.issue(next(people))
        phases = [_phase(service, made[:1], people, cards), _phase(service, made[1:], people, cards)]
        live = [card for card in service.registry.cards() if card.status in LIVE_CARD_STATES]
        issued = len(made) + sum(phase.cards for phase in phases)
        taken = sum(len(kiosk.machine.taken) for kiosk in made)
        rejected = sum(len(kiosk.machine.reject_bin) for kiosk in made)
        if not len(live) == len({card.card_number for card in live}) == taken == issued or rejected:
            raise RuntimeError(f"bench_issuance: {issued} issued, {len(live)} live, {taken} presented, "
                               f"{rejected} in reject bins")  # fmt: skip
        postgres = label.startswith("PostgreSQL")
        results = {**_results(phases[0], "one", postgres), **_results(phases[1], "many", postgres)}
        results["ratio"] = results["many.cards_per_hour"] / results["one.cards_per_hour"]
        results["postgresql"] = float(postgres)
        return results


def _print(r: dict[str, float], *, cards: int) -> None:
    where = "PostgreSQL (a fresh database)" if r["postgresql"] else "SQLite"
    many = int(r["many.kiosks"])
    print(f"issuance service: 1 kiosk, then {many} at once, {cards} cards each; registry on {where}; the "
          "service on loopback (uvicorn, WebSockets),")  # fmt: skip
    print("  kiosks in this process (virtual K720, card-sim card OS)")
    print(f"  {'kiosks':>6}{'cards':>7}{'wall s':>9}{'cards/hour':>12}{'latency median':>16}{'p95':>9}"
          f"{'frames/card':>13}")  # fmt: skip
    for tag in ("one", "many"):
        print(f"  {r[f'{tag}.kiosks']:6.0f}{r[f'{tag}.cards']:7.0f}{r[f'{tag}.seconds']:9.2f}"
              f"{r[f'{tag}.cards_per_hour']:12.0f}{r[f'{tag}.median_ms']:13.0f} ms"
              f"{r[f'{tag}.p95_ms']:6.0f} ms{r[f'{tag}.frames_per_card']:13.0f}")  # fmt: skip
    print(f"  {many} kiosks / 1: {r['ratio']:.2f}x the cards per hour")
    print("the service's own share, per card:")
    for tag in ("one", "many"):
        label = f"{r[f'{tag}.kiosks']:.0f} kiosk{'s' if r[f'{tag}.kiosks'] > 1 else ''}"
        print(f"  {label:9} wall in the relay {r[f'{tag}.relay_ms']:6.0f} ms: waiting for the kiosk "
              f"{r[f'{tag}.waiting_ms']:5.0f} ms, its own work {r[f'{tag}.own_ms']:5.0f} ms "
              f"({r[f'{tag}.own_share_of_latency']:.0%} of the latency the kiosk sees)")  # fmt: skip
        postgres = (
            f", PostgreSQL {r[f'{tag}.postgres_cpu_ms']:.0f} ms" if f"{tag}.postgres_cpu_ms" in r else ""
        )
        print(f"  {'':9} CPU {r[f'{tag}.service_cpu_ms']:5.0f} ms "
              f"(event loop {r[f'{tag}.loop_cpu_ms']:.0f} ms) "
              f"of this process's {r[f'{tag}.process_cpu_ms']:.0f} ms ({r[f'{tag}.service_cpu_share']:.0%})"
              f"{postgres}; {r[f'{tag}.service_cores']:.2f} of a core busy; ceiling of one service process "
              f"{r[f'{tag}.ceiling_cards_per_hour']:.0f} cards/hour")  # fmt: skip


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
