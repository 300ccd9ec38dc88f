"""The daemon (``cardservice serve``): its configuration, its log, and :func:`serve`, which assembles
database, access control, readers, HIS, payments, print queue and the API, and runs them.

    settings = load_settings(home=..., config_file=...)      # cardservice.toml + CARDSERVICE_* variables
    serve(settings, demo=False)                              # until SIGINT / SIGTERM; the exit status

``--demo`` adds what :class:`Demo` describes (``simulators.demo``, through :mod:`cardservice.plugins`).
"""

from cardservice.daemon._config import (
    CONFIG_FILE_NAME,
    BankcardConfig,
    ConfigError,
    IdCardReaderBinding,
    PinPadBinding,
    PrinterBinding,
    RateLimit,
    Settings,
    default_home,
    load_settings,
)
from cardservice.daemon._demo import Demo, DemoFactory
from cardservice.daemon._logging import configure_logging
from cardservice.daemon._serve import serve

__all__ = [
    "CONFIG_FILE_NAME",
    "BankcardConfig",
    "ConfigError",
    "Demo",
    "DemoFactory",
    "IdCardReaderBinding",
    "PinPadBinding",
    "PrinterBinding",
    "RateLimit",
    "Settings",
    "configure_logging",
    "default_home",
    "load_settings",
    "serve",
]
