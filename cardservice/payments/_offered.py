"""The payment methods a daemon offers, by the names its configuration lists (``payment_methods``)."""

from __future__ import annotations

from collections.abc import Sequence

from cardservice.payments._gateway import GatewayMethod
from cardservice.payments._ledger import Ledger
from cardservice.payments._methods import CashDesk, PaymentMethod, PrepaidAccount

__all__ = ["METHOD_NAMES", "payment_methods"]

#: Every method this package can offer: 就诊卡账户 (prepaid), the cash desk, a card gateway (acquirer).
METHOD_NAMES = ("prepaid", "cash", "gateway")


def payment_methods(
    names: Sequence[str],
    ledger: Ledger,
    *,
    gateway_url: str | None = None,
    gateway_token: str | None = None,
    gateway_timeout: float = 15.0,
) -> list[PaymentMethod]:
    """The methods *names* lists, in that order; the ledger methods post to *ledger*. ``gateway`` needs
    *gateway_url* (a ``ValueError`` otherwise, as for a name not in :data:`METHOD_NAMES`), presents
    *gateway_token* to the acquirer and waits *gateway_timeout* seconds for a charge before it is in doubt."""
    methods: list[PaymentMethod] = []
    for name in dict.fromkeys(names):
        if name == "prepaid":
            methods.append(PrepaidAccount(ledger))
        elif name == "cash":
            methods.append(CashDesk(ledger))
        elif name == "gateway":
            if gateway_url is None:
                raise ValueError("the gateway payment method needs payment_gateway_url")
            methods.append(GatewayMethod(gateway_url, token=gateway_token, read_timeout=gateway_timeout))
        else:
            raise ValueError(f"no payment method {name!r} (there are {', '.join(METHOD_NAMES)})")
    return methods
