"""Identity read and full read of the health card: the project's session vs a vendor-style baseline.

The baseline reads the way the vendor interface functions (iR_DDF1EF05Info ... iR_DF03EDInfo) do:
every function selects its DF and EF afresh, authenticates for every file it reads, reads TLV files
one item at a time by record identifier and transparent files in 128-byte pieces. It reuses the
project's own authentication flow, so the comparison measures the APDU strategy, not the code.

Both run against the same demo card and demo SAM, through pcscd + vpcd by default (``make bench``),
or in-process with ``--in-process``. Printed: card and SAM APDUs per read, median time, and the ratios.
Target: the identity read takes at most half the baseline's card APDUs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cardservice.apdu import (
    CommandApdu,
    RecordMode,
    ResponseApdu,
    read_binary,
    read_record,
    select_by_fid,
    transceive_checked,
)
from cardservice.healthcard import (
    CARD_FILES,
    ApduSam,
    FileKind,
    HealthCardSession,
    IssuerData,
    card_factor,
    city_factor,
    health_key,
    items_in_file,
)
from cardservice.healthcard._flows import external_authenticate, run
from cardservice.transport import Disposition, InProcessTransport
from drivers.readers import PcscTransport, wait_for_card, wait_for_removal

CARD_READER = "cardservice-vpcd 00 00"
SAM_READER = "cardservice-vpcd 00 01"
IDENTITY_FILES = ("DDF1/EF05", "DDF1/EF06", "DDF1/EF08")
VENDOR_BINARY_CHUNK = 128


class CountingTransport:
    """Counts the APDUs that cross a transport."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.count = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def transmit(self, apdu: bytes) -> bytes:
        self.count += 1
        return bytes(self.inner.transmit(apdu))


@dataclass
class Measurement:
    card_apdus: int
    sam_apdus: int
    seconds: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


# -- the vendor-style baseline ------------------------------------------------------------------------


def _vendor_read_file(path: str, card: CountingTransport, sam: ApduSam, yycsdm: str) -> None:
    file = next(f for f in CARD_FILES if f.path == path)
    exchange: Callable[[CommandApdu], ResponseApdu] = partial(transceive_checked, card.transmit)
    # Each interface function starts from the top: SELECT DDF1, the ADF if any, then the EF.
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        node = next(f for f in CARD_FILES if f.path == "/".join(parts[:depth]))
        exchange(select_by_fid(node.fid))
    if file.read_key is not None:
        key = health_key(file.read_key)
        factors = [card_factor(card.atr), city_factor(yycsdm)][: key.levels]
        run(external_authenticate(key, factors), exchange, sam)
    if file.kind is FileKind.TLV_RECORDS:
        for item in items_in_file(path):
            exchange(read_record(item.tag, ne=2 + item.length, mode=RecordMode.ID_FIRST))
    elif file.kind in (FileKind.CYCLIC, FileKind.LINEAR_FIXED):
        for number, size in enumerate(file.record_sizes, start=1):
            exchange(read_record(number, ne=size))
    else:
        assert file.size is not None
        for offset in range(0, file.size, VENDOR_BINARY_CHUNK):
            exchange(read_binary(offset, ne=min(VENDOR_BINARY_CHUNK, file.size - offset)))


def vendor_read(paths: tuple[str, ...], card: CountingTransport, sam: ApduSam, yycsdm: str) -> None:
    for path in paths:
        _vendor_read_file(path, card, sam, yycsdm)


def _in_use_slots(card: CountingTransport, sam: ApduSam, yycsdm: str) -> tuple[str, ...]:
    """The EE/ED files the vendor functions would read: those whose index says 'in use'."""
    session = HealthCardSession(card, sam)
    slots: list[str] = []
    for kind, prefix in (("inpatient", "EE"), ("outpatient", "ED")):
        index = session.read_index(kind)
        slots += [f"DDF1/DF03/{prefix}{n:02d}" for n, used in enumerate(index.in_use, start=1) if used]
    return tuple(slots)


# -- harness ------------------------------------------------------------------------------------------


@contextmanager
def _cards(directory: Path, *, in_process: bool) -> Iterator[tuple[Any, Any]]:
    from simulators.cardos import load_card
    from simulators.health import create_health_card, create_sam

    card_image, sam_image = directory / "card.json", directory / "sam.json"
    create_health_card(card_image)
    create_sam(sam_image)
    if in_process:
        yield InProcessTransport(load_card(card_image)), InProcessTransport(load_card(sam_image))
        return
    from simulators.vpcd import VpcdBridge

    with ExitStack() as stack:
        for image, port, reader in ((card_image, 40000, CARD_READER), (sam_image, 40001, SAM_READER)):
            bridge = VpcdBridge(load_card(image), "127.0.0.1", port)
            bridge.start()
            stack.callback(wait_for_removal, reader, 5.0)
            stack.callback(bridge.stop)
            if not wait_for_card(reader, 5.0):
                raise SystemExit(f"bench_read: no card in {reader} after 5 s (pcscd running? slot free?)")
        yield PcscTransport(CARD_READER), PcscTransport(SAM_READER)


