"""cardservice: middleware and terminal service for China's Resident Health Card (居民健康卡, WS/T 543).

Layers, top to bottom; each imports only from those below it (pyproject.toml ``[tool.importlinter]``,
docs/architecture.md). Device drivers (``drivers/``) and simulators (``simulators/``) depend on the
library, never the reverse: :mod:`cardservice.plugins` finds them by configured kind.

- :mod:`cardservice.cli`        — the ``cardservice`` and ``card-issuer`` commands.
- :mod:`cardservice.daemon`     — configuration, logging, ``serve()`` (assembles everything below).
- :mod:`cardservice.api`        — the /v1 FastAPI app: routes by area, schemas, dependencies, error table.
- :mod:`cardservice.issuance`   — personalising blank cards, the card registry and life cycle.
- :mod:`cardservice.printing`   — tickets, templates, the printer contract, the persistent print queue.
- :mod:`cardservice.payments`   — orders over a double-entry ledger, payment methods, recovery, 对账.
- :mod:`cardservice.his`        — the HIS connector: embedded reference HIS, HTTPS client.
- :mod:`cardservice.access`     — API keys and scopes, the hash-chained audit log, the blacklist.
- :mod:`cardservice.readers`    — the reader manager: backends, roles, workers, card handles, SAM links.
- :mod:`cardservice.store`      — database, migrations, idempotency (``once``), state tables (``Lifecycle``).
- :mod:`cardservice.healthcard` — the Resident Health Card's dictionary, codecs, models, flows, session.
- :mod:`cardservice.transport`  — the transport and virtual-card contracts; the in-process transport.
- :mod:`cardservice.apdu`, :mod:`cardservice.keys`, :mod:`cardservice.plugins` — pure APDU logic; crypto
  recipes, key store, SAM protocol; the driver registry.
- :mod:`cardservice.errors`     — the one exception tree.
"""

__version__ = "0.1.0"
