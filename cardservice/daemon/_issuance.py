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

What the consent screen shows of the card (issuer, fee, bank application) is the service's
``GET /v1/issuances/terms``, over HTTP(S) to the same host and port as ``service_url`` and under the same
TLS rules, kept for a minute (:class:`KioskIssuance`).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cardservice import plugins
from cardservice.daemon._sections import installed
from cardservice.errors import CardError
from cardservice.issuance import (
    DispenserCardSource,
    IssuanceFailed,
    IssuanceResult,
    KioskRelay,
    PersonIn,
)
from cardservice.settings import is_loopback

__all__ = ["IssuanceConfig", "KioskIssuance", "ServiceTerms", "kiosk_relay"]

log = logging.getLogger(__name__)

TERMS_TTL = 60.0  # seconds the service's terms are reused: a fee changed there shows within a minute
TERMS_TIMEOUT = 5.0  # seconds for the service to answer them: the patient is waiting for the menu


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
        if not is_loopback(host):
            raise ValueError(f"{host or value!r} is not this machine: use wss:// (ws:// only to loopback)")
        return value


@dataclass(frozen=True)
class ServiceTerms:
    """The service's terms (:class:`cardservice.api._deps.IssuanceTerms`)."""

    issuer_name: str
    card_fee_fen: int
    bank_application: bool


class _TermsOut(BaseModel):
    """The part of the service's ``GET /v1/issuances/terms`` the kiosk shows (it may say more)."""

    issuer_name: Annotated[str, Field(min_length=1, max_length=40)]
    card_fee_fen: Annotated[int, Field(ge=0, le=100_000)]
    bank_application: bool


class KioskIssuance:
    """This kiosk's issuance desk (:class:`cardservice.api._deps.IssuanceDesk`): cards issued through
    *relay*; the service's terms fetched from *terms_url* with the kiosk's *token*, kept ``TERMS_TTL``
    seconds. A service that cannot be reached is :class:`IssuanceFailed` ``issuance_unavailable``."""

    def __init__(
        self, relay: KioskRelay, terms_url: str, token: str, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.relay = relay
        self._terms_url = terms_url
        self._token = token
        self._ssl = ssl_context
        self._lock = threading.Lock()  # one fetch at a time: the others take its answer
        self._terms: tuple[float, ServiceTerms] | None = None

    @property
    def url(self) -> str:
        """The relay's WebSocket URL."""
        return self.relay.url

    def issue(
        self, person: PersonIn, *, on_stage: Callable[[str], None] = lambda stage: None
    ) -> IssuanceResult:
        return self.relay.issue(person, on_stage=on_stage)

    def settle(self) -> list[str]:
        return self.relay.settle()

    def record_id_number(
        self, *, card_number: str, issuance_serial: str, id_number: str, guardian_id_number: str
    ) -> dict[str, str]:
        return self.relay.record_id_number(
            card_number=card_number, issuance_serial=issuance_serial, id_number=id_number,
            guardian_id_number=guardian_id_number,
        )  # fmt: skip

    def close(self) -> None:
        self.relay.close()

    def terms(self) -> ServiceTerms:
        with self._lock:
            if self._terms is not None and time.monotonic() - self._terms[0] < TERMS_TTL:
                return self._terms[1]
            terms = self._fetch()
            self._terms = (time.monotonic(), terms)
            return terms

    def _fetch(self) -> ServiceTerms:
        try:
            response = httpx.get(
                self._terms_url, headers={"Authorization": f"Bearer {self._token}"},
                verify=self._ssl if self._ssl is not None else True, timeout=TERMS_TIMEOUT,
                follow_redirects=False, trust_env=False,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            log.warning("the issuance service's terms cannot be fetched: %s", exc.__class__.__name__)
            raise IssuanceFailed("issuance_unavailable", "the issuance service cannot be reached") from None
        if response.status_code != 200:
            log.warning("the issuance service answered its terms with HTTP %d", response.status_code)
            raise IssuanceFailed(
                "issuance_unavailable",
                f"the issuance service refused the terms (HTTP {response.status_code})",
            )
        try:
            body = _TermsOut.model_validate_json(response.content)
        except ValidationError:
            raise IssuanceFailed(
                "issuance_unavailable", "the issuance service's terms are not as expected"
            ) from None
        return ServiceTerms(body.issuer_name, body.card_fee_fen, body.bank_application)


def terms_url(service_url: str) -> str:
    """``wss://host:port`` → ``https://host:port/v1/issuances/terms`` (``ws://`` → ``http://``)."""
    parts = urlsplit(service_url)
    scheme = "https" if parts.scheme.lower() == "wss" else "http"
    return f"{scheme}://{parts.netloc}/v1/issuances/terms"


def kiosk_relay(config: IssuanceConfig, announce: Callable[[str], None] = lambda line: None) -> KioskIssuance:
    """The desk of *config*; its key from ``$token_env`` (a :class:`CardError` naming the variable when
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

    relay = KioskRelay(config.service_url, token, source, ssl_context=context, timeout=config.timeout)
    return KioskIssuance(relay, terms_url(config.service_url), token, ssl_context=context)
