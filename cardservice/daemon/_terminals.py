"""The daemon's interactive payment methods, made from the configuration: the bank-card terminal (the chip's
bank application, the PIN pad, the ISO 8583 acquirer) and the QR-code gateway's secret.

Secrets come from the environment (the terminal's MAC key, the QR gateway's signing secret), never from the
file; the bank-card journal's sealing key is a file of its own in the data directory (mode 0600), made at the
first start, like the audit log's key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from cardservice.daemon._config import Settings
from cardservice.errors import CardError
from cardservice.store import Database

__all__ = ["JOURNAL_KEY_FILE", "bankcard_method", "qrcode_secret", "qrcode_token"]

#: The bank-card journal's sealing key (AES-256), in the data directory.
JOURNAL_KEY_FILE = "bankcard-journal.key"


def _journal_key(home: Path) -> bytes:
    path = home / JOURNAL_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_bytes()
        if len(key) != 32:
            raise CardError(
                f"{path}: not a 32-byte key; the bank-card journal's card data cannot be read"
            ) from None
        return key
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    return key


def _hex_secret(name: str, what: str, size: int) -> bytes:
    text = os.environ.get(name, "").strip()
    if not text:
        raise CardError(f"{what}: ${name} is not set")
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise CardError(f"{what}: ${name} is not hex") from None
    if len(value) != size:
        raise CardError(f"{what}: ${name} must be {size} bytes ({2 * size} hex digits)")
    return value


def bankcard_method(settings: Settings, database: Database, readers: Any) -> Any:
    """The ``bankcard`` payment method of ``[bankcard]``, or ``None`` when it is not offered."""
    config = settings.bankcard
    if config is None or "bankcard" not in settings.offered_payment_methods:
        return None
    from cardservice.acquiring import AcquirerLink
    from cardservice.payments import BankcardBook, BankcardMethod, IsoAcquirer
    from cardservice.pboc import TerminalConfig, load_ca_keys

    mac_key = _hex_secret(config.mac_key_env, "[bankcard] mac_key_env", 16)
    book = BankcardBook(
        database,
        terminal_id=config.terminal_id,
        merchant_id=config.merchant_id,
        journal_key=_journal_key(settings.home),
    )
    host, port = config.address
    link = AcquirerLink(host, port, connect_timeout=config.connect_timeout, read_timeout=config.read_timeout)
    pads = settings.pin_pads
    pad = pads.get(config.pinpad) if config.pinpad else next(iter(pads.values()), None)
    terminal = TerminalConfig(
        terminal_id=config.terminal_id,
        ca_keys=load_ca_keys(config.ca_keys),
        pin_pad=pad is not None,
    )
    return BankcardMethod(
        book,
        readers,
        IsoAcquirer(link, book, mac_key=mac_key),
        terminal,
        pin_pad=pad,
        pin_timeout=config.pin_timeout,
    )


def qrcode_secret(settings: Settings) -> str | None:
    """The QR gateway's notification secret, from ``payment_qrcode_secret_env``; ``None`` when not offered."""
    if "qrcode" not in settings.offered_payment_methods or not settings.payment_qrcode_secret_env:
        return None
    secret = os.environ.get(settings.payment_qrcode_secret_env, "").strip()
    if not secret:
        raise CardError(f"payment_qrcode_secret_env: ${settings.payment_qrcode_secret_env} is not set")
    return secret


def qrcode_token(settings: Settings) -> str | None:
    """This terminal's token at the QR gateway, from ``payment_qrcode_token_env`` (unset: none sent)."""
    if not settings.payment_qrcode_token_env:
        return None
    token = os.environ.get(settings.payment_qrcode_token_env, "").strip()
    if not token:
        raise CardError(f"payment_qrcode_token_env: ${settings.payment_qrcode_token_env} is not set")
    return token
