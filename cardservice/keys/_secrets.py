"""Secrets for the command-line tools: from an environment variable, else asked on the terminal.

Never from a command-line argument: every user of the machine sees those through ``ps``. Without a
terminal (a script, CI) and without the variable, the tool stops with a message naming the variable.
"""

from __future__ import annotations

import getpass
import os
import sys

from cardservice.errors import CardError

__all__ = ["KEYS_PASSPHRASE_ENV", "SAM_PIN_ENV", "keystore_passphrase", "secret_from_environment"]

KEYS_PASSPHRASE_ENV = "CARDSERVICE_KEYS_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
SAM_PIN_ENV = "CARDSERVICE_SAM_PIN"


def secret_from_environment(variable: str, *, prompt: str, needed_for: str) -> str:
    """``$variable`` if set, else the answer to *prompt* on the terminal (not echoed).

    Raises :class:`~cardservice.errors.CardError` ("*needed_for*: set VARIABLE or run on a terminal
    to be asked") when neither is available.
    """
    value = os.environ.get(variable)
    if value is not None:
        return value
    if not sys.stdin.isatty():
        raise CardError(f"{needed_for}: set {variable} or run on a terminal to be asked")
    return getpass.getpass(prompt)


def keystore_passphrase(path: str | os.PathLike[str]) -> str:
    """The passphrase of the key store at *path*: ``$CARDSERVICE_KEYS_PASSPHRASE``, else asked."""
    return secret_from_environment(
        KEYS_PASSPHRASE_ENV, prompt=f"passphrase for {path}: ", needed_for=f"--keys {path}"
    )
