"""The daemon's configuration: ``$CARDSERVICE_HOME/cardservice.toml`` plus ``CARDSERVICE_*`` environment
variables (the environment wins), validated once at start.

Every command that touches the data directory (``serve``, ``token``, ``audit``) resolves it the same way:
``--home``, else ``$CARDSERVICE_HOME``, else ``$XDG_DATA_HOME/cardservice``, else
``~/.local/share/cardservice``. The database, the audit key and the simulator's images live there.

A mistake stops the start with one line per problem, naming the key and the file it came from
(:class:`ConfigError`), never a traceback. Every problem comes out in one pass: the checks across keys
(:meth:`Settings._across_keys`) and a printer driver's checks of its entry run even when other keys are
wrong, so fixing one problem never uncovers the next.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from cardservice.daemon._issuance import IssuanceConfig
from cardservice.daemon._sections import (
    BankcardConfig,
    IdCardReaderBinding,
    PinPadBinding,
    PrinterBinding,
    with_problems,
    wrong_keys,
)
from cardservice.errors import CardserviceError
from cardservice.payments import PaymentPolicy
from cardservice.readers import ReaderEntry
from cardservice.settings import TomlSource, data_home, is_loopback

if TYPE_CHECKING:
    from cardservice.idcard import IdCardReader
    from cardservice.pinpad import PinPad
    from cardservice.printing import ReceiptPrinter

__all__ = [
    "CONFIG_FILE_NAME",
    "BankcardConfig",
    "ConfigError",
    "IdCardReaderBinding",
    "IssuanceConfig",
    "PinPadBinding",
    "PrinterBinding",
    "RateLimit",
    "Settings",
    "default_home",
    "load_settings",
]

CONFIG_FILE_NAME = "cardservice.toml"
_Scope = Literal["kiosk", "his", "admin"]
_Method = Literal["prepaid", "cash", "gateway", "bankcard", "qrcode"]
DEFAULT_PORT = 8765
_GATEWAY = frozenset({"payment_methods", "payment_gateway_url"})
_GATEWAY_TOKEN = frozenset({"payment_gateway_url", "payment_gateway_token_env"})
_TLS = frozenset({"tls_certificate", "tls_private_key"})


class ConfigError(CardserviceError):
    """The configuration is unusable; the message lists every problem, one per line."""


def default_home() -> Path:
    """``$CARDSERVICE_HOME``, else ``$XDG_DATA_HOME/cardservice``, else ``~/.local/share/cardservice``."""
    return data_home("CARDSERVICE_HOME", "cardservice")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    """Token bucket per API client for the endpoints that touch a card."""

    per_second: Annotated[float, Field(gt=0)] = 10.0
    burst: Annotated[int, Field(ge=1)] = 20


class KioskConfig(_Strict):
    """The kiosk page's settings (``[kiosk]``): what its patients are told and how long it waits."""

    idle_seconds: Annotated[int, Field(ge=30, le=600)] = 90
    # WCAG 2.2.1: at least 20 s to ask for more time.
    warning_seconds: Annotated[int, Field(ge=20, le=120)] = 30
    card_entry: Literal["insert", "tap"] = "insert"
    help_desk: Annotated[str, Field(min_length=1, max_length=40)] = "门诊大厅人工服务窗口"
    top_up_amounts_fen: list[Annotated[int, Field(gt=0, le=10**8)]] = Field(
        default_factory=lambda: [5_000, 10_000, 20_000, 50_000], min_length=1, max_length=8
    )


