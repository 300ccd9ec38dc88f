"""A whole virtual dispenser: the machine, its serial line (a pty), the reader at its read position (a
vpcd slot through card-sim's bridge) and the control socket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from drivers.feeders import default_control_path
from simulators.control import ControlServer
from simulators.dispenser._control import control_handler
from simulators.dispenser._line import PtyLine
from simulators.dispenser._machine import VirtualDispenser
from simulators.vpcd import VpcdBridge

__all__ = ["DispenserSimulator"]


class DispenserSimulator:
    """``with DispenserSimulator(directory, 20, link=Path("ttyDISP"), vpcd=("127.0.0.1", 40000)) as sim``:
    ``sim.machine`` (:class:`VirtualDispenser`), ``sim.line.path``, ``sim.control_path``. Without *vpcd*
    there is no reader (the mechanics only); the control socket defaults to card-sim's path for the vpcd
    port, so ``card-sim ctl`` reaches the reader's slot too."""

    def __init__(
        self,
        directory: Path,
        count: int,
        *,
        link: Path | None = None,
        vpcd: tuple[str, int] | None = None,
        control: Path | None = None,
        address: int = 0,
        low: int = 3,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.bridge = VpcdBridge(None, *vpcd, name="card", on_event=on_event) if vpcd else None
        self.machine = VirtualDispenser(directory, count, bridge=self.bridge, address=address, low=low)
        self.line = PtyLine(self.machine.receive, link)
        self._strict = control is None  # card-sim's rule: the default directory must be private
        if control is None and vpcd is not None:
            control = default_control_path(vpcd[1])
        self.control_path = control
        self._control: ControlServer | None = None

    def start(self) -> DispenserSimulator:
        if self.bridge is not None:
            self.bridge.start()
        self.line.start()
        if self.control_path is not None:
            slots = {"card": self.bridge} if self.bridge is not None else {}
            self._control = ControlServer(
                self.control_path, slots, strict=self._strict, handler=control_handler(self.machine)
            )
            self._control.start()
        return self

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
        self.line.stop()
        if self.bridge is not None:
            self.bridge.stop()

    def __enter__(self) -> DispenserSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
