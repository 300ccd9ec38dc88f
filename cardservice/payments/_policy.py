"""Which client may pay with which method: configuration, checked before anything is recorded.

A kiosk has no cashier behind it: the cash desk always approves, so a kiosk that could name ``cash``
could mark any bill paid and put money on any prepaid account from nothing. The methods a client may use
are given per scope of its API key (``payment_methods_by_scope``); a kiosk never gets ``cash``, whatever
the configuration says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = ["KIOSK_NEVER", "PaymentPolicy"]

#: Methods a kiosk-scoped client never gets (the cash desk approves whatever it is told).
KIOSK_NEVER = frozenset({"cash"})
# What a scope implies (an admin key may do what an HIS key may, an HIS key what a kiosk key may).
_WIDER = {"admin": ("admin", "his", "kiosk"), "his": ("his", "kiosk"), "kiosk": ("kiosk",)}


class PaymentPolicy:
    """The payment methods per scope of an API key. *by_scope*: scope → methods (absent scopes: kiosk gets
    every offered method but those of :data:`KIOSK_NEVER`, his and admin every offered method)."""

    def __init__(self, by_scope: Mapping[str, Sequence[str]] | None = None) -> None:
        self._by_scope = {scope: tuple(methods) for scope, methods in (by_scope or {}).items()}
        unknown = sorted(set(self._by_scope) - set(_WIDER))
        if unknown:
            raise ValueError(f"no such scope: {', '.join(unknown)} (there are kiosk, his, admin)")
        given = sorted(set(self._by_scope.get("kiosk", ())) & KIOSK_NEVER)
        if given:
            raise ValueError(f"kiosks never take {', '.join(given)}: a kiosk has no cashier")

    def allowed(self, scopes: Iterable[str], offered: Sequence[str]) -> list[str]:
        """The offered methods a client with *scopes* may use, in the offered order."""
        permitted: set[str] = set()
        for scope in scopes:
            for granted in _WIDER.get(str(scope), ()):
                permitted |= set(self._methods(granted, offered))
        return [method for method in offered if method in permitted]

    def _methods(self, scope: str, offered: Sequence[str]) -> Sequence[str]:
        if scope in self._by_scope:
            return self._by_scope[scope]
        if scope == "kiosk":
            return [method for method in offered if method not in KIOSK_NEVER]
        return offered
