"""The issuance service's configuration: ``HOME/issuance-service.toml`` plus ``CARDSERVICE_ISSUANCE_*``
environment variables (the environment wins), checked once at start — the daemon's pattern, its own file.

::

    host = "0.0.0.0"                       # beyond loopback: TLS is required
    port = 8770
    tls_certificate = "/etc/cardservice/issuer.crt"
    tls_private_key = "/etc/cardservice/issuer.key"
    database_url = "postgresql+psycopg://issuer@db/cardservice"   # the registry the kiosks share
    keystore = "issuer-keys.json"          # relative to HOME; passphrase in $CARDSERVICE_KEYS_PASSPHRASE
    issuer_name = "某某市卫生健康委员会"
    issuer_code = "11000000001"
    card_fee_fen = 0

Secrets are never in the file: the key store's passphrase and the blank cards' transport keys come from the
environment variables named here (``transport_key_env``: 32 hex digits, or AUTH:SM), else the transport
keys from the key store's ``TRANSPORT_AUTH`` / ``TRANSPORT_SM``; card-sim's published blank-card key only
with ``card_sim_transport_key = true`` (the demo).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cardservice.errors import CardserviceError
from cardservice.issuance import TransportKeys
from cardservice.keys import KEYS_PASSPHRASE_ENV, KeyStore
from cardservice.settings import TomlSource, data_home, is_loopback

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_PORT",
    "ServiceConfigError",
    "ServiceSettings",
    "default_home",
    "load_service_settings",
    "transport_keys",
]

CONFIG_FILE_NAME = "issuance-service.toml"
DEFAULT_PORT = 8770
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ServiceConfigError(CardserviceError):
    """The configuration is unusable; the message lists every problem, one per line."""


def default_home() -> Path:
    """``$CARDSERVICE_ISSUANCE_HOME``, else ``$XDG_DATA_HOME/cardservice-issuance`` (``~/.local/share``)."""
    return data_home("CARDSERVICE_ISSUANCE_HOME", "cardservice-issuance")


class ServiceSettings(BaseSettings):
    """Everything ``card-issuer serve`` (``python -m cardservice.issuance_service``) reads."""

    model_config = SettingsConfigDict(env_prefix="CARDSERVICE_ISSUANCE_", extra="forbid", frozen=True)

    home: Path = Field(default_factory=default_home, description="data directory (audit key, SQLite)")
    host: str = Field(default="127.0.0.1", description="address to bind; non-loopback needs TLS")
    port: Annotated[int, Field(ge=0, le=65535)] = DEFAULT_PORT
    tls_certificate: Path | None = None
    tls_private_key: Path | None = None
    database_url: str | None = Field(
        default=None, description="the card registry's database (shared PostgreSQL); default SQLite in home"
    )
    keystore: Path = Field(description="the issuer key store (relative to home)")
    keystore_passphrase_env: Annotated[str, Field(pattern=_ENV)] = KEYS_PASSPHRASE_ENV
    transport_key_env: Annotated[str, Field(pattern=_ENV)] = "CARDSERVICE_TRANSPORT_KEY"
    card_sim_transport_key: bool = Field(
        default=False, description="card-sim's published blank-card transport key (virtual cards only)"
    )
    issuer_name: Annotated[str, Field(min_length=1, max_length=40)] = "演示发卡机构DEMO"
    issuer_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{11}$")] = "11000000001"
    card_fee_fen: Annotated[int, Field(ge=0, le=100_000)] = 0
    bank: bool = Field(default=True, description="every card gets the bank application (PBOC debit)")
    bank_oda: bool = Field(
        default=False,
        description="SDA/DDA data on the bank application: its ICC private key crosses the kiosk in clear on "
        "card-sim's card OS (no encrypted key loading for it), so off unless the kiosk link is trusted",
    )
    answer_timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        default=30.0, description="seconds the service waits for each answer of a kiosk (card, dispenser)"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @model_validator(mode="after")
    def _tls(self) -> ServiceSettings:
        if (self.tls_certificate is None) != (self.tls_private_key is None):
            raise ValueError("tls_certificate and tls_private_key go together")
        if not is_loopback(self.host) and self.tls_certificate is None:
            raise ValueError(
                f"host {self.host!r} is not a loopback address: binding there needs TLS "
                "(tls_certificate and tls_private_key)"
            )
        return self

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'issuance.db'}"

    @property
    def keystore_path(self) -> Path:
        return self.keystore if self.keystore.is_absolute() else self.home / self.keystore

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlSource(settings_cls, _config_file.path, ServiceConfigError))


class _ConfigFileSlot:
    path: Path | None = None


_config_file = _ConfigFileSlot()


def load_service_settings(
    *, home: Path | None = None, config_file: Path | None = None, **overrides: Any
) -> ServiceSettings:
    """Settings from (highest first) *overrides*, the environment, then the TOML file — *config_file*, else
    ``HOME/issuance-service.toml``. :class:`ServiceConfigError` lists every problem."""
    resolved = (home or default_home()).expanduser()
    file = config_file or resolved / CONFIG_FILE_NAME
    if config_file is not None and not config_file.is_file():
        raise ServiceConfigError(f"{config_file}: no such configuration file")
    _config_file.path = file
    try:
        if home is not None:
            overrides["home"] = resolved
        return ServiceSettings(**overrides)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in e['loc']) or 'configuration'}: {e['msg']}" for e in exc.errors()
        ]
        raise ServiceConfigError(
            f"invalid configuration ({file} and CARDSERVICE_ISSUANCE_* variables):\n" + "\n".join(lines)
        ) from None
    finally:
        _config_file.path = None


def transport_keys(settings: ServiceSettings, store: KeyStore) -> TransportKeys:
    """The blank cards' transport keys: ``$transport_key_env`` (32 hex digits, or AUTH:SM), else the key
    store's TRANSPORT_AUTH / TRANSPORT_SM, else card-sim's published ones if allowed."""
    text = os.environ.get(settings.transport_key_env)
    if text is not None:
        try:
            values = [bytes.fromhex(part) for part in text.replace(" ", "").split(":")]
        except ValueError:
            raise ServiceConfigError(
                f"${settings.transport_key_env} is not hex (32 hex digits, or AUTH:SM)"
            ) from None
        if len(values) not in (1, 2) or any(len(value) != 16 for value in values):
            raise ServiceConfigError(
                f"${settings.transport_key_env} must be 16 bytes (32 hex digits), or AUTH:SM"
            )
        return TransportKeys(values[0], values[-1])
    if "TRANSPORT_AUTH" in store and "TRANSPORT_SM" in store:
        return TransportKeys(store.get_key("TRANSPORT_AUTH"), store.get_key("TRANSPORT_SM"))
    if settings.card_sim_transport_key:
        return TransportKeys.card_sim()
    raise ServiceConfigError(
        f"no transport keys: set ${settings.transport_key_env}, or add TRANSPORT_AUTH/TRANSPORT_SM to the "
        "key store (card_sim_transport_key = true for card-sim's virtual blank cards)"
    )
