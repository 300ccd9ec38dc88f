"""The dispenser simulator's control socket: card-sim's (:mod:`simulators.control`: JSON lines on a Unix
socket, mode 0600) with the dispenser's own commands added. Every reply to them is
``{"ok": true, "dispenser": {...}}``; anything else goes to card-sim's handler for the reader's slot
``card`` (``status`` — with the dispenser's state added —, ``tear``, ``latency``, ``mute``...)::

    {"cmd": "dispenser"}                          the state: stack, card and position, reject bin, taken
    {"cmd": "jam", "at": "move", "after": 0}      the next move (present, capture) jams, after N that work
    {"cmd": "empty", "after": 0}                  the stack runs out after N more cards
    {"cmd": "refill", "count": 10}                N new blank cards at the back of the stack
    {"cmd": "low", "threshold": 3}                the low-stack sensor trips at N cards or fewer
    {"cmd": "dud", "after": 0, "tear_after": 5}   after N good cards, one whose chip dies mid-command
    {"cmd": "timeout", "after": 0}                answer N more messages, then nothing
    {"cmd": "answer"}                             answer again
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from simulators.control import handle_request
from simulators.dispenser._machine import VirtualDispenser
from simulators.vpcd import VpcdBridge

__all__ = ["DISPENSER_COMMANDS", "control_handler"]


def _count(request: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = request.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key!r} must be a non-negative integer")
    return value


def _jam(dispenser: VirtualDispenser, request: Mapping[str, Any]) -> None:
    at = request.get("at", "move")
    if not isinstance(at, str):
        raise ValueError("jam 'at' is move, present or capture")
    dispenser.arm_jam(at, _count(request, "after"))


def _low(dispenser: VirtualDispenser, request: Mapping[str, Any]) -> None:
    dispenser.low = _count(request, "threshold", dispenser.low)


DISPENSER_COMMANDS: dict[str, Callable[[VirtualDispenser, Mapping[str, Any]], object]] = {
    "dispenser": lambda dispenser, request: None,
    "jam": _jam,
    "empty": lambda dispenser, request: dispenser.empty(_count(request, "after")),
    "refill": lambda dispenser, request: dispenser.refill(_count(request, "count", 1)),
    "low": _low,
    "dud": lambda dispenser, request: dispenser.arm_dud(
        _count(request, "after"), _count(request, "tear_after", 5)
    ),
    "timeout": lambda dispenser, request: dispenser.silence(_count(request, "after")),
    "answer": lambda dispenser, request: dispenser.speak(),
}


def control_handler(
    dispenser: VirtualDispenser,
) -> Callable[[Mapping[str, VpcdBridge], object], dict[str, Any]]:
    """The request handler for :class:`simulators.control.ControlServer` (its ``handler``)."""

    def handle(slots: Mapping[str, VpcdBridge], request: object) -> dict[str, Any]:
        cmd = request.get("cmd") if isinstance(request, dict) else None
        action = DISPENSER_COMMANDS.get(cmd) if isinstance(cmd, str) else None
        if action is None:
            reply = handle_request(slots, request)
            if cmd == "status" and reply.get("ok"):
                reply["dispenser"] = dispenser.snapshot()
            return reply
        assert isinstance(request, dict)
        try:
            action(dispenser, request)
        except (ValueError, OSError) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "dispenser": dispenser.snapshot()}

    return handle
