"""Sections of the daemon's configuration that make devices and payment terminals: printers, ID-card readers
and PIN pads (each made by its driver, found by ``kind``), and the bank-card terminal ``[bankcard]``.

Kept apart from :mod:`._config` (the settings as a whole) because each entry here is checked by code that is
not the configuration's: a driver's factory checks its options and makes the device, so an entry's problems
come out with the driver's words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from cardservice import plugins
from cardservice.errors import CardserviceError

if TYPE_CHECKING:
    from cardservice.idcard import IdCardReader
    from cardservice.pinpad import PinPad
    from cardservice.printing import ReceiptPrinter

__all__ = [
    "BankcardConfig",
    "IdCardReaderBinding",
    "PinPadBinding",
    "PrinterBinding",
    "installed",
    "with_problems",
    "wrong_keys",
]

_KIND = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # a driver's name, as its entry point is named


def installed(group: str) -> AfterValidator:
    """The check of a device entry's ``kind``: a driver of that name is installed in *group* (the error
    lists the ones there are)."""

    def check(kind: str) -> str:
        try:
            plugins.load(group, kind)
        except plugins.PluginError as exc:
            raise ValueError(str(exc)) from None
        return kind

    return AfterValidator(check)


def with_problems(
    title: str, found: ValidationError | None, problems: Iterable[str], data: Any
) -> ValidationError:
    """The problems of *found* (if any) and *problems* (of the whole model: ``Value error, ...``) as one
    error, so the configuration error lists them all. Each keeps its type and message as they were (a
    custom error without context is never formatted again)."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError(error["type"], error["msg"]), loc=error["loc"], input=error["input"]
        )
        for error in (found.errors() if found is not None else [])
    ]
    details += [
        InitErrorDetails(
            type=PydanticCustomError("value_error", f"Value error, {problem}"), loc=(), input=data
        )
        for problem in problems
    ]
    return ValidationError.from_exception_data(title, details)


def wrong_keys(found: ValidationError) -> set[str]:
    """The top-level keys a validation error names (a problem of the whole model names none)."""
    return {str(error["loc"][0]) for error in found.errors() if error["loc"]}


class PrinterBinding(BaseModel):
    """A receipt printer, by the name print jobs use (the first one listed is the default)::

        [[printers]]
        name = "front"
        kind = "network"            # network (raw TCP) | serial | usb | file | dummy, or another driver's
        host = "10.1.2.30"          # port = 9100 by default
        paper = 80                  # 58 or 80 (mm)

    ``kind`` names the printer driver (an entry point of ``cardservice.printers``, see
    :mod:`cardservice.plugins`); the driver checks the other keys (its defaults apply) and makes the
    :class:`~cardservice.printing.ReceiptPrinter`. The ESC/POS driver's keys: network ``host``, ``port``;
    serial ``device``, ``baudrate``, ``bytesize``, ``parity``, ``stopbits``, ``xonxoff``, ``rtscts``; usb
    ``vendor_id``, ``product_id`` (TOML takes ``0x0416``), ``in_ep``, ``out_ep``; file ``path`` (e.g.
    ``/dev/usb/lp0``). Any kind: ``paper``, ``timeout`` (seconds, default 5), ``status = false`` for a
    link that cannot answer status queries. Keys not listed here go to the driver as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    kind: Annotated[str, Field(pattern=_KIND), installed(plugins.PRINTERS)]
    paper: Literal[58, 80] | None = None
    timeout: float | None = None
    status: bool | None = None
    host: str | None = None
    port: int | None = None
    device: str | None = None
    baudrate: int | None = None
    bytesize: int | None = None
    parity: str | None = None
    stopbits: int | None = None
    xonxoff: bool | None = None
    rtscts: bool | None = None
    vendor_id: int | None = None
    product_id: int | None = None
    in_ep: int | None = None
    out_ep: int | None = None
    path: str | None = None
    _printer: ReceiptPrinter | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _is_a_printer(cls, data: Any, handler: ModelWrapValidatorHandler[PrinterBinding]) -> PrinterBinding:
        """The entry's own keys, then the driver of its ``kind``, whose factory checks the options and
        makes the printer (``ValueError``: one readable line of problems). The driver checks the other keys
        even when some are wrong here, so an entry's problems come out together; a key refused here is
        not passed on (it would be reported twice)."""
        try:
            binding = handler(data)
        except ValidationError as found:
            wrong = wrong_keys(found)
            kind = data.get("kind") if isinstance(data, Mapping) else None
            if "kind" in wrong or not isinstance(kind, str):
                raise
            options = {key: value for key, value in data.items()
                       if key != "name" and key not in wrong and value is not None}  # fmt: skip
            try:
                plugins.load(plugins.PRINTERS, kind)(options)
            except ValueError as problem:
                raise with_problems(cls.__name__, found, [str(problem)], data) from None
            raise
        if binding._printer is None:
            binding._printer = plugins.load(plugins.PRINTERS, binding.kind)(binding.options)
        return binding

    @property
    def options(self) -> dict[str, Any]:
        """What the driver's factory gets: every key set but the name."""
        return self.model_dump(exclude={"name"}, exclude_none=True)

    @property
    def printer(self) -> ReceiptPrinter:
        """The printer, as its driver made it from the options."""
        if self._printer is None:  # pragma: no cover - set by validation
            raise CardserviceError(f"printer {self.name!r} was not validated")
        return self._printer


