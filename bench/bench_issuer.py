"""Issuing throughput: cards per hour on a card-sim feeder through pcscd, and where the time goes.

A batch of N people from examples/people.csv (default 20) is issued with the project's batch runner
onto a ``card-sim serve --feeder N --profile blank`` slot through pcscd + vpcd, exactly as
``card-issuer batch --feeder card-sim`` does (PcscCardSource, the registry on SQLite, read-back
verified with the software SAM). Each card's time splits into:

- card I/O: waiting for the card's answers (SCardTransmit through pcscd, vpcd and the card OS);
- card change: waiting for a card to arrive and the ejected one to leave (feeder mechanics: card-sim
  inserts the next card after its 0.5 s gap, and pcscd polls the vpcd slot);
- the tool's own work: everything else (holder document, SM2 signing, key diversification, SM
  wrapping, TLV encoding, the registry's transactions).

Target: the tool's own work ≤ 20 % of the total. Baseline in the same run: the same batch with the
card OS in-process (no pcscd, no card change), so the ratio shows what the PC/SC path costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cardservice.issuance import TransportKeys
from cardservice.issuance._batch import BatchResult, run_batch
from cardservice.issuance._people import IssuerProfile, load_people
from cardservice.issuance._registry import Registry
from cardservice.issuance._sealing import ContentCipher
from cardservice.keys import KeyStore, ScryptParams, SoftwareSam
from cardservice.store import open_database
from drivers.feeders import card_sim_ejector
from drivers.readers import PcscCardSource, wait_for_card

__all__ = ["main"]

CARD_READER = "cardservice-vpcd 00 00"
VPCD = "127.0.0.1:40000"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


class _InProcessFeeder:
    """The baseline's card source: fresh blank card OS images, in-process."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.count = directory, 0

    def next_card(self) -> Any:
        from simulators.cardos import create_image, load_card

        self.count += 1
        path = self.directory / f"card-{self.count:04d}.json"
        create_image(path)
        card = load_card(path)

        class _Card:
            atr = card.power_on()

            @staticmethod
            def transmit(apdu: bytes) -> bytes:
                return card.process(apdu)

        return _Card()

    def eject(self, card: object) -> None:
        pass


def _batch(source: Any, people: list[Any], store: KeyStore, directory: Path, name: str) -> BatchResult:
    from simulators.cardos import BLANK_TRANSPORT_KEY

    database = open_database(f"sqlite:///{directory / (name + '.db')}")
    try:
        return run_batch(
            people,
            registry=Registry(database, ContentCipher.from_keystore(store)),
            source=source,
            keystore=store,
            sam=SoftwareSam(store),
            transport=TransportKeys(BLANK_TRANSPORT_KEY, BLANK_TRANSPORT_KEY),
            issuer=IssuerProfile(),
            actor="bench",
            batch=name,
            station=f"bench:{name}",
        )
    finally:
        database.close()


def _feeder(directory: Path, count: int) -> tuple[subprocess.Popen[bytes], Path]:
    control = directory / "feeder.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators.cli", "serve", "--vpcd", VPCD, "--feeder", str(count),
         "--profile", "blank", "--feeder-dir", str(directory / "feeder"), "--control", str(control)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    if not wait_for_card(CARD_READER, 15):
        process.kill()
        raise SystemExit(
            f"no card appeared in {CARD_READER}: is pcscd running (make bench) and the slot free?"
        )
    deadline = time.monotonic() + 5
    while not control.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return process, control


def _report(label: str, result: BatchResult) -> float:
    cards = [c for c in result.cards if c.outcome == "active"]
    if len(cards) != len(result.cards):
        raise SystemExit(f"{label}: not every card was issued: {[c.outcome for c in result.cards]}")
    total = sum(c.seconds for c in cards)
    io = sum(c.card_io_seconds for c in cards)
    wait = sum(c.wait_seconds for c in cards)
    tool = sum(c.tool_seconds for c in cards)
    per_hour = 3600 * len(cards) / total
    print(
        f"{label}: {len(cards)} cards, {per_hour:8.0f} cards/hour; per card median "
        f"{statistics.median(c.seconds for c in cards) * 1000:7.1f} ms"
    )
    print(
        f"    card I/O {io / total:6.1%}   card change {wait / total:6.1%}   "
        f"tool's own work {tool / total:6.1%}   "
        f"(of card I/O + tool work: tool {tool / max(io + tool, 1e-9):6.1%})"
    )
    return per_hour


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_issuer", description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=20, help="batch size (1-20, examples/people.csv)")
    args = parser.parse_args(argv)
    people, _ = load_people(EXAMPLES / "people.csv")
    people = people[: max(1, min(args.cards, len(people)))]
    with tempfile.TemporaryDirectory(prefix="bench-issuer-") as tmp:
        directory = Path(tmp)
        from simulators.health import write_demo_keystore

        os.environ.setdefault("CARDSERVICE_KEYS_PASSPHRASE", "bench")
        store = write_demo_keystore(directory / "keys.json", kdf_params=ScryptParams(n=2**10))
        baseline = _batch(_InProcessFeeder(directory), people, store, directory, "inprocess")
        process, control = _feeder(directory, len(people))
        try:
            source = PcscCardSource(CARD_READER, eject_via=card_sim_ejector(control), wait=15)
            pcsc = _batch(source, people, store, directory, "pcsc")
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    print(f"issuing {len(people)} people from examples/people.csv (personalise 251 APDUs + read-back)")
    fast = _report("in-process card OS (baseline)", baseline)
    slow = _report("card-sim feeder via pcscd    ", pcsc)
    tool = sum(c.tool_seconds for c in pcsc.cards) / sum(c.seconds for c in pcsc.cards)
    print(f"pcscd / in-process throughput: {slow / fast:.3f}")
    print(
        f"target: tool's own work <= 20% of the total through pcscd: {'met' if tool <= 0.20 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
