"""The ISO 8583 side's controls on the simulated acquirer's HTTP surface (next to its ``/control``), as a
router that ``python -m simulators.acquirer --iso-port N`` includes. Like ``/control``, open (a tester's
switch on loopback), never under the terminals' token::

    GET  /iso/control                       the armed one-shot faults
    POST /iso/control                       arm: {"decline_next": "05"} | {"timeout_next": "applied" |
                                            "not-applied"} | {"drop_next": ...} | {"corrupt_next_arpc": true}
                                            | {"script_next": {"command": "block" | "unblock" |
                                            "pin-unblock" | "put-balance", "template": "71" | "72",
                                            "balance_fen": N}} | {"clear": true}; several keys at once
    GET  /iso/accounts/{pan}                a card's balance and online PIN failures
    POST /iso/accounts/{pan}                {"balance_fen": N} and/or {"reset_pin_tries": true}
    GET  /iso/transactions?day=YYYY-MM-DD   the day's ISO transactions (PANs masked)
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

from simulators.acquirer._iso_server import IsoAcquirerServer
from simulators.acquirer._issuer import ScriptRequest

__all__ = ["iso_control_router"]

_PAN = r"^\d{12,19}$"


class ScriptIn(BaseModel):
    command: Literal["block", "unblock", "pin-unblock", "put-balance"]
    template: Literal["71", "72"] = "72"
    balance_fen: int | None = Field(default=None, ge=0, lt=10**12)


class IsoControlIn(BaseModel):
    decline_next: str | None = Field(default=None, pattern=r"^[0-9A-Z]{2}$")
    timeout_next: Literal["applied", "not-applied"] | None = None
    drop_next: Literal["applied", "not-applied"] | None = None
    corrupt_next_arpc: bool = False
    script_next: ScriptIn | None = None
    clear: bool = False


class AccountIn(BaseModel):
    balance_fen: int | None = Field(default=None, ge=0)
    reset_pin_tries: bool = False


def iso_control_router(server: IsoAcquirerServer) -> APIRouter:
    router = APIRouter(prefix="/iso")
    store = server.issuer.store

    @router.get("/control")
    def get_control() -> dict[str, Any]:
        return server.controls().as_json()

    @router.post("/control")
    def set_control(body: IsoControlIn) -> dict[str, Any]:
        if body.clear:
            server.clear_controls()
        if body.decline_next is not None:
            server.decline_next(body.decline_next)
        if body.timeout_next is not None:
            server.timeout_next(applied=body.timeout_next == "applied")
        if body.drop_next is not None:
            server.drop_next(applied=body.drop_next == "applied")
        if body.corrupt_next_arpc:
            server.corrupt_next_arpc()
        if body.script_next is not None:
            script = body.script_next
            try:
                request = ScriptRequest(script.command, int(script.template, 16), script.balance_fen)
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from None
            server.script_next(request)
        return server.controls().as_json()

    def account_json(pan: str) -> dict[str, Any]:
        account = store.account(pan)
        return {"balance_fen": account.balance_fen, "pin_failures": account.pin_failures}

    @router.get("/accounts/{pan}")
    def get_account(pan: Annotated[str, Path(pattern=_PAN)]) -> dict[str, Any]:
        return account_json(pan)

    @router.post("/accounts/{pan}")
    def set_account(pan: Annotated[str, Path(pattern=_PAN)], body: AccountIn) -> dict[str, Any]:
        if body.balance_fen is not None:
            store.set_balance(pan, body.balance_fen)
        if body.reset_pin_tries:
            server.issuer.reset_pin_tries(pan)
        return account_json(pan)

    @router.get("/transactions")
    def transactions(day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> dict[str, Any]:
        return {"day": day, "transactions": [r.as_json() for r in store.records(day)]}

    return router
