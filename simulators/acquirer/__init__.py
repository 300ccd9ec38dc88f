"""A simulated card acquirer (收单机构) for the payments gateway method: charges, refunds, queries and a
daily transaction list, with fault modes (approve, decline, timeout); and QR-code payments (扫码支付) for
the qrcode method: payment codes, the payer's phone, signed notifications. Its books are its own SQLite
file, so they survive the daemon being killed. ``python -m simulators.acquirer --port N --database
sqlite:///PATH``; the API is described in :mod:`simulators.acquirer._app` and
:mod:`simulators.acquirer._qr`."""

from simulators.acquirer._app import Faults, create_app
from simulators.acquirer._qr import SIGNATURE_HEADER, QrSettings, sign
from simulators.acquirer._store import AcquirerStore, QrPayment, QrTransaction, Transaction

__all__ = [
    "SIGNATURE_HEADER",
    "AcquirerStore",
    "Faults",
    "QrPayment",
    "QrSettings",
    "QrTransaction",
    "Transaction",
    "create_app",
    "sign",
]
