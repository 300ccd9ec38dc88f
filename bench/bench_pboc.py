"""The bank-card sale on the health card's PBOC debit application: card APDUs and card time of the kernel
(:func:`cardservice.pboc.sale`) vs a straightforward terminal (bench/_pboc_baseline.py), and the whole sale.

1. **Card side**, SELECT to TC: the kernel reads what the AFL names and asks nothing with GET DATA; the
   baseline reads every record of SFI 1..10 and GET DATAs every object it knows. Both do the same
   transaction on the same card-sim card (PSE, GPO, DDA's INTERNAL AUTHENTICATE, GENERATE AC, EXTERNAL
   AUTHENTICATE, GENERATE AC), interleaved round by round, the online answer computed in this process (no
   network in this part). Card time is the time spent inside ``transmit``, summed over the sale: measured
   through pcscd + vpcd with ``--pcsc`` (card-sim's VpcdBridge on vpcd port 40000), else with the CardOS in
   this process. No latency model: what is printed was measured. Target (issue 14): the kernel's card
   APDUs ≤ 60 % of the baseline's.
2. **The whole sale**: the kernel + the PIN pad simulator on a pty (simulators/pinpad, auto PIN, read by the
   serial driver) + ISO 8583 to the acquirer simulator on loopback (``IsoAcquirer`` over ``AcquirerLink``,
   one TCP connection per message), wall time per sale split into card, PIN pad, acquirer and the rest
   (the kernel itself: ODA's RSA, DOLs, TLV).

Card time follows the APDU count less than one would think: card-sim signs DDA's dynamic data with RSA in
Python, a constant few milliseconds per sale on both sides, while a READ RECORD or GET DATA costs tenths of
a millisecond (through pcscd + vpcd as well). A physical reader adds its line to every APDU (bench_serial
prints that limit), which only the APDU count carries over to.

Each round starts from a reset card (a fresh insertion); one round of each part warms up first, uncounted.
``python -m bench.bench_pboc [--pcsc] [-n N] [-s S]``; with --pcsc, under ``flock /tmp/pcsc.lock`` and with
pcscd started (scripts/pcscd-ctl start).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._pboc_baseline import straightforward_sale
from cardservice.apdu import CommandApdu, run_flow, transceive
from cardservice.keys import BlockCipher, encrypt_ecb
from cardservice.pboc import (
    OnlineAnswer,
    OnlineRequest,
    OnlineResult,
    PinAnswer,
    PinRequest,
    SaleOutcome,
    SaleResult,
    TerminalConfig,
    application_cryptogram,
    arpc_method_1,
    card_master_key,
    cryptogram_input,
    load_ca_keys,
    pin_block_format_0,
    sale,
    session_key,
)
from cardservice.transport import Disposition, InProcessTransport

__all__ = ["main", "run_bench"]

READER, VPCD_PORT = "cardservice-vpcd 00 00", 40000
TID, MID = "10000019", "850100082410002"  # the acquirer simulator's demo terminal and merchant
AMOUNT_FEN = 2500
TARGET = 0.60
_TC = 0x40

#: Columns of the APDU table: INS -> short name.
COMMANDS = {0xA4: "SELECT", 0xB2: "READ REC", 0xCA: "GET DATA", 0xA8: "GPO", 0x88: "INT AUTH", 0xAE: "GEN AC",
            0x82: "EXT AUTH"}  # fmt: skip


class TimedCard:
    """A transport's ``transmit`` that counts the APDUs (by INS) and sums the time spent in it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.apdus = 0
        self.seconds = 0.0
        self.by_ins: Counter[int] = Counter()

    def transmit(self, apdu: bytes) -> bytes:
        started = time.perf_counter()
        answer = bytes(self.inner.transmit(apdu))
        self.seconds += time.perf_counter() - started
        self.apdus += 1
        self.by_ins[apdu[1]] += 1
        return answer


@dataclass
class CardSide:
    """One terminal's card side over the rounds: APDUs and their mix (the same every round), card times."""

    apdus: int = 0
    by_ins: Counter[int] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    tcs: int = 0


@dataclass
class WholeSales:
    """Seconds per sale: wall, and its parts."""

    wall: list[float] = field(default_factory=list)
    card: list[float] = field(default_factory=list)
    pad: list[float] = field(default_factory=list)
    acquirer: list[float] = field(default_factory=list)
    approved: int = 0

    @property
    def rest(self) -> list[float]:
        return [
            w - c - p - a for w, c, p, a in zip(self.wall, self.card, self.pad, self.acquirer, strict=True)
        ]


