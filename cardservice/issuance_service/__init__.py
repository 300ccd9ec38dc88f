"""The issuance service (issue 16): a process of its own that holds the issuer's key store and the card
registry and issues Resident Health Cards at kiosks — each kiosk relays APDUs between the blank card in its
dispenser and this service, which derives the card's keys from the chip's own factor and loads them under
secure messaging, so a kiosk never holds a key and nothing it sees can be replayed onto another card.

    create_app(IssuanceService(setup, authenticate, ...))   the FastAPI app (/v1/issuances/relay)
    open_service(settings)                                   the service over its settings
    serve(settings) / main(argv)                             ``python -m cardservice.issuance_service``
    load_service_settings(home=, config_file=)               HOME/issuance-service.toml + environment

The relay protocol is :mod:`cardservice.issuance._wire`; the issuing logic, without the web,
:func:`cardservice.issuance.relay_issuance`; the kiosk's side :class:`cardservice.issuance.KioskRelay`.
"""

from cardservice.issuance_service._app import IssuanceService, TermsOut, create_app
from cardservice.issuance_service._serve import main, open_service, serve, serve_command
from cardservice.issuance_service._settings import (
    CONFIG_FILE_NAME,
    DEFAULT_PORT,
    ServiceConfigError,
    ServiceSettings,
    load_service_settings,
    transport_keys,
)

__all__ = [
    "CONFIG_FILE_NAME",
    "DEFAULT_PORT",
    "IssuanceService",
    "ServiceConfigError",
    "ServiceSettings",
    "TermsOut",
    "create_app",
    "load_service_settings",
    "main",
    "open_service",
    "serve",
    "serve_command",
    "transport_keys",
]