def _measure(
    read: Callable[[CountingTransport, ApduSam], object], card: Any, sam_transport: Any, rounds: int
) -> Measurement:
    seconds: list[float] = []
    card_apdus = sam_apdus = 0
    for _ in range(rounds):
        card.reconnect(Disposition.RESET)  # a fresh insertion: no security state on the card
        counted_card, counted_sam = CountingTransport(card), CountingTransport(sam_transport)
        sam = ApduSam(counted_sam)
        start = time.perf_counter()
        read(counted_card, sam)
        seconds.append(time.perf_counter() - start)
        card_apdus, sam_apdus = counted_card.count, counted_sam.count
    return Measurement(card_apdus, sam_apdus, seconds)


def run_bench(*, in_process: bool = False, rounds: int = 10) -> dict[str, float]:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, _cards(Path(tmp), in_process=in_process) as (card, sam_t):
        card.connect()
        sam_t.connect()
        probe = HealthCardSession(card, ApduSam(sam_t))
        yycsdm = _city_code(probe.read_issuer_data())
        slots = _in_use_slots(CountingTransport(card), ApduSam(sam_t), yycsdm)
        all_files = (
            tuple(
                f.path
                for f in CARD_FILES
                if not f.is_df and not f.path.split("/")[-1].startswith(("EE", "ED"))
            )
            + slots
        )
        cases = {
            "identity": (
                lambda c, s: HealthCardSession(c, s).read_identity(),
                lambda c, s: vendor_read(IDENTITY_FILES, c, s, yycsdm),
            ),
            "full": (
                lambda c, s: HealthCardSession(c, s).read_all(),
                lambda c, s: vendor_read(all_files, c, s, yycsdm),
            ),
        }
        for name, (ours, vendor) in cases.items():
            # Interleave so both see the same machine state.
            project = Measurement(0, 0, [])
            baseline = Measurement(0, 0, [])
            for _ in range(rounds):
                for target, read in ((project, ours), (baseline, vendor)):
                    m = _measure(read, card, sam_t, 1)
                    target.card_apdus, target.sam_apdus = m.card_apdus, m.sam_apdus
                    target.seconds += m.seconds
            results[f"{name}.project.card_apdus"] = project.card_apdus
            results[f"{name}.project.sam_apdus"] = project.sam_apdus
            results[f"{name}.project.ms"] = project.median_ms
            results[f"{name}.baseline.card_apdus"] = baseline.card_apdus
            results[f"{name}.baseline.sam_apdus"] = baseline.sam_apdus
            results[f"{name}.baseline.ms"] = baseline.median_ms
        card.disconnect()
        sam_t.disconnect()
    return results


def _city_code(issuer: IssuerData) -> str:
    data = issuer.to_abbreviations()
    return str(data["YYCSDM"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_read", description="health-card read benchmark")
    parser.add_argument("--in-process", action="store_true", help="no pcscd: cards in this process")
    parser.add_argument("-n", "--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    r = run_bench(in_process=args.in_process, rounds=args.rounds)
    via = "in-process" if args.in_process else "pcscd + vpcd"
    print(f"health-card reads via {via}, median of {args.rounds} rounds each, interleaved")
    for name in ("identity", "full"):
        p_card, b_card = r[f"{name}.project.card_apdus"], r[f"{name}.baseline.card_apdus"]
        p_sam, b_sam = r[f"{name}.project.sam_apdus"], r[f"{name}.baseline.sam_apdus"]
        p_ms, b_ms = r[f"{name}.project.ms"], r[f"{name}.baseline.ms"]
        print(
            f"{name + '-read':14} project {p_card:4.0f} card + {p_sam:3.0f} SAM APDUs {p_ms:8.1f} ms | "
            f"vendor-style {b_card:4.0f} card + {b_sam:3.0f} SAM APDUs {b_ms:8.1f} ms | "
            f"card APDUs {p_card / b_card:.2f}x  time {p_ms / b_ms:.2f}x"
        )
    ratio = r["identity.project.card_apdus"] / r["identity.baseline.card_apdus"]
    print(f"verdict        identity read uses {ratio:.2f}x the baseline's card APDUs (target <= 0.50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
