"""APDU round trip through pcscd + vpcd: the project stack against raw ``SCardTransmit``.

``python -m bench.bench_pcsc`` (pcscd running, the card slot free) attaches its own virtual card
(the card OS with one 250-byte EF) to vpcd and prints, e.g.::

    get-challenge(8)   project median    54 us | raw median    53 us | overhead  +1.0% (+0.5 us per APDU;
                       5 runs: +0.2% .. +2.0%)
    read-binary(250)   ...
    python side        get-challenge(8) 1.1 us, read-binary(250) 1.6 us per APDU over a transmit that
                       returns at once; raw's own Python 0.3 us / 0.5 us
    tcp-quickack       off median 40210 us  on median 146 us  ratio 275x

*project* is :class:`cardservice.transport.PcscTransport` + :func:`cardservice.apdu.transceive`
(encode, transmit, decode, status-word handling); *raw* is ``smartcard.scard.SCardTransmit`` on a
second shared handle to the same card, with the APDU bytes prepared in advance. The two are
interleaved (alternating which goes first) so drift in the machine's load hits both alike, in
several runs: the overhead printed is the median of the runs' (each the ratio of the medians), with
the spread of the runs. The target is an overhead of at most 5 % on the median.

The overhead is a few microseconds of Python on a round trip of ~50-90 µs, so how fast the round trip
is that day (the machine's load, where pcscd's threads are scheduled) moves the percentage: the *python
side* line measures the Python part alone, over a transmit that answers at once, which does not vary.

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


def _python_side(command: CommandApdu, answer: list[int], count: int = 20000) -> tuple[float, float]:
    """Microseconds per APDU of the project's Python (transceive + PcscTransport.transmit's own work)
    and of the baseline's (``list(response)``) around a transmit that answers at once."""
    response = bytes(answer)
    transport = PcscTransport("bench")

    def transmit(apdu: bytes) -> tuple[int, list[int]]:
        return 0, answer

    # PcscTransport.transmit's own lines, over the instant transmit: it calls the module's _transmit.
    import drivers.readers._pcsc as pcsc

    saved = pcsc._transmit
    pcsc._transmit = lambda card, pci, apdu: (0, answer)
    transport._card = object()
    try:
        clock = time.perf_counter_ns
        best_project = best_raw = float("inf")
        for _ in range(5):
            started = clock()
            for _ in range(count):
                transceive(transport.transmit, command)
            best_project = min(best_project, (clock() - started) / count / 1000)
            started = clock()
            for _ in range(count):
                list(transmit(b"")[1])
            best_raw = min(best_raw, (clock() - started) / count / 1000)
    finally:
        pcsc._transmit = saved
        transport._card = None
    assert transceive(lambda apdu: response, command).sw == int.from_bytes(response[-2:], "big")
    return best_project, best_raw


def run(
    count: int = 2000,
    *,
    host: str = "127.0.0.1",
    port: int = _PORT,
    reader: str = _READER,
    slow_count: int = 25,
    runs: int = 5,
) -> dict[str, float]:
    """Run the benchmark and print it; returns the medians (µs) and ratios by name."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pcsc-") as directory:
        image = _make_image(Path(directory))
        card = _attach(image, host, port, reader, quickack=True)
        transport = PcscTransport(reader)
        raw = _Raw(reader)
        python_side: list[str] = []
        try:
            transport.connect()
            transceive(transport.transmit, select_by_fid(_EF_FID)).check()  # current EF for READ BINARY
            cases: list[tuple[str, CommandApdu]] = [
                ("get-challenge(8)", get_challenge(8)),
                (f"read-binary({_EF_SIZE})", read_binary(0, ne=_EF_SIZE)),
            ]
            for label, command in cases:
                encoded = list(command.encode())
                answer = raw.transmit(encoded)
                assert len(transceive(transport.transmit, command).data) + 2 == len(answer)
                project: list[float] = []
                baseline: list[float] = []
                overheads: list[float] = []
                for _ in range(runs):
                    mine, theirs = _interleaved(
                        partial(transceive, transport.transmit, command),
                        partial(raw.transmit, encoded),
                        count,
                    )
                    project += mine
                    baseline += theirs
                    overheads.append(statistics.median(mine) / statistics.median(theirs) - 1)
                overhead = statistics.median(overheads)
                project_median, raw_median = statistics.median(project), statistics.median(baseline)
                project_p99, raw_p99 = _percentile(project, 0.99), _percentile(baseline, 0.99)
                print(
                    f"{label:<18} project median {project_median:5.0f} us p99 {project_p99:5.0f} us"
                    f" | raw median {raw_median:5.0f} us p99 {raw_p99:5.0f} us"
                    f" | overhead {overhead * 100:+5.1f}% ({project_median - raw_median:+.1f} us per APDU;"
                    f" {runs} runs: {min(overheads) * 100:+.1f}% .. {max(overheads) * 100:+.1f}%)",
                    flush=True,
                )
                results[f"{label}_project_median_us"] = project_median
                results[f"{label}_raw_median_us"] = raw_median
                results[f"{label}_overhead"] = overhead
                mine_us, theirs_us = _python_side(command, answer)
                results[f"{label}_python_us"] = mine_us
                python_side.append(f"{label} {mine_us:.2f} us (raw {theirs_us:.2f} us)")
            quick_on = [_timed_raw(raw, list(get_challenge(8).encode())) for _ in range(slow_count)]
        finally:
            transport.disconnect()
            raw.close()
            _detach(card, reader)
        print(f"{'python side':<18} per APDU over a transmit that answers at once: {', '.join(python_side)}")

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
    parser.add_argument(
        "-n", "--count", type=int, default=2000, help="round trips per side and run (default 2000)"
    )
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per APDU (default 5)")
    parser.add_argument("--host", default="127.0.0.1", help="vpcd host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=_PORT, help=f"vpcd port of the slot (default {_PORT})")
    parser.add_argument("--reader", default=_READER, help=f"PC/SC reader of that slot (default {_READER!r})")
    options = parser.parse_args(argv)
    try:
        results = run(
            options.count, host=options.host, port=options.port, reader=options.reader, runs=options.runs
        )
    except (RuntimeError, OSError) as exc:
        print(f"bench_pcsc: {exc}", file=sys.stderr)
        return 1
    worst = max(results["get-challenge(8)_overhead"], results[f"read-binary({_EF_SIZE})_overhead"])
    print(f"{'verdict':<18} worst overhead {worst * 100:+.1f}% (target <= +5%)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