class IdCardReaderBinding(BaseModel):
    """An ID-card reader (身份证阅读器, GA/T 467), by the name API requests use (the first is the default)::

        [[idcard_readers]]
        name = "desk"
        kind = "serial"             # the driver: an entry point of cardservice.idcard_readers
        device = "/dev/ttyUSB1"
        baudrate = 115200           # as set on the reader: 9600, 19200, 38400, 57600 or 115200
        timeout = 3                 # seconds a reply may take, beyond its transfer time
        fingerprint = false         # read the fingerprint too (30 10), kept opaque like the photo

    The driver checks the keys it takes (keys not listed here go to it as they are) and makes the reader;
    the port opens at the first poll, so a reader unplugged at start is found when it is plugged in."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    kind: Annotated[str, Field(pattern=_KIND), installed(plugins.IDCARD_READERS)] = "serial"
    device: str | None = None
    baudrate: int | None = None
    timeout: float | None = None
    fingerprint: bool | None = None
    _reader: IdCardReader | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _is_a_reader(self) -> IdCardReaderBinding:
        """The driver of ``kind`` checks the options and makes the reader (no I/O yet)."""
        if self._reader is None:
            try:
                self._reader = plugins.load(plugins.IDCARD_READERS, self.kind)(**self.options)
            except (TypeError, ValueError) as problem:
                raise ValueError(f"{self.kind} ID-card reader: {problem}") from None
        return self

    @property
    def options(self) -> dict[str, Any]:
        """What the driver's factory gets, as keywords: every key set but the name and the kind."""
        return self.model_dump(exclude={"name", "kind"}, exclude_none=True)

    @property
    def reader(self) -> IdCardReader:
        if self._reader is None:  # pragma: no cover - set by validation
            raise CardserviceError(f"ID-card reader {self.name!r} was not validated")
        return self._reader


class PinPadBinding(BaseModel):
    """An encrypting PIN pad (密码键盘), by name (the first is the one bank-card payments use)::

        [[pinpads]]
        name = "pad"
        kind = "serial"             # the driver: an entry point of cardservice.pinpads
        device = "/dev/ttyUSB2"
        baudrate = 9600
        timeout = 2                 # seconds a frame's answer may take

    The driver checks the keys it takes and makes the pad; the port opens at the first use."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    kind: Annotated[str, Field(pattern=_KIND), installed(plugins.PINPADS)] = "serial"
    device: str | None = None
    baudrate: int | None = None
    timeout: float | None = None
    _pad: PinPad | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _is_a_pad(self) -> PinPadBinding:
        if self._pad is None:
            try:
                self._pad = plugins.load(plugins.PINPADS, self.kind)(**self.options)
            except (TypeError, ValueError) as problem:
                raise ValueError(f"{self.kind} PIN pad: {problem}") from None
        return self

    @property
    def options(self) -> dict[str, Any]:
        return self.model_dump(exclude={"name", "kind"}, exclude_none=True)

    @property
    def pad(self) -> PinPad:
        if self._pad is None:  # pragma: no cover - set by validation
            raise CardserviceError(f"PIN pad {self.name!r} was not validated")
        return self._pad


class BankcardConfig(BaseModel):
    """The bank-card terminal (``[bankcard]``): paying with the chip's bank application through an acquirer
    over ISO 8583::

        [bankcard]
        acquirer = "10.1.2.40:5000"       # host:port of the acquirer's ISO 8583 endpoint (CUP-style framing)
        terminal_id = "00000001"          # field 41, as the acquirer registered this kiosk
        merchant_id = "898110000000001"   # field 42
        mac_key_env = "CARDSERVICE_TAK"   # environment variable holding the terminal's MAC key (hex)
        pinpad = "pad"                    # a [[pinpads]] name (default: the first)

    The MAC key is never in the file. ``ca_keys``: the CA public keys for offline data authentication (a
    TOML file like the packaged ``cardservice/pboc/capk.toml``; default: that one, holding the demo CA)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    acquirer: Annotated[str, Field(pattern=r"^[A-Za-z0-9.:\[\]-]+:[0-9]{1,5}$")]
    terminal_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{8}$")]
    merchant_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{15}$")]
    mac_key_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "CARDSERVICE_BANKCARD_TAK"
    pinpad: str | None = None
    ca_keys: Path | None = None
    connect_timeout: Annotated[float, Field(gt=0, le=30)] = 3.0
    read_timeout: Annotated[float, Field(gt=0, le=120)] = 30.0
    pin_timeout: Annotated[int, Field(ge=5, le=120)] = 30

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.acquirer.rpartition(":")
        return host.strip("[]"), int(port)