def _drive(
    flow: Generator[Any, Any, Any],
    card: TimedCard,
    pin: Callable[[PinRequest], PinAnswer],
    online: Callable[[OnlineRequest], OnlineAnswer],
) -> Any:
    def exchange(request: object) -> object:
        if isinstance(request, CommandApdu):
            return transceive(card.transmit, request)
        if isinstance(request, PinRequest):
            return pin(request)
        if isinstance(request, OnlineRequest):
            return online(request)
        raise TypeError(f"the sale asked for {type(request).__name__}")

    return run_flow(flow, exchange)


def _ends_in_tc(result: object) -> bool:
    if isinstance(result, SaleOutcome):
        return result.result is SaleResult.APPROVED and result.cid is not None and result.cid & 0xC0 == _TC
    return isinstance(result, int) and result & 0xC0 == _TC


# -- part 1: the card side, kernel vs baseline ---------------------------------------------------------


def _pin_block(request: PinRequest) -> PinAnswer:
    """The demo PIN as the demo pad sends it (format 0 under the TPK): part 1 needs no pad."""
    from simulators.pboc import DEMO_PIN, demo_bank_key

    block = encrypt_ecb(BlockCipher.TDES, demo_bank_key("TPK"), pin_block_format_0(DEMO_PIN, request.pan))
    return PinAnswer("entered", block)


def _issuer(request: OnlineRequest) -> OnlineAnswer:
    """The issuer in this process: checks the ARQC under the DEMO IMK-AC and approves with an ARPC."""
    from simulators.pboc import demo_bank_key

    data = request.icc_data
    key = session_key(
        card_master_key(demo_bank_key("IMK-AC"), request.pan, request.psn or "00"), data[0x9F36]
    )
    arqc = application_cryptogram(
        key, cryptogram_input(dict(data), data[0x82], data[0x9F36], data[0x9F10][3:7])
    )
    if arqc != data[0x9F26]:
        raise RuntimeError("bench_pboc: the card's ARQC does not verify (the terminal sent other data)")
    arpc = arpc_method_1(key, arqc, b"00")
    return OnlineAnswer(
        OnlineResult.APPROVED, arc=b"00", issuer_authentication=arpc + b"00", response_code="00"
    )


def card_side(transport: Any, config: TerminalConfig, rounds: int) -> dict[str, CardSide]:
    """Kernel and baseline, interleaved, *rounds* sales each from a reset card."""
    flows: dict[str, Callable[[int], Generator[Any, Any, Any]]] = {
        "project": lambda n: sale(config, AMOUNT_FEN, sequence=n),
        "baseline": lambda n: straightforward_sale(config, AMOUNT_FEN, sequence=n),
    }
    sides = {name: CardSide() for name in flows}
    for number in range(rounds + 1):  # round 0 warms up (imports, caches, the reader): not counted
        for name, flow in flows.items():
            transport.reconnect(Disposition.RESET)
            card = TimedCard(transport)
            result = _drive(flow(number + 1), card, _pin_block, _issuer)
            if not _ends_in_tc(result):
                raise RuntimeError(f"bench_pboc: the {name} sale did not end in a TC: {result!r}")
            if not number:
                continue
            side = sides[name]
            side.apdus, side.by_ins = card.apdus, card.by_ins
            side.seconds.append(card.seconds)
            side.tcs += 1
    return sides


# -- part 2: the whole sale ------------------------------------------------------------------------------


@contextmanager
def _pin_pad(folder: Path) -> Iterator[Any]:
    """The virtual pad on a pty, typing the demo PIN at every entry; the serial driver in front of it."""
    from drivers.pinpad import SerialPinPad
    from simulators.pboc import DEMO_PIN
    from simulators.pinpad import PtyPinPad, VirtualPinPad

    pad = VirtualPinPad()
    pad.auto_pin = DEMO_PIN
    with PtyPinPad(pad, link=folder / "pinpad"):
        driver = SerialPinPad(str(folder / "pinpad"), timeout=2)
        try:
            yield driver
        finally:
            driver.close()


