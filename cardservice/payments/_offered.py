"""The payment methods a daemon offers, by the names its configuration lists (``payment_methods``)."""

from __future__ import annotations

from collections.abc import Sequence

from cardservice.payments._gateway import GatewayMethod
from cardservice.payments._ledger import Ledger
from cardservice.payments._methods import CashDesk, PaymentMethod, PrepaidAccount
from cardservice.payments._qrcode import QrCodeMethod

__all__ = ["METHOD_NAMES", "payment_methods"]

#: Every method this package can offer: 就诊卡账户 (prepaid), the cash desk, a card gateway (acquirer), a
#: payment code the payer's phone scans (扫码支付, the acquirer's QR gateway).
METHOD_NAMES = ("prepaid", "cash", "gateway", "qrcode", "bankcard")


def payment_methods(
    names: Sequence[str],
    ledger: Ledger,
    *,
    gateway_url: str | None = None,
    gateway_token: str | None = None,
    gateway_timeout: float = 15.0,
    qrcode_url: str | None = None,
    qrcode_secret: str | None = None,
    qrcode_token: str | None = None,
    qrcode_notify_url: str | None = None,
    qrcode_lifetime: float = 120.0,
    bankcard: PaymentMethod | None = None,
) -> list[PaymentMethod]:
    """The methods *names* lists, in that order; the ledger methods post to *ledger*. ``gateway`` needs
    *gateway_url* (a ``ValueError`` otherwise, as for a name not in :data:`METHOD_NAMES`), presents
    *gateway_token* to the acquirer and waits *gateway_timeout* seconds for a charge before it is in doubt.
    ``qrcode`` needs *qrcode_url* and *qrcode_secret* (the key its notifications are signed with), presents
    *qrcode_token* and asks to be notified at *qrcode_notify_url* (``None``: the gateway's own setting).
    ``bankcard`` is made by the daemon (it needs the readers and the PIN pad) and handed in as *bankcard*."""
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
        elif name == "qrcode":
            if qrcode_url is None or qrcode_secret is None:
                raise ValueError("the qrcode payment method needs payment_qrcode_url and its secret")
            qrcode = QrCodeMethod(
                qrcode_url,
                secret=qrcode_secret,
                token=qrcode_token,
                notify_url=qrcode_notify_url,
                code_lifetime=qrcode_lifetime,
            )
            methods.append(qrcode)
        elif name == "bankcard":
            if bankcard is None:
                raise ValueError("the bankcard payment method needs [bankcard]")
            methods.append(bankcard)
        else:
            raise ValueError(f"no payment method {name!r} (there are {', '.join(METHOD_NAMES)})")
    return methods
