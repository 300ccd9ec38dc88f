"""What ``cardservice serve --demo`` asks of the demo: the contract ``simulators.demo.Demo`` implements,
found through the ``cardservice.demo`` entry point (the library never imports the simulators)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cardservice.access import ApiKeys
from cardservice.readers import ReaderBackend
from cardservice.store import Database

if TYPE_CHECKING:
    from cardservice.daemon._config import Settings
    from cardservice.payments import Payments

__all__ = ["Demo", "DemoFactory"]


class Demo(Protocol):
    """The embedded default ``make run`` uses: virtual card and PSAM, a printer and an acquirer, the demo
    patient's data. Each part fills in only what the configuration leaves out."""

    def configure(self, settings: Settings) -> Settings:
        """*settings* with the demo's card reader, printer and acquirer where it has none (starting the
        children that serve them)."""
        ...

    def reader_backends(self) -> Mapping[str, ReaderBackend]:
        """Backends the demo brings, by kind (its cards in-process where pcscd cannot run)."""
        ...

    def sam_pins(self) -> Mapping[str, str]:
        """SAM reader → PIN, for the demo PSAM (published, synthetic)."""
        ...

    def seed(self, database: Database, payments: Payments | None) -> None:
        """The demo patient's bills, lab reports and prepaid money (once per database)."""
        ...

    def api_key(self, keys: ApiKeys) -> str:
        """A fresh demo API key, shown once."""
        ...

    def kiosk_key(self) -> str | None:
        """The demo's kiosk-scoped key (made by :meth:`api_key`): the kiosk page is launched with it."""
        ...

    def notes(self) -> list[str]:
        """Lines to show at start (where the tickets go, how to take the printer's paper away, ...)."""
        ...

    def close(self) -> None:
        """Stop whatever the demo started."""
        ...


DemoFactory = Callable[[Path, Callable[[str], None]], Demo]  # (home, announce) -> Demo
