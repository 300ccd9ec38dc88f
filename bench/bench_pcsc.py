"""APDU round trip through pcscd + vpcd: the project stack against raw ``SCardTransmit``.

``python -m bench.bench_pcsc`` (pcscd running, the card slot free) attaches its own virtual card
(the card OS with one 250-byte EF) to vpcd and prints, e.g.::

    get-challenge(8)   project median 151 us p99 240 us | raw median 146 us p99 231 us | overhead +3.4%
    read-binary(250)   project median 170 us p99 262 us | raw median 162 us p99 250 us | overhead +4.9%
    tcp-quickack       off median 40210 us  on median 146 us  ratio 275x

*project* is :class:`cardservice.transport.PcscTransport` + :func:`cardservice.apdu.transceive`
(encode, transmit, decode, status-word handling); *raw* is ``smartcard.scard.SCardTransmit`` on a
second shared handle to the same card, with the APDU bytes prepared in advance. The two are
interleaved (alternating which goes first) so drift in the machine's load hits both alike. The
target is an overhead of at most 10 % on the median.

The card side is a few lines of vpcd framing kept here rather than :mod:`simulators.vpcd`, because
the last line needs a card socket whose ``TCP_QUICKACK`` can be switched off: without quick ACKs,
vpcd's separate length and payload writes each wait for a delayed ACK (~40 ms per APDU).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from smartcard import scard

from cardservice.apdu import CommandApdu, get_challenge, read_binary, select_by_fid, transceive
from drivers.readers import PcscTransport, wait_for_card, wait_for_removal
from simulators.cardos import ALWAYS, CardImage, DfSpec, EfSpec, load_card

__all__ = ["main", "run"]

_READER = "cardservice-vpcd 00 00"
_PORT = 40000
_EF_FID = 0x0001
_EF_SIZE = 250
_SERIAL = bytes.fromhex("BE0C000000000001")
_EVENT_TIMEOUT = 5.0  # pcscd polls vpcd every 400 ms


class _BenchCard:
    """A virtual card attached to vpcd on a thread: framing, plus a switch for TCP_QUICKACK."""

    def __init__(self, image_path: Path, host: str, port: int, *, quickack: bool) -> None:
        self._card = load_card(image_path)
        self._quickack = quickack
        self._socket = socket.create_connection((host, port), timeout=_EVENT_TIMEOUT)
        self._socket.settimeout(None)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.served = threading.Event()  # set at pcscd's first message: the slot is ours, not busy
        self._thread = threading.Thread(target=self._serve, name=f"bench-card-{port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already closed by vpcd
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=_EVENT_TIMEOUT)

    def _receive(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self._socket.recv(size - len(data))
            if not chunk:
                raise ConnectionError("vpcd closed the connection")
            data += chunk
            if self._quickack:
                # Linux clears QUICKACK again after a while: set it after every receive.
                self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return data

    def _serve(self) -> None:
        try:
            while True:
                (length,) = struct.unpack(">H", self._receive(2))
                payload = self._receive(length)
                self.served.set()
                if length == 1:
                    control = payload[0]
                    if control == 0:
                        self._card.power_off()
                    elif control == 1:
                        self._card.power_on()
                    elif control == 2:
                        self._card.reset()
                    elif control == 4:
                        self._send(self._card.atr)
                    continue
                self._send(self._card.process(payload))
        except (OSError, ConnectionError):
            return

    def _send(self, payload: bytes) -> None:
        self._socket.sendall(struct.pack(">H", len(payload)) + payload)


def _make_image(directory: Path) -> Path:
    content = bytes(range(_EF_SIZE))
    mf = DfSpec(
        fid=0x3F00, children=(EfSpec(_EF_FID, size=_EF_SIZE, read=ALWAYS, update=ALWAYS, content=content),)
    )
    path = directory / "bench-card.json"
    CardImage.build(mf, serial=_SERIAL, profile="bench").save(path)
    return path


def _attach(image: Path, host: str, port: int, reader: str, *, quickack: bool) -> _BenchCard:
    card = _BenchCard(image, host, port, quickack=quickack)
    if not card.served.wait(_EVENT_TIMEOUT) or not wait_for_card(reader, _EVENT_TIMEOUT):
        card.close()
        raise RuntimeError(
            f"pcscd did not take the bench card on {host}:{port} — is pcscd running "
            "(scripts/pcscd-ctl start) and is the slot free (no card-sim serve attached)?"
        )
    return card


def _detach(card: _BenchCard, reader: str) -> None:
    card.close()
    wait_for_removal(reader, _EVENT_TIMEOUT)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class _Raw:
    """The baseline: one shared handle and nothing but SCardTransmit."""

    def __init__(self, reader: str) -> None:
        code, self.context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if code != scard.SCARD_S_SUCCESS:
            raise RuntimeError(f"SCardEstablishContext: {scard.SCardGetErrorMessage(code)}")
        code, self.card, protocol = scard.SCardConnect(
            self.context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if code != scard.SCARD_S_SUCCESS:
            raise RuntimeError(f"SCardConnect: {scard.SCardGetErrorMessage(code)}")
        self.pci = scard.SCARD_PCI_T1 if protocol == scard.SCARD_PROTOCOL_T1 else scard.SCARD_PCI_T0

    def transmit(self, apdu: list[int]) -> list[int]:
        code, response = scard.SCardTransmit(self.card, self.pci, apdu)
        if code != scard.SCARD_S_SUCCESS:
            raise RuntimeError(f"SCardTransmit: {scard.SCardGetErrorMessage(code)}")
        return list(response)

    def close(self) -> None:
        scard.SCardDisconnect(self.card, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(self.context)


def _interleaved(
    first: Callable[[], object], second: Callable[[], object], count: int
) -> tuple[list[float], list[float]]:
    """Time *count* calls of each, alternating which runs first; microseconds."""
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter_ns
    for index in range(count):
        order = ((first, a), (second, b)) if index % 2 == 0 else ((second, b), (first, a))
        for operation, samples in order:
            started = clock()
            operation()
            samples.append((clock() - started) / 1000)
    return a, b


def _line(label: str, project: list[float], raw: list[float]) -> tuple[str, float]:
    overhead = statistics.median(project) / statistics.median(raw) - 1
    return (
        f"{label:<18} project median {statistics.median(project):5.0f} us"
        f" p99 {_percentile(project, 0.99):5.0f} us"
        f" | raw median {statistics.median(raw):5.0f} us p99 {_percentile(raw, 0.99):5.0f} us"
        f" | overhead {overhead * 100:+5.1f}%",
        overhead,
    )


def run(
    count: int = 2000,
    *,
    host: str = "127.0.0.1",
    port: int = _PORT,
    reader: str = _READER,
    slow_count: int = 25,
) -> dict[str, float]:
    """Run the benchmark and print it; returns the medians (µs) and ratios by name."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pcsc-") as directory:
        image = _make_image(Path(directory))
        card = _attach(image, host, port, reader, quickack=True)
        transport = PcscTransport(reader)
        raw = _Raw(reader)
        try:
            transport.connect()
            transceive(transport.transmit, select_by_fid(_EF_FID)).check()  # current EF for READ BINARY
            cases: list[tuple[str, CommandApdu]] = [
                ("get-challenge(8)", get_challenge(8)),
                (f"read-binary({_EF_SIZE})", read_binary(0, ne=_EF_SIZE)),
            ]
            for label, command in cases:
                encoded = list(command.encode())
                expected = len(raw.transmit(encoded))
                assert len(transceive(transport.transmit, command).data) + 2 == expected
                project, baseline = _interleaved(
                    partial(transceive, transport.transmit, command),
                    partial(raw.transmit, encoded),
                    count,
                )
                text, overhead = _line(label, project, baseline)
                print(text, flush=True)
                results[f"{label}_project_median_us"] = statistics.median(project)
                results[f"{label}_raw_median_us"] = statistics.median(baseline)
                results[f"{label}_overhead"] = overhead
            quick_on = [_timed_raw(raw, list(get_challenge(8).encode())) for _ in range(slow_count)]
        finally:
            transport.disconnect()
            raw.close()
            _detach(card, reader)

        # Same card with delayed ACKs: every APDU pays the kernel's delayed-ACK timer.
        card = _attach(image, host, port, reader, quickack=False)
        raw = _Raw(reader)
        try:
            quick_off = [_timed_raw(raw, list(get_challenge(8).encode())) for _ in range(slow_count)]
        finally:
            raw.close()
            _detach(card, reader)
    on, off = statistics.median(quick_on), statistics.median(quick_off)
    print(
        f"{'tcp-quickack':<18} off median {off:5.0f} us  on median {on:5.0f} us  ratio {off / on:4.0f}x",
        flush=True,
    )
    results.update(quickack_on_median_us=on, quickack_off_median_us=off, quickack_ratio=off / on)
    return results


def _timed_raw(raw: _Raw, apdu: list[int]) -> float:
    started = time.perf_counter_ns()
    raw.transmit(apdu)
    return (time.perf_counter_ns() - started) / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_pcsc", description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=2000, help="round trips per side (default 2000)")
    parser.add_argument("--host", default="127.0.0.1", help="vpcd host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=_PORT, help=f"vpcd port of the slot (default {_PORT})")
    parser.add_argument("--reader", default=_READER, help=f"PC/SC reader of that slot (default {_READER!r})")
    options = parser.parse_args(argv)
    try:
        results = run(options.count, host=options.host, port=options.port, reader=options.reader)
    except (RuntimeError, OSError) as exc:
        print(f"bench_pcsc: {exc}", file=sys.stderr)
        return 1
    worst = max(results["get-challenge(8)_overhead"], results[f"read-binary({_EF_SIZE})_overhead"])
    print(f"{'verdict':<18} worst overhead {worst * 100:+.1f}% (target <= +10%)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