class Settings(BaseSettings):
    """Everything ``cardservice serve`` reads. Environment variables are ``CARDSERVICE_<FIELD>``; lists
    and tables take JSON there (``CARDSERVICE_ALLOWED_ORIGINS='["https://his.example"]'``)."""

    model_config = SettingsConfigDict(env_prefix="CARDSERVICE_", extra="forbid", frozen=True)

    home: Path = Field(default_factory=default_home, description="data directory")
    host: str = Field(default="127.0.0.1", description="address to bind; non-loopback needs TLS")
    port: Annotated[int, Field(ge=1, le=65535)] = DEFAULT_PORT
    tls_certificate: Path | None = None
    tls_private_key: Path | None = None
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default SQLite in the data directory (postgresql+psycopg://... shares)",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="extra Host header values accepted besides loopback names (DNS-rebinding guard)",
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="browser origins (scheme://host[:port]) allowed to call the API"
    )
    readers: list[ReaderEntry] = Field(
        default_factory=list,
        description="user-card readers and their SAM; readers kept for card-issuer or ignored",
    )
    card_profiles: Path | None = Field(
        default=None, description="TOML file of extra card profiles (ATR pattern → card model)"
    )
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    printers: list[PrinterBinding] = Field(
        default_factory=list, description="receipt printers for the print queue; the first is the default"
    )
    idcard_readers: list[IdCardReaderBinding] = Field(
        default_factory=list, description="ID-card readers (身份证阅读器) for /v1/idcard; the first: default"
    )
    log_file: Path | None = Field(default=None, description="JSON-lines log file (reopened after rotation)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="DEBUG, INFO, WARNING or ERROR, in any case"
    )
    card_timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        default=15.0, description="seconds one card operation may take before the client gets card_timeout"
    )
    his_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="the hospital HIS (docs/his-contract.md); unset: the embedded reference HIS",
    )
    hospital_name: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        default="居民健康卡示范医院", description="the hospital's name, printed at the head of every ticket"
    )
    print_hold_minutes: Annotated[float, Field(gt=0, le=1440)] = Field(
        default=10.0,
        description="a job held this long (printer out of paper, ...) is dropped as expired, not printed "
        "later for whoever stands at the kiosk then (reprint on request)",
    )
    print_station: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")] = Field(
        default=None,
        description="whose print jobs these are (default: the host name); daemons sharing one PostgreSQL "
        "database need different ones",
    )
    payment_gateway_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="the card-payment gateway (acquirer); unset: prepaid account and cash only "
        "(--demo starts a simulated acquirer)",
    )
    payment_gateway_token_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the token this terminal presents to the acquirer (sent as "
        "Authorization: Bearer; never in the file); needed when payment_gateway_url is not on this machine",
    )
    payment_gateway_timeout: Annotated[float, Field(gt=0, le=120)] = Field(
        default=15.0,
        description="seconds a charge at the gateway may take before it is in doubt (asked again later)",
    )
    payment_methods: list[_Method] | None = Field(
        default=None,
        min_length=1,
        description="the payment methods offered, in this order (default: prepaid, cash, then gateway, "
        "bankcard and qrcode when payment_gateway_url, [bankcard] and payment_qrcode_url are set)",
    )
    pinpads: list[PinPadBinding] = Field(
        default_factory=list,
        description="encrypting PIN pads (密码键盘); bank-card payments use [bankcard]'s",
    )
    bankcard: BankcardConfig | None = Field(
        default=None,
        description="the bank-card terminal: the chip's bank application through an ISO 8583 acquirer",
    )
    payment_qrcode_url: str | None = Field(
        default=None, pattern=r"^https?://", description="the QR-code payment gateway (扫码支付)"
    )
    payment_qrcode_secret_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding the secret the QR gateway signs its notifications with",
    )
    payment_qrcode_token_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="environment variable holding this terminal's token at the QR gateway (sent as Bearer)",
    )
    payment_qrcode_lifetime: Annotated[float, Field(ge=5, le=900)] = Field(
        default=120.0,
        description="seconds a payment code may be paid before it is closed (the kiosk counts down)",
    )
    payment_qrcode_notify_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="where the QR gateway sends its notifications (this daemon's /v1/payments/qrcode/notify "
        "as the gateway reaches it; unset: the method learns results by polling only)",
    )
    payment_methods_by_scope: dict[_Scope, list[_Method]] = Field(
        default_factory=dict,
        description="which payment methods a client may use, by its key's scope (default: kiosk every "
        "offered method but cash, his and admin all); a kiosk never gets cash",
    )
    payment_recovery_min_age: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=60.0,
        description="seconds an unfinished payment is left to the daemon making it before recovery takes it "
        "(longer than any payment step; daemons sharing a database each leave the others' in-flight orders)",
    )
    his_token_env: str | None = Field(
        default=None, description="environment variable holding the HIS API token (never in the file)"
    )
    kiosk: KioskConfig = Field(default_factory=KioskConfig, description="the kiosk page (/kiosk/)")
    issuance: IssuanceConfig | None = Field(
        default=None,
        description="cards issued at this kiosk (a dispenser; the keys stay at the issuance service)",
    )
    trusted_signers: list[Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{64}$")]] = Field(
        default_factory=list,
        description="SM3 fingerprints (hex) of the SAM public keys whose encounter-record signatures count "
        "as valid; a signature by any other key verifies as valid_untrusted",
    )

    @property
    def offered_payment_methods(self) -> list[str]:
        """The payment methods this daemon offers (``payment_methods``, else its default)."""
        if self.payment_methods is not None:
            return list(dict.fromkeys(self.payment_methods))
        return (
            ["prepaid", "cash"]
            + (["gateway"] if self.payment_gateway_url else [])
            + (["bankcard"] if self.bankcard is not None else [])
            + (["qrcode"] if self.payment_qrcode_url else [])
        )

    @property
    def pin_pads(self) -> dict[str, PinPad]:
        """The configured PIN pads by name, in order (the first is the default)."""
        return {binding.name: binding.pad for binding in self.pinpads}

    @field_validator("his_url", "payment_gateway_url", "payment_qrcode_url")
    @classmethod
    def _https_beyond_this_machine(cls, value: str | None) -> str | None:
        """Patients' data and money cross the network only over TLS: plain http only to this machine."""
        if value is None or value.lower().startswith("https://"):
            return value
        host = (urlsplit(value).hostname or "").lower()
        if not is_loopback(host):
            raise ValueError(f"{host or value!r} is not this machine: use https:// (http only to loopback)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    def _across_keys(self) -> Iterator[tuple[frozenset[str], str]]:
        """The checks that read more than one key (or a key's meaning for another): each problem with the
        keys it read."""
        if self.payment_methods and "gateway" in self.payment_methods and not self.payment_gateway_url:
            yield _GATEWAY, "payment_methods lists gateway: payment_gateway_url is needed"
        offered = self.offered_payment_methods
        if "bankcard" in offered and self.bankcard is None:
            yield (
                frozenset({"payment_methods", "bankcard"}),
                "payment_methods lists bankcard: [bankcard] is needed",
            )
        pad = self.bankcard.pinpad if self.bankcard is not None else None
        if pad is not None and pad not in {binding.name for binding in self.pinpads}:
            yield frozenset({"bankcard", "pinpads"}), f"[bankcard] pinpad {pad!r}: no such [[pinpads]] entry"
        if "qrcode" in offered and not (self.payment_qrcode_url and self.payment_qrcode_secret_env):
            yield (
                frozenset({"payment_methods", "payment_qrcode_url", "payment_qrcode_secret_env"}),
                "qrcode needs payment_qrcode_url and payment_qrcode_secret_env",
            )
        if self.payment_gateway_url and not self.payment_gateway_token_env:
            host = (urlsplit(self.payment_gateway_url).hostname or "").lower()
            if not is_loopback(host):
                # An acquirer takes money on a terminal's word: it must know which terminal is asking.
                yield (
                    _GATEWAY_TOKEN,
                    (
                        "payment_gateway_url is not on this machine: payment_gateway_token_env is needed "
                        "(the environment variable holding the acquirer's token for this terminal)"
                    ),
                )
        try:
            self.payment_policy  # noqa: B018 - checks payment_methods_by_scope (kiosks never take cash)
        except ValueError as exc:
            yield frozenset({"payment_methods_by_scope"}), str(exc)
        if (self.tls_certificate is None) != (self.tls_private_key is None):
            yield _TLS, "tls_certificate and tls_private_key go together"
        elif not self.is_loopback and self.tls_certificate is None:
            needs_tls = f"host {self.host!r} is not a loopback address: binding there needs TLS"
            yield _TLS | {"host"}, f"{needs_tls} (tls_certificate and tls_private_key)"

    @model_validator(mode="wrap")
    @classmethod
    def _every_problem_at_once(cls, data: Any, handler: ModelWrapValidatorHandler[Settings]) -> Settings:
        """The keys' own checks, then :meth:`_across_keys`: when some keys are wrong, on the others
        (validated again without the wrong ones), leaving out the checks that read a wrong key."""
        try:
            settings = handler(data)
        except ValidationError as found:
            wrong = wrong_keys(found)
            if not wrong or not isinstance(data, Mapping):
                raise
            try:
                rest = handler({key: value for key, value in data.items() if key not in wrong})
            except ValidationError:
                raise found from None
            more = [problem for keys, problem in rest._across_keys() if not keys & wrong]
            if not more:
                raise
            raise with_problems(cls.__name__, found, more, data) from None
        problems = [problem for _, problem in settings._across_keys()]
        if problems:
            raise with_problems(cls.__name__, None, problems, data)
        return settings

    @property
    def payment_policy(self) -> PaymentPolicy:
        """Which client may use which payment method (``payment_methods_by_scope``)."""
        try:
            return PaymentPolicy({str(scope): [str(m) for m in methods]
                                  for scope, methods in self.payment_methods_by_scope.items()})  # fmt: skip
        except ValueError as exc:
            raise ValueError(f"payment_methods_by_scope: {exc}") from None

    @field_validator("printers")
    @classmethod
    def _printer_names_unique(cls, value: list[PrinterBinding]) -> list[PrinterBinding]:
        names = [printer.name for printer in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"printer names must be unique: {', '.join(twice)}")
        return value

    @field_validator("idcard_readers")
    @classmethod
    def _idcard_reader_names_unique(cls, value: list[IdCardReaderBinding]) -> list[IdCardReaderBinding]:
        names = [reader.name for reader in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"ID-card reader names must be unique: {', '.join(twice)}")
        return value

    @property
    def id_card_readers(self) -> dict[str, IdCardReader]:
        """The configured ID-card readers by name, in order (the first is the default)."""
        return {binding.name: binding.reader for binding in self.idcard_readers}

    @property
    def receipt_printers(self) -> dict[str, ReceiptPrinter]:
        """The configured printers by name, in order (the first is the default), for the print queue."""
        return {binding.name: binding.printer for binding in self.printers}

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_exact(cls, value: list[str]) -> list[str]:
        for origin in value:
            if "*" in origin:
                raise ValueError("wildcard origins are not allowed; list each HIS page's origin")
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return [origin.lower() for origin in value]

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def database(self) -> str:
        """The effective database URL."""
        return self.database_url or f"sqlite:///{self.home / 'cardservice.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlSource(settings_cls, _config_file.get(), ConfigError))


class _ConfigFileSlot:
    """Which TOML file the next :func:`load_settings` reads (pydantic-settings builds sources itself)."""

    path: Path | None = None

    def get(self) -> Path | None:
        return self.path


_config_file = _ConfigFileSlot()


def load_settings(*, home: Path | None = None, config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from (highest first) *overrides*, the environment, then the TOML file — *config_file*,
    else ``HOME/cardservice.toml``. Raises :class:`ConfigError` listing every problem."""
    resolved_home = (home or default_home()).expanduser()
    file = config_file or resolved_home / CONFIG_FILE_NAME
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"{config_file}: no such configuration file")
    _config_file.path = file
    try:
        if home is not None:
            overrides["home"] = resolved_home
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "configuration"
            lines.append(f"  {where}: {error['msg']}")
        raise ConfigError(
            f"invalid configuration ({file} and CARDSERVICE_* variables):\n" + "\n".join(lines)
        ) from None
    finally:
        _config_file.path = None
