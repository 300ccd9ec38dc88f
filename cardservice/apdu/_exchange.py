"""The exchange above every transport: GET RESPONSE chaining (61xx), Le correction (6Cxx), tracing,
and a runner for sans-I/O generator flows."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import TypeAlias, TypeVar

from cardservice.apdu._builders import get_response
from cardservice.apdu._command import CommandApdu
from cardservice.apdu._response import ResponseApdu
from cardservice.apdu._trace import ApduTracer
from cardservice.errors import StatusWordError, WrongLengthError

__all__ = ["Exchange", "Flow", "Transmit", "run_flow", "transceive", "transceive_checked"]

T = TypeVar("T")
Request = TypeVar("Request")
Answer = TypeVar("Answer")

Transmit: TypeAlias = Callable[[bytes], bytes]
"""Sends one command APDU's bytes, returns the response bytes (data || SW1 SW2)."""

Exchange: TypeAlias = Callable[[CommandApdu], ResponseApdu]
"""Sends one command APDU value, returns the response value (e.g. ``partial(transceive, transmit)``)."""

Flow: TypeAlias = Generator[CommandApdu, ResponseApdu, T]
"""A sans-I/O multi-step protocol: yields commands, receives responses, returns a result."""


def _get_response_cla(cla: int) -> int:
    """CLA of GET RESPONSE: interindustry, on the logical channel of the command being answered
    (ISO/IEC 7816-4 §5.4.1), without secure messaging. Proprietary classes (the SAM's 80) get 00,
    as health-card SAMs expect (``80 FA ...`` -> ``61 10`` -> ``00 C0 00 00 10``)."""
    if cla <= 0x1F:
        return cla & 0x03  # first interindustry class: channel in b2-b1
    if 0x40 <= cla <= 0x7F:
        return 0x40 | (cla & 0x0F)  # further interindustry class: channel 4 + b4-b1
    return 0x00


_new = object.__new__
_set = object.__setattr__


def _response_of(raw: bytes) -> ResponseApdu:
    """``ResponseApdu.decode(raw)`` for the common case (bytes of 2 or more), without its checks: a slice
    of bytes and a 16-bit status word are valid by construction. About 0.5 µs less per APDU, which is a
    percent of a PC/SC round trip (bench/bench_pcsc.py). Anything else goes through ``decode``."""
    if type(raw) is not bytes or len(raw) < 2:
        return ResponseApdu.decode(raw)
    response: ResponseApdu = _new(ResponseApdu)
    _set(response, "data", raw[:-2])
    _set(response, "sw", (raw[-2] << 8) | raw[-1])
    return response


def _exchange_once(
    transmit: Transmit, command: CommandApdu, tracer: ApduTracer | None, clock: Callable[[], float]
) -> ResponseApdu:
    raw = command.encode()
    if tracer is None:
        return _response_of(transmit(raw))
    tracer.on_command(command)
    start = clock()
    try:
        answer = transmit(raw)
        response = ResponseApdu.decode(answer)
    except BaseException as exc:
        tracer.on_error(exc, clock() - start)
        raise
    tracer.on_response(response, clock() - start)
    return response


def transceive(
    transmit: Transmit,
    command: CommandApdu,
    *,
    tracer: ApduTracer | None = None,
    max_chained: int = 64,
    clock: Callable[[], float] = time.perf_counter,
) -> ResponseApdu:
    """Send ``command`` and return the card's final answer, with T=0 / ISO 7816-4 §5.3.4 plumbing:

    * ``61xx``: issue GET RESPONSE with Ne = xx (``00`` -> 256), concatenating the data, until a
      status word other than ``61xx``; at most ``max_chained`` GET RESPONSEs, then
      :class:`StatusWordError` (a card that never stops).
    * ``6Cxx``: re-issue the same command with Ne = xx (``00`` -> 256) once; a second ``6Cxx``
      to that command raises :class:`WrongLengthError`. Applies to GET RESPONSE too.

    Does not call :meth:`ResponseApdu.check`: warnings and errors are returned for the caller to
    judge (see :func:`transceive_checked`). Errors raised by ``transmit`` propagate unchanged.
    ``clock`` (seconds) only times the exchanges for the tracer.
    """
    if max_chained < 0:
        raise ValueError("max_chained must be >= 0")
    if tracer is None:
        # The hot path: one exchange, and the answer is final unless it is 61xx or 6Cxx.
        response = _response_of(transmit(command.encode()))
        sw1 = response.sw >> 8
        if sw1 != 0x61 and sw1 != 0x6C:
            return response
    else:
        response = _exchange_once(transmit, command, tracer, clock)
    collected = bytearray()
    pending = command
    reissued = False
    chained = 0
    while True:
        if response.sw1 == 0x6C:
            if reissued:
                raise WrongLengthError(response.sw, b"", "card answered 6Cxx to the corrected Le as well")
            pending = pending.with_ne(response.sw2 or 256)
            reissued = True
        elif response.sw1 == 0x61:
            collected += response.data
            if chained >= max_chained:
                raise StatusWordError(
                    response.sw, b"", f"card still had data after {max_chained} GET RESPONSE commands"
                )
            chained += 1
            pending = get_response(response.sw2 or 256, cla=_get_response_cla(command.cla))
            reissued = False
        elif not collected:
            return response
        else:
            return ResponseApdu(bytes(collected) + response.data, response.sw)
        response = _exchange_once(transmit, pending, tracer, clock)


def transceive_checked(
    transmit: Transmit,
    command: CommandApdu,
    *,
    tracer: ApduTracer | None = None,
    max_chained: int = 64,
    clock: Callable[[], float] = time.perf_counter,
) -> ResponseApdu:
    """:func:`transceive`, then :meth:`ResponseApdu.check`: returns only ``9000`` answers."""
    return transceive(transmit, command, tracer=tracer, max_chained=max_chained, clock=clock).check()


def run_flow(flow: Generator[Request, Answer, T], exchange: Callable[[Request], Answer]) -> T:
    """Drive a generator flow: send each yielded request through ``exchange``, feed the answer
    back, and return the flow's result (httpx ``Auth.auth_flow`` style).

    Usually the requests are :class:`CommandApdu` and the answers :class:`ResponseApdu` (a
    :data:`Flow`); a protocol that talks to two parties (card and SAM) yields requests of both
    kinds and passes an ``exchange`` that routes them.

    An exception from ``exchange`` is thrown into the flow at its ``yield`` so it can clean up or
    translate it; if the flow does not handle it, it propagates. The flow is always closed.
    """
    try:
        try:
            command = next(flow)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        while True:
            try:
                response = exchange(command)
            except Exception as exc:
                try:
                    command = flow.throw(exc)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                continue
            try:
                command = flow.send(response)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
    finally:
        flow.close()
