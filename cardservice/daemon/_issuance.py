"""``[issuance]``: cards issued at this kiosk by the issuance service (issue 16). The kiosk holds no issuer
key — it has a card dispenser whose read position is a PC/SC reader, and relays between the card there and
the service (:class:`cardservice.issuance.KioskRelay`)::

    [issuance]
    service_url = "wss://issuer.hospital.example:8770"   # ws:// only to this machine
    token_env = "CARDSERVICE_ISSUANCE_TOKEN"              # this kiosk's key at the service (scope issuer)
    ca_certificate = "/etc/cardservice/issuer-ca.pem"    # a private CA the service's certificate is from
    dispenser = "k720"                                   # the driver (cardservice.dispensers entry point)
    device = "/dev/ttyUSB3"
    options = { address = 0 }                            # the driver's options
    reader = "ACS ACR1281U 00 00"                        # the reader at the dispenser's read position

The reader is kept from the daemon's card handling (as a ``role = "issuer"`` reader): its cards are blanks
and cards being written, never a patient's card to read. The serial port and the reader are opened at the
first issuance, not at start: a kiosk whose dispenser is unplugged still starts, and says so when asked.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cardservice import plugins
from cardservice.daemon._sections import installed
from cardservice.errors import CardError
from cardservice.issuance import DispenserCardSource, KioskRelay

__all__ = ["IssuanceConfig", "kiosk_relay"]


def _is_this_machine(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class IssuanceConfig(BaseModel):
    """See the module docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_url: Annotated[str, Field(pattern=r"^wss?://[^/]+/?$")]
    token_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "CARDSERVICE_ISSUANCE_TOKEN"  # noqa: S105
    ca_certificate: Path | None = None
    dispenser: Annotated[
        str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"), installed(plugins.DISPENSERS)
    ]
    device: Annotated[str, Field(min_length=1)]
    options: dict[str, str | int | float] = Field(default_factory=dict)
    reader: Annotated[str, Field(min_length=1)]
    wait: Annotated[float, Field(gt=0, le=300)] = 30.0  # seconds for a card to reach the read position
    timeout: Annotated[float, Field(gt=0, le=600)] = 60.0  # seconds between two frames of the service

    @field_validator("service_url")
    @classmethod
    def _tls_beyond_this_machine(cls, value: str) -> str:
        """Keys stay at the service, but the patient's data and the card's APDUs cross the network: TLS."""
        if value.lower().startswith("wss://"):
            return value
        host = (urlsplit(value).hostname or "").lower()
        if not _is_this_machine(host):
            raise ValueError(f"{host or value!r} is not this machine: use wss:// (ws:// only to loopback)")
        return value


def kiosk_relay(config: IssuanceConfig, announce: Callable[[str], None] = lambda line: None) -> KioskRelay:
    """The relay of *config*; its key from ``$token_env`` (a :class:`CardError` naming the variable when
    unset). The dispenser and the reader are made at the first issuance."""
    token = os.environ.get(config.token_env, "").strip()
    if not token:
        raise CardError(f"[issuance] token_env: ${config.token_env} is not set")
    context = None
    if config.service_url.lower().startswith("wss://"):
        context = ssl.create_default_context(
            cafile=str(config.ca_certificate) if config.ca_certificate else None
        )

    def source() -> DispenserCardSource:
        options: dict[str, Any] = {name: str(value) for name, value in config.options.items()}
        dispenser = plugins.load(plugins.DISPENSERS, config.dispenser)(config.device, **options)
        pcsc = plugins.load(plugins.CARD_SOURCES, "pcsc")
        return DispenserCardSource(
            dispenser, lambda out: pcsc(config.reader, eject_via=out, wait=config.wait, announce=announce),
            announce=announce,
        )  # fmt: skip

    return KioskRelay(config.service_url, token, source, ssl_context=context, timeout=config.timeout)
