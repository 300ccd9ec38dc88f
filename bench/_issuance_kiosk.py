"""The kiosks of bench/bench_issuance.py, each in a process of its own (``spawn``), so that the service's
process does none of their work and shares no GIL with them.

A kiosk process is :class:`~cardservice.issuance.KioskRelay` over the K720 driver wired straight to a
virtual K720 (no pty), the card at its read position answered by card-sim's card OS in that process (no
pcscd). The bench's process drives it over a pipe (:class:`KioskProcess`): the kiosk issues one card
uncounted at start (imports, connections), then per phase is *armed* with its people, issues them one
after the other on *go*, and answers with its latencies and the CPU time its process spent.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from cardservice.healthcard import id_check_character
from cardservice.issuance import DispenserCardSource, KioskRelay, PersonIn
from drivers.dispenser import K720Dispenser
from simulators.cardos import load_card
from simulators.dispenser import LoopbackLine, VirtualDispenser

__all__ = ["KioskProcess", "Phase", "people"]

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明"


def people(start: int) -> Iterator[PersonIn]:
    """Synthetic residents with distinct, valid GB 11643 numbers (one birth date each, from 1950 on): the
    index alone makes a person, so each kiosk process makes its own from the range it is given."""
    index = start
    while True:
        born = _dt.date(1950, 1, 1) + _dt.timedelta(days=index)
        body = f"110101{born:%Y%m%d}{index % 900 + 100:03d}"
        name = _SURNAMES[index % len(_SURNAMES)] + _GIVEN[index // len(_SURNAMES) % len(_GIVEN)]
        yield PersonIn(id_number=body + id_check_character(body), name=name, sex="1" if index % 2 else "2",
                       address=None, phone=f"138{index:08d}", consent=True, photo=None)  # fmt: skip
        index += 1


# -- inside a kiosk process -------------------------------------------------------------------------------


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


def _issue(relay: KioskRelay, person: PersonIn, name: str) -> float:
    """One card; the seconds the kiosk waited for it."""
    began = time.perf_counter()
    issued = relay.issue(person)
    seconds = time.perf_counter() - began
    if issued.status != "active":
        raise RuntimeError(f"bench_issuance: {name} issued a card {issued.status}")
    return seconds


def _serve(name: str, url: str, token: str, directory: str, cards: int, first: int, pipe: Connection) -> None:
    """A kiosk process's life: *cards* blanks in its dispenser, person *first* issued uncounted, then the
    orders on *pipe* until ``stop``; whatever fails is sent back as text (the bench raises it)."""
    machine = VirtualDispenser(Path(directory) / name, cards)
    dispenser = K720Dispenser(LoopbackLine(machine.receive), poll=0.0, motion_timeout=1.0)
    source = DispenserCardSource(dispenser, lambda out: _ReadPosition(machine, out))
    relay = KioskRelay(url, token, source, timeout=120.0)
    try:
        _issue(relay, next(people(first)), name)
        pipe.send(("ready", os.getpid()))
        while (order := pipe.recv())[0] != "stop":
            _, start, count = order  # ("arm", first person, how many)
            batch = list(itertools.islice(people(start), count))
            pipe.send(("armed",))
            pipe.recv()  # ("go",): every kiosk of the phase armed, the service's meters read
            cpu = time.process_time()
            latencies = [_issue(relay, person, name) for person in batch]
            pipe.send(("done", latencies, time.process_time() - cpu))
        pipe.send(("stopped", len(machine.taken), len(machine.reject_bin)))
    except BaseException as error:  # told to the bench, which raises it
        pipe.send(("failed", f"{type(error).__name__}: {error}"))
    finally:
        relay.close()
        pipe.close()


# -- the bench's side -------------------------------------------------------------------------------------


@dataclass
class Phase:
    """What one kiosk reported for a phase."""

    latencies: list[float]
    cpu: float  # CPU seconds of the kiosk's process (all its threads) while it issued


class KioskProcess:
    """One kiosk in a process of its own, started by *context* (a ``spawn`` one: the bench's process runs
    the service's threads, which a fork would copy mid-flight)."""

    def __init__(self, context: Any, name: str, url: str, token: str, directory: Path, cards: int,
                 first: int) -> None:  # fmt: skip
        self.name = name
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(name, url, token, str(directory), cards, first, child), name=f"bench-{name}"
        )
        self._process.start()
        child.close()  # the child's end lives in the child only: its death is then an EOF here
        self.pid = 0

    def _answer(self, expected: str) -> tuple[Any, ...]:
        # no deadline of its own: a kiosk that dies is seen at once (EOF), one that hangs is bounded by the
        # relay's own timeouts, which end in "failed"
        try:
            answer = self._pipe.recv()
        except EOFError:
            self._process.join(5)  # its exit code, for the message
            raise RuntimeError(
                f"bench_issuance: {self.name}'s process ended (exit code {self._process.exitcode})"
            ) from None
        if answer[0] == "failed":
            raise RuntimeError(f"bench_issuance: {self.name} failed: {answer[1]}")
        if answer[0] != expected:  # pragma: no cover - the protocol above
            raise RuntimeError(f"bench_issuance: {self.name} answered {answer[0]}, not {expected}")
        return tuple(answer[1:])

    def ready(self) -> int:
        """Wait for the uncounted first card; the kiosk's process id."""
        (self.pid,) = self._answer("ready")
        return self.pid

    def arm(self, start: int, count: int) -> None:
        self._pipe.send(("arm", start, count))

    def armed(self) -> None:
        self._answer("armed")

    def go(self) -> None:
        self._pipe.send(("go",))

    def done(self) -> Phase:
        latencies, cpu = self._answer("done")
        return Phase(latencies, cpu)

    def stop(self) -> tuple[int, int]:
        """End the process: the cards it presented and the cards in its reject bin."""
        self._pipe.send(("stop",))
        taken, rejected = self._answer("stopped")
        self._process.join(10)
        self.close()
        return taken, rejected

    def close(self) -> None:
        """Reap the process; one not stopped (the bench is failing) is terminated, not waited for."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)
        if self._process.is_alive():  # pragma: no cover - SIGTERM ignored
            self._process.kill()
            self._process.join()
        self._pipe.close()
