"""Which printer, and how to reach it: :class:`PrinterConfig` (pydantic, frozen), checked from the
options of a ``[[printers]]`` entry by :func:`printer_config`, with one readable problem per mistake."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cardservice.printing import PaperWidth

__all__ = ["PrinterConfig", "PrinterKind", "printer_config", "problems_of"]

PrinterKind = Literal["network", "serial", "usb", "file"]

# The fields each kind needs, and the ones only that kind may set.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "network": ("host",),
    "serial": ("device",),
    "usb": ("vendor_id", "product_id"),
    "file": ("path",),
}
_OWN: dict[str, tuple[str, ...]] = {
    "network": ("host", "port"),
    "serial": ("device", "baudrate", "bytesize", "parity", "stopbits", "xonxoff", "rtscts"),
    "usb": ("vendor_id", "product_id", "in_ep", "out_ep"),
    "file": ("path",),
}


class PrinterConfig(BaseModel):
    """A receipt printer::

        PrinterConfig(kind="network", host="10.1.2.30")                 # raw TCP, port 9100
        PrinterConfig(kind="serial", device="/dev/ttyUSB0", baudrate=115200, paper=58)
        PrinterConfig(kind="usb", vendor_id=0x0416, product_id=0x5011)
        PrinterConfig(kind="file", path="/dev/usb/lp0")                  # write-only: status unknown

    ``timeout`` (seconds) bounds connecting, each write and each status reply. ``status=False`` skips the
    real-time status queries, for links that cannot answer (a print server that only forwards bytes).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PrinterKind
    paper: PaperWidth = PaperWidth.MM80
    timeout: float = Field(default=5.0, gt=0, le=120)
    status: bool = True
    # network
    host: str | None = None
    port: int = Field(default=9100, ge=1, le=65535)
    # serial
    device: str | None = None
    baudrate: int = Field(default=9600, gt=0)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: Literal[1, 2] = 1
    xonxoff: bool = False
    rtscts: bool = False
    # usb
    vendor_id: int | None = Field(default=None, ge=0, le=0xFFFF)
    product_id: int | None = Field(default=None, ge=0, le=0xFFFF)
    in_ep: int = Field(default=0x82, ge=0, le=0xFF)
    out_ep: int = Field(default=0x01, ge=0, le=0xFF)
    # file
    path: str | None = None

    @model_validator(mode="after")
    def _fields_match_kind(self) -> PrinterConfig:
        missing = [name for name in _REQUIRED[self.kind] if getattr(self, name) in (None, "")]
        if missing:
            raise ValueError(f"a {self.kind} printer needs {', '.join(missing)}")
        foreign = sorted(
            name
            for kind, names in _OWN.items()
            if kind != self.kind
            for name in names
            if name in self.model_fields_set
        )
        if foreign:
            raise ValueError(f"{', '.join(foreign)} do not apply to a {self.kind} printer")
        return self

    @property
    def dots(self) -> int:
        """Printable width in dots (384 at 58 mm, 576 at 80 mm)."""
        return self.paper.dots

    @property
    def columns(self) -> int:
        """Characters per line in font A (32 at 58 mm, 48 at 80 mm); a Chinese character takes two."""
        return self.paper.columns

    @property
    def bidirectional(self) -> bool:
        """Whether the printer can answer status queries over this link."""
        return self.kind != "file" and self.status


def problems_of(exc: ValidationError) -> str:
    """A pydantic error as one line: ``field: problem`` for each, joined by ``; ``."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def printer_config(options: Mapping[str, Any]) -> PrinterConfig:
    """The configuration of the options of a ``[[printers]]`` entry (everything but its name); a
    :class:`ValueError` that lists the problems (``a network printer needs host``, ``port: Input should
    be less than or equal to 65535``) when they are not one."""
    try:
        return PrinterConfig.model_validate(dict(options))
    except ValidationError as exc:
        raise ValueError(problems_of(exc)) from None
