"""Where device drivers and the demo come from: Python entry points, so the library never imports
``drivers/`` or ``simulators/`` — they depend on the library, and declare what they provide in their
package metadata (``pyproject.toml``)::

    [project.entry-points."cardservice.reader_backends"]   # kind -> () -> ReaderBackend
    pcsc = "drivers.readers:PcscBackend"
    [project.entry-points."cardservice.card_sources"]      # kind -> (reader, **options) -> CardSource
    pcsc = "drivers.readers:PcscCardSource"
    [project.entry-points."cardservice.feeders"]           # name -> (reader, spec) -> eject()
    card-sim = "drivers.feeders:card_sim_feeder"
    [project.entry-points."cardservice.printers"]          # kind -> (options) -> ReceiptPrinter
    network = "drivers.printers:escpos_printer"
    [project.entry-points."cardservice.dispensers"]        # kind -> (device, **options) -> CardDispenser
    k720 = "drivers.dispenser:k720_dispenser"
    [project.entry-points."cardservice.idcard_readers"]    # kind -> (**options) -> IdCardReader
    serial = "drivers.idcard:SerialIdCardReader"
    [project.entry-points."cardservice.demo"]              # "default" -> (home, announce) -> Demo
    default = "simulators.demo:Demo"

A configuration's ``kind`` names the entry point. A driver of another vendor is a package that declares
entry points in these groups; nothing in cardservice changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from cardservice.errors import CardserviceError

__all__ = [
    "CARD_SOURCES",
    "DEMO",
    "DISPENSERS",
    "FEEDERS",
    "IDCARD_READERS",
    "PINPADS",
    "PRINTERS",
    "READER_BACKENDS",
    "PluginError",
    "available",
    "load",
]

READER_BACKENDS = "cardservice.reader_backends"
CARD_SOURCES = "cardservice.card_sources"
FEEDERS = "cardservice.feeders"
PRINTERS = "cardservice.printers"
DISPENSERS = "cardservice.dispensers"
IDCARD_READERS = "cardservice.idcard_readers"
PINPADS = "cardservice.pinpads"
DEMO = "cardservice.demo"

_WHAT = {
    READER_BACKENDS: "reader backend",
    CARD_SOURCES: "card source",
    FEEDERS: "card feeder",
    PRINTERS: "printer driver",
    DISPENSERS: "card dispenser driver",
    IDCARD_READERS: "ID-card reader driver",
    PINPADS: "PIN pad driver",
    DEMO: "demo",
}


class PluginError(CardserviceError, LookupError):
    """No plugin of that name in that group (the message lists the ones there are), or it failed to load."""


@functools.cache
def _group(group: str) -> dict[str, Any]:
    return {point.name: point for point in entry_points(group=group)}


def available(group: str) -> list[str]:
    """The names of the plugins installed in *group*, sorted."""
    return sorted(_group(group))


@functools.cache
def load(group: str, name: str) -> Callable[..., Any]:
    """The factory registered as *name* in *group*."""
    point = _group(group).get(name)
    what = _WHAT.get(group, group)
    if point is None:
        there = ", ".join(available(group)) or "none installed (is the project installed? pip install -e .)"
        raise PluginError(f"no {what} {name!r}; there are: {there}")
    try:
        factory: Callable[..., Any] = point.load()
    except ImportError as exc:
        raise PluginError(f"the {what} {name!r} cannot be loaded: {exc}") from None
    return factory