@contextmanager
def _acquirer(folder: Path) -> Iterator[Any]:
    """The ISO 8583 acquirer simulator on a loopback port, and the terminal's client of it."""
    from cardservice.acquiring import AcquirerLink
    from cardservice.payments import BankcardBook, IsoAcquirer
    from cardservice.store import open_database
    from simulators.acquirer._iso_server import IsoAcquirerServer
    from simulators.acquirer._iso_store import IsoStore
    from simulators.acquirer._issuer import Issuer
    from simulators.pboc import demo_bank_key

    store = IsoStore(folder / "acquirer.db")
    server = IsoAcquirerServer(Issuer(store), port=0).start()
    database = open_database(f"sqlite:///{folder / 'terminal.db'}")
    try:
        host, port = server.address
        # The book is IsoAcquirer's for reversals and refunds; a sale's message does not touch it.
        book = BankcardBook(database, terminal_id=TID, merchant_id=MID, journal_key=bytes(32))
        yield IsoAcquirer(AcquirerLink(host, port, connect_timeout=2, read_timeout=5), book,
                          mac_key=demo_bank_key("TAK"))  # fmt: skip
    finally:
        server.stop()
        store.close()
        database.close()


class _SaleParts:
    """One whole sale's PIN pad and acquirer: they answer the kernel and time themselves."""

    def __init__(self, pad: Any, acquirer: Any, stan: int) -> None:
        self.pad, self.acquirer, self.stan = pad, acquirer, stan
        self.pad_seconds = self.acquirer_seconds = 0.0

    def pin(self, request: PinRequest) -> PinAnswer:
        started = time.perf_counter()
        entry = self.pad.read_pin(request.pan, timeout=30)
        self.pad_seconds += time.perf_counter() - started
        if entry.pin_block is None:  # without a block the issuer checks no PIN: the sale would prove less
            raise RuntimeError(f"bench_pboc: the PIN pad's entry ended {entry.status}")
        return PinAnswer(str(entry.status), entry.pin_block)

    def online(self, request: OnlineRequest) -> OnlineAnswer:
        from cardservice.payments._bankcard_link import OnlineSale

        started = time.perf_counter()
        message = OnlineSale(
            stan=self.stan, batch=1, terminal_id=TID, merchant_id=MID, amount_fen=request.amount_fen,
            pan=request.pan, psn=request.psn, expiry=request.expiry, track2=request.track2,
            icc_data=dict(request.icc_data), pin_block=request.pin_block,
        )  # fmt: skip
        answer: OnlineAnswer = self.acquirer.sale(message).card_answer()
        self.acquirer_seconds += time.perf_counter() - started
        return answer


def whole_sales(transport: Any, config: TerminalConfig, sales: int, folder: Path) -> WholeSales:
    """*sales* sales, each from a reset card: kernel + pty PIN pad + ISO 8583 acquirer on loopback."""
    times = WholeSales()
    with _pin_pad(folder) as pad, _acquirer(folder) as acquirer:
        for stan in range(1, sales + 2):  # the first sale warms up (opens the pad's port): not counted
            parts = _SaleParts(pad, acquirer, stan)
            transport.reconnect(Disposition.RESET)
            card = TimedCard(transport)
            started = time.perf_counter()
            outcome = _drive(sale(config, AMOUNT_FEN, sequence=stan), card, parts.pin, parts.online)
            wall = time.perf_counter() - started
            if not _ends_in_tc(outcome):
                raise RuntimeError(f"bench_pboc: whole sale {stan} did not end in a TC: {outcome!r}")
            if stan == 1:
                continue
            times.approved += 1
            times.wall.append(wall)
            times.card.append(card.seconds)
            times.pad.append(parts.pad_seconds)
            times.acquirer.append(parts.acquirer_seconds)
    return times


# -- harness ---------------------------------------------------------------------------------------------


@contextmanager
def _card(folder: Path, *, pcsc: bool) -> Iterator[Any]:
    from simulators.cardos import load_card
    from simulators.health import create_health_card

    image = folder / "card.json"
    create_health_card(image)
    if not pcsc:
        local = InProcessTransport(load_card(image))
        local.connect()
        yield local
        return
    from drivers.readers import PcscTransport, wait_for_card, wait_for_removal
    from simulators.vpcd import VpcdBridge

    with ExitStack() as stack:
        bridge = VpcdBridge(load_card(image), "127.0.0.1", VPCD_PORT)
        bridge.start()
        stack.callback(wait_for_removal, READER, 5.0)
        stack.callback(bridge.stop)
        if not wait_for_card(READER, 10.0):
            raise SystemExit(f"bench_pboc: no card in {READER} after 10 s (pcscd started? slot free?)")
        transport = PcscTransport(READER)
        transport.connect()
        stack.callback(transport.disconnect)
        yield transport


