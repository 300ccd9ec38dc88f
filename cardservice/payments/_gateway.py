"""GatewayMethod: an external card gateway (收单机构) over HTTP (httpx), e.g. ``simulators.acquirer``.

Each charge and refund carries its reference as the ``Idempotency-Key``: the acquirer charges a
reference once, so sending the same charge again (a retry, a recovered order) never charges twice.
A timeout or a 5xx after the request went out is IN_DOUBT — the acquirer may have charged — and only
:meth:`GatewayMethod.query` resolves it. ``query`` asks the acquirer to *close* a reference it does not
know, so a request still on its way is refused when it lands and NOT_FOUND is final. A connection
that could not even be opened sent nothing: UNAVAILABLE.

The acquirer knows the terminal by its token (``Authorization: Bearer``). An answer of 401 or 403 says
the acquirer did not act on the request (its credentials were refused): a charge or refund is
UNAVAILABLE (nothing was taken, the patient may pay otherwise), a query stays IN_DOUBT (a refusal
says nothing of the reference), and the daemon's log says why, without the token.
"""

from __future__ import annotations

import datetime as _dt
import logging
from typing import Any

import httpx

from cardservice.his import Patient
from cardservice.payments._errors import PaymentUnavailable
from cardservice.payments._ledger import GATEWAY_CLEARING
from cardservice.payments._methods import MethodRecord, MethodResult, MethodStatus

__all__ = ["GatewayMethod"]

_log = logging.getLogger("cardservice.payments")
_LIST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class GatewayMethod:
    """A :class:`PaymentMethod` at an acquirer. ``token``: this terminal's credential at the acquirer.
    ``read_timeout``: how long a charge may take before it is in doubt. ``transport``: an httpx
    transport (tests)."""

    clearing_account = GATEWAY_CLEARING

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "gateway",
        token: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("base_url: an http(s):// URL")
        if token is not None and (not token or not token.isprintable() or token != token.strip()):
            raise ValueError("token: printable characters, no surrounding spaces")
        self.name = name
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            headers={"Authorization": f"Bearer {token}"} if token is not None else None,
        )

    def __repr__(self) -> str:
        return f"GatewayMethod({str(self._client.base_url)!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> GatewayMethod:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> MethodResult | httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return MethodResult(
                MethodStatus.UNAVAILABLE, message=f"acquirer unreachable: {type(exc).__name__}"
            )
        except httpx.HTTPError as exc:  # sent, no (whole) answer
            return MethodResult(MethodStatus.IN_DOUBT, message=f"acquirer: {type(exc).__name__}")

    @staticmethod
    def _result(response: httpx.Response) -> MethodResult:
        if response.status_code >= 500:
            return MethodResult(MethodStatus.IN_DOUBT, message=f"acquirer answered {response.status_code}")
        if response.status_code in (401, 403):
            _log.error(
                "the acquirer refused this terminal's credentials (%d): check payment_gateway_token_env",
                response.status_code,
            )
            return MethodResult(
                MethodStatus.UNAVAILABLE, message=f"acquirer refused the credentials ({response.status_code})"
            )
        try:
            body = response.json()
        except ValueError:
            return MethodResult(MethodStatus.IN_DOUBT, message="acquirer answered no JSON")
        if response.status_code == 404:
            return MethodResult(MethodStatus.NOT_FOUND)
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", {}) if isinstance(body, dict) else {}
            code = error.get("code", "") if isinstance(error, dict) else ""
            return MethodResult(
                MethodStatus.DECLINED, message=f"acquirer refused ({response.status_code} {code})"
            )
        status = body.get("status")
        mapped = {
            "approved": MethodStatus.APPROVED,
            "declined": MethodStatus.DECLINED,
            "closed": MethodStatus.NOT_FOUND,
        }.get(str(status))
        if mapped is None:
            return MethodResult(MethodStatus.IN_DOUBT, message="acquirer answered an unknown status")
        amount = body.get("amount_fen")
        return MethodResult(
            mapped,
            transaction_id=str(body["transaction_id"]) if body.get("transaction_id") else None,
            amount_fen=amount if isinstance(amount, int) else None,
            message=str(body.get("message", "")),
        )

    def charge(
        self, reference: str, amount_fen: int, patient: Patient, *, idempotency_key: str
    ) -> MethodResult:
        # The patient is not sent: the acquirer needs the reference and the amount only.
        answer = self._send(
            "POST",
            "/v1/charges",
            json={"reference": reference, "amount_fen": amount_fen},
            headers={"Idempotency-Key": reference},
        )
        result = answer if isinstance(answer, MethodResult) else self._result(answer)
        if result.status is MethodStatus.NOT_FOUND:  # a charge answered 404 is not a known outcome
            return MethodResult(MethodStatus.IN_DOUBT, message="acquirer answered 404 to a charge")
        return result

    def query(self, reference: str) -> MethodResult:
        answer = self._send("POST", f"/v1/transactions/{reference}/close")
        result = answer if isinstance(answer, MethodResult) else self._result(answer)
        if result.status is MethodStatus.UNAVAILABLE:
            # Unreachable, or our credentials refused: nothing is known, and nothing may be guessed.
            return MethodResult(MethodStatus.IN_DOUBT, message=result.message)
        return result

    def refund(self, reference: str, amount_fen: int, refund_reference: str) -> MethodResult:
        answer = self._send(
            "POST",
            "/v1/refunds",
            json={
                "charge_reference": reference,
                "refund_reference": refund_reference,
                "amount_fen": amount_fen,
            },
            headers={"Idempotency-Key": refund_reference},
        )
        result = answer if isinstance(answer, MethodResult) else self._result(answer)
        if result.status is MethodStatus.NOT_FOUND:
            return MethodResult(MethodStatus.IN_DOUBT, message="acquirer answered 404 to a refund")
        return result

    def records(self, day: _dt.date) -> list[MethodRecord]:
        try:
            # A day's list is for reconciliation, not a patient waiting: it may take longer than a charge.
            response = self._client.get(
                "/v1/transactions", params={"day": day.isoformat()}, timeout=_LIST_TIMEOUT
            )
            response.raise_for_status()
            rows = response.json()["transactions"]
            return [
                MethodRecord(
                    reference=str(row["reference"]),
                    kind=str(row["kind"]),
                    amount_fen=int(row["amount_fen"]),
                    status=str(row["status"]),
                    transaction_id=str(row["transaction_id"]),
                    at=_dt.datetime.fromisoformat(str(row["at"])),
                )
                for row in rows
            ]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise PaymentUnavailable(f"acquirer transaction list: {type(exc).__name__}") from None
