"""The serial reader against the vpcd reader, in one run: the same card, the same APDUs, through pcscd.

The serial reader is a GemPC Twin on a pty (simulators/serialreader) driven by Debian's libccidtwin; the
vpcd reader is vsmartcard's driver over TCP. Printed: the median and p95 APDU round trip of each, their ratio,
and for the serial reader the bytes that cross its link per APDU (the command frame, its echo, the answer
frame, with the T=1 block inside) and the time those bytes take at 115,200 baud (8N2, as libccid sets the
line: 11 bits a byte) — the physical limit of a real serial reader. A pty has no baud rate, so the measured
time shows our share (driver, pty, emulator, card) and how far the wire itself would add to it.

Needs pcscd started by scripts/pcscd-ctl (it starts the serial reader first) with its readers free.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from drivers.readers import PcscTransport, wait_for_card, wait_for_removal
from simulators.cardos import load_card
from simulators.health import create_health_card
from simulators.vpcd import VpcdBridge

__all__ = ["main"]

READERS = {"vpcd": ("cardservice-vpcd 00 00", 40000), "serial": ("cardservice-twin 00 00", 40002)}
APDU = bytes.fromhex("0084000008")  # GET CHALLENGE: 5 bytes out, 10 back
ROUNDS = 300
BAUD = 115_200
BITS_PER_BYTE = 11  # start, 8 data, 2 stop (CSTOPB): libccid's serial line


def _wire_bytes(command: int, response: int) -> int:
    """Bytes on the serial link for one T=1 APDU: the command frame, its echo, the answer frame."""
    block_out, block_in = 4 + command, 4 + response  # NAD PCB LEN ... LRC
    frame_out, frame_in = 3 + 10 + block_out, 3 + 10 + block_in  # 03 06 | CCID header | ... | LRC
    return 2 * frame_out + frame_in


def _round_trips(reader: str) -> list[float]:
    transport = PcscTransport(reader)
    transport.connect()
    try:
        for _ in range(20):  # warm-up: T=1 set-up, caches
            transport.transmit(APDU)
        times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            transport.transmit(APDU)
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        transport.disconnect()


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "card.json"
        create_health_card(image)
        results: dict[str, list[float]] = {}
        for name, (reader, port) in READERS.items():
            bridge = VpcdBridge(load_card(image), "127.0.0.1", port)
            bridge.start()
            try:
                if not wait_for_card(reader, 10):
                    print(f"bench_serial: no card in {reader} (is pcscd started by scripts/pcscd-ctl?)")
                    return 1
                results[name] = _round_trips(reader)
            finally:
                bridge.stop()
                wait_for_removal(reader, 10)
    vpcd, serial = (statistics.median(results[n]) for n in ("vpcd", "serial"))
    p95 = {n: sorted(t)[int(0.95 * len(t))] for n, t in results.items()}
    wire = _wire_bytes(len(APDU), 10)
    wire_ms = wire * BITS_PER_BYTE / BAUD * 1000
    real = serial + wire_ms
    print(f"APDU round trip through pcscd, GET CHALLENGE, {ROUNDS} rounds each, same card:")
    print(f"  vpcd reader    median {vpcd:6.2f} ms   p95 {p95['vpcd']:6.2f} ms")
    ratio = serial / vpcd
    print(f"  serial reader  median {serial:6.2f} ms   p95 {p95['serial']:6.2f} ms   ({ratio:.1f}x vpcd)")
    print(f"  the serial link carries {wire} bytes per APDU: {wire_ms:.2f} ms at {BAUD} baud (8N2);")
    print(f"  a real GemPC Twin would take about {real:.2f} ms, {wire_ms / real:.0%} of it the wire itself")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