def _ms(values: list[float]) -> tuple[float, float]:
    """Median and p95 in milliseconds."""
    ordered = sorted(values)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def run_bench(*, pcsc: bool = False, rounds: int = 50, sales: int = 20) -> dict[str, float]:
    """Both parts; flat results (APDU counts, ratio, ms medians and p95s, TC counts)."""
    config = TerminalConfig(terminal_id=TID, ca_keys=load_ca_keys())
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, _card(Path(tmp), pcsc=pcsc) as transport:
        sides = card_side(transport, config, rounds)
        for name, side in sides.items():
            results[f"card.{name}.apdus"] = side.apdus
            results[f"card.{name}.tcs"] = side.tcs
            results[f"card.{name}.median_ms"], results[f"card.{name}.p95_ms"] = _ms(side.seconds)
            for ins, count in side.by_ins.items():
                results[f"card.{name}.ins_{ins:02X}"] = count
        results["card.ratio"] = sides["project"].apdus / sides["baseline"].apdus
        if sales:
            times = whole_sales(transport, config, sales, Path(tmp))
            results["sale.approved"] = times.approved
            for part in ("wall", "card", "pad", "acquirer", "rest"):
                results[f"sale.{part}.median_ms"], results[f"sale.{part}.p95_ms"] = _ms(getattr(times, part))
    return results


def _print(r: dict[str, float], *, pcsc: bool, rounds: int, sales: int) -> None:
    via = "through pcscd + vpcd (measured)" if pcsc else "with the card-sim CardOS in this process (measured)"
    print(f"PBOC sale, card side SELECT → TC, {rounds} rounds each, interleaved, card {via}")
    header = "".join(f"{name:>9}" for name in COMMANDS.values())
    print(f"  {'terminal':22}{'APDUs':>6}{header}   card ms median    p95   TCs")
    for name, label in (("project", "kernel (pboc.sale)"), ("baseline", "straightforward")):
        mix = "".join(f"{r.get(f'card.{name}.ins_{ins:02X}', 0):9.0f}" for ins in COMMANDS)
        print(f"  {label:22}{r[f'card.{name}.apdus']:6.0f}{mix}   {r[f'card.{name}.median_ms']:14.2f}"
              f"{r[f'card.{name}.p95_ms']:7.2f}{r[f'card.{name}.tcs']:6.0f}")  # fmt: skip
    ratio = r["card.ratio"]
    time_ratio = r["card.project.median_ms"] / r["card.baseline.median_ms"]
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"  kernel / baseline: card APDUs {ratio:.2f}x (target <= {TARGET:.2f}: {verdict}), "
          f"card time {time_ratio:.2f}x")  # fmt: skip
    if "sale.approved" not in r:
        return
    print(f"whole sale, {sales} sales ({r['sale.approved']:.0f} ended in a TC): kernel + PIN pad simulator "
          "on a pty (auto PIN, serial driver) + ISO 8583 acquirer simulator on loopback")  # fmt: skip
    wall = r["sale.wall.median_ms"]
    for part, label in (("wall", "wall, per sale"), ("card", "card"), ("pad", "PIN pad"),
                        ("acquirer", "acquirer (0200/0210)"), ("rest", "kernel and the rest")):  # fmt: skip
        median, p95 = r[f"sale.{part}.median_ms"], r[f"sale.{part}.p95_ms"]
        share = "" if part == "wall" else f"  {median / wall:5.0%} of the median"
        print(f"  {label:24} median {median:8.2f} ms   p95 {p95:8.2f} ms{share}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_pboc", description="PBOC bank-card sale benchmark")
    parser.add_argument("--pcsc", action="store_true", help="the card through pcscd + vpcd (port 40000)")
    parser.add_argument("-n", "--rounds", type=int, default=50, help="card-side rounds per terminal")
    parser.add_argument("-s", "--sales", type=int, default=20, help="whole sales (0: skip)")
    args = parser.parse_args(argv)
    started = _dt.datetime.now()
    r = run_bench(pcsc=args.pcsc, rounds=args.rounds, sales=args.sales)
    _print(r, pcsc=args.pcsc, rounds=args.rounds, sales=args.sales)
    print(f"  ({(_dt.datetime.now() - started).total_seconds():.1f} s in all)")
    return 0 if r["card.ratio"] <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
