"""QrCodeMethod: 扫码支付 — the kiosk shows a payment code from the acquirer's QR gateway and the payer's
phone pays it (``simulators.acquirer``'s ``/v1/qr`` in tests and demos).

The order model stays as it is: ``charge`` is one blocking call that ends paid, refused or in doubt, and
the kiosk learns about the code through the request's :class:`ChargeContext
<cardservice.payments._interactive.ChargeContext>`:

1. ask the gateway for a code under the reference (``Idempotency-Key``: a retry, a concurrent charge of
   the same reference or a recovered order gets the same code, never a second one);
2. publish ``progress("scan_code", {"code", "expires_at", "amount_fen"})``;
3. wait for the payment: a notification from the gateway wakes the charge at once, and the charge polls
   the gateway every ``poll_interval`` seconds besides, so a lost notification costs seconds, not the
   payment;
4. when the code runs out or the payer walks away (``context.cancel``), **close** the code at the gateway
   before answering: ``closed`` means nothing will ever be charged under it (DECLINED: ``code expired`` /
   ``cancelled``), ``paid`` that the payer paid just before (APPROVED). A payment arriving after the
   close is refused at the gateway and goes back to the phone: never money without an order.

A notification is only a hint (:meth:`QrCodeMethod.notification`): it is signed (HMAC-SHA256 of the body
under the secret shared with the gateway; a bad signature is refused and changes nothing), and what the
charge answers always comes from the gateway itself — the status it is then asked for, or the close. So
a replayed or stale notification costs one status request, and the secret signs nothing that moves
money.

Outcomes: gateway unreachable before a code exists → UNAVAILABLE (nothing was made); no (whole) answer to
the code request, or no answer to the closing → IN_DOUBT, resolved by :meth:`QrCodeMethod.query`, which
closes the reference at the gateway (an open or unknown code is closed for good: NOT_FOUND is final) or
reports what it has (a paid code: APPROVED). ``refund`` and ``records`` work like the card gateway's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import enum
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from cardservice.his import Patient
from cardservice.payments._errors import PaymentUnavailable
from cardservice.payments._interactive import ChargeContext, current_charge_context
from cardservice.payments._ledger import QRCODE_CLEARING
from cardservice.payments._methods import MethodRecord, MethodResult, MethodStatus

__all__ = ["SIGNATURE_HEADER", "NotificationOutcome", "QrCodeMethod", "sign_notification"]

_log = logging.getLogger("cardservice.payments")
_LIST_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
#: The header a gateway's notification carries its signature in: ``sha256=<hex HMAC-SHA256 of the body>``.
SIGNATURE_HEADER = "X-Qr-Signature"
#: How often a waiting charge looks at its cancel flag (a threading.Event cannot wait on two events).
_CANCEL_SLICE = 0.1


class NotificationOutcome(enum.StrEnum):
    ACCEPTED = "accepted"  # the signature is the gateway's: the charge waiting for the code was woken
    BAD_SIGNATURE = "bad_signature"  # not from the gateway (or altered): nothing was done
    MALFORMED = "malformed"  # signed, but no notification of a code: nothing was done


def sign_notification(secret: bytes, body: bytes) -> str:
    """The ``X-Qr-Signature`` value of a notification *body* under *secret*."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclasses.dataclass(frozen=True)
class _Code:
    url: str
    expires_at: str
    expires_in: float


class QrCodeMethod:
    """A :class:`PaymentMethod` paid by scanning a code. ``secret``: the key the gateway signs its
    notifications with; ``token``: this terminal's credential at the gateway (``Authorization:
    Bearer``); ``code_lifetime``: seconds a code may be paid (the gateway may give less, never more);
    ``poll_interval``: seconds between status requests while waiting; ``notify_url``: where the gateway
    notifies the payment (this daemon's ``/v1/payments/qrcode/notify``; ``None``: the gateway's own
    setting); ``read_timeout``: how long a request may take before its answer is missing."""

    clearing_account = QRCODE_CLEARING

    def __init__(
        self,
        base_url: str,
        *,
        secret: str | bytes,
        name: str = "qrcode",
        token: str | None = None,
        code_lifetime: float = 120.0,
        poll_interval: float = 3.0,
        notify_url: str | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("base_url: an http(s):// URL")
        if token is not None and (not token or not token.isprintable() or token != token.strip()):
            raise ValueError("token: printable characters, no surrounding spaces")
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < 16:
            raise ValueError("secret: at least 16 bytes")
        if not 0 < code_lifetime <= 7200 or poll_interval <= 0:
            raise ValueError("code_lifetime: (0, 7200] seconds; poll_interval: > 0 seconds")
        if notify_url is not None and not notify_url.startswith(("https://", "http://")):
            raise ValueError("notify_url: an http(s):// URL")
        self.name = name
        self._secret = key
        self._lifetime = code_lifetime
        self._poll_interval = poll_interval
        self._notify_url = notify_url
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            headers={"Authorization": f"Bearer {token}"} if token is not None else None,
        )
        self._lock = threading.Lock()
        self._waiting: dict[str, set[threading.Event]] = {}

    def __repr__(self) -> str:
        return f"QrCodeMethod({str(self._client.base_url)!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> QrCodeMethod:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the gateway over HTTP ----------------------------------------------------------------------

    def _ask(self, method: str, path: str, **kwargs: Any) -> dict[str, Any] | MethodResult:
        """The gateway's JSON answer, or what its absence or refusal means for a charge or refund."""
        try:
            response = self._client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            return MethodResult(
                MethodStatus.UNAVAILABLE, message=f"QR gateway unreachable: {type(exc).__name__}"
            )
        except httpx.HTTPError as exc:  # sent, no (whole) answer
            return MethodResult(MethodStatus.IN_DOUBT, message=f"QR gateway: {type(exc).__name__}")
        if response.status_code >= 500:
            return MethodResult(MethodStatus.IN_DOUBT, message=f"QR gateway answered {response.status_code}")
        if response.status_code in (401, 403):
            _log.error("the QR gateway refused this terminal's credentials (%d)", response.status_code)
            return MethodResult(
                MethodStatus.UNAVAILABLE,
                message=f"QR gateway refused the credentials ({response.status_code})",
            )
        try:
            body = response.json()
        except ValueError:
            return MethodResult(MethodStatus.IN_DOUBT, message="QR gateway answered no JSON")
        if response.status_code == 404:
            return MethodResult(MethodStatus.NOT_FOUND)
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", {}) if isinstance(body, dict) else {}
            code = error.get("code", "") if isinstance(error, dict) else ""
            return MethodResult(
                MethodStatus.DECLINED, message=f"QR gateway refused ({response.status_code} {code})".strip()
            )
        return body

    @staticmethod
    def _approved(body: Mapping[str, Any]) -> MethodResult:
        amount = body.get("amount_fen")
        transaction = body.get("transaction_id")
        return MethodResult(
            MethodStatus.APPROVED,
            transaction_id=str(transaction) if transaction else None,
            amount_fen=amount if isinstance(amount, int) else None,
        )

    # -- charge ------------------------------------------------------------------------------------

    def charge(
        self, reference: str, amount_fen: int, patient: Patient, *, idempotency_key: str
    ) -> MethodResult:
        # The patient is not sent: the gateway needs the reference and the amount only.
        request: dict[str, Any] = {
            "reference": reference,
            "amount_fen": amount_fen,
            "expires_in": self._lifetime,
        }
        if self._notify_url is not None:
            request["notify_url"] = self._notify_url
        body = self._ask("POST", "/v1/qr/codes", json=request, headers={"Idempotency-Key": reference})
        context = current_charge_context()
        if isinstance(body, MethodResult):
            if body.status is MethodStatus.NOT_FOUND:  # a 404 to a code request is no known outcome
                return MethodResult(
                    MethodStatus.IN_DOUBT, message="QR gateway answered 404 to a code request"
                )
            return body
        status = body.get("status")
        if status == "paid":  # this reference's code, paid already (a repeated charge)
            return self._finish(self._approved(body), context)
        if status == "closed":
            return self._finish(MethodResult(MethodStatus.DECLINED, message=_closed(body)), context)
        code = _code_of(body)
        if status != "open" or code is None:
            return self._close(reference, "QR gateway gave no code", context)
        return self._wait(reference, amount_fen, code, context)

    def _wait(self, reference: str, amount_fen: int, code: _Code, context: ChargeContext) -> MethodResult:
        start = time.monotonic()
        deadline = start + min(code.expires_in, self._lifetime)
        next_poll = start + self._poll_interval
        with self._waiter(reference) as woken:  # before the code is shown: no notification is missed
            _publish(
                context,
                "scan_code",
                {"code": code.url, "expires_at": code.expires_at, "amount_fen": amount_fen},
            )
            while True:
                if context.cancel.is_set():
                    return self._close(reference, "cancelled", context)
                now = time.monotonic()
                if now >= deadline:
                    return self._close(reference, "code expired", context)
                if woken.is_set() or now >= next_poll:
                    woken.clear()
                    next_poll = now + self._poll_interval
                    outcome = self._status(reference)
                    if outcome is not None:
                        return self._finish(outcome, context)
                    continue
                woken.wait(min(deadline - now, next_poll - now, _CANCEL_SLICE))

    def _status(self, reference: str) -> MethodResult | None:
        """Paid or closed at the gateway; ``None`` while the code is open or the gateway did not answer
        (the next poll, or the closing, will tell)."""
        body = self._ask("GET", f"/v1/qr/transactions/{reference}")
        if isinstance(body, MethodResult):
            return None
        if body.get("status") == "paid":
            return self._approved(body)
        if body.get("status") == "closed":
            return MethodResult(MethodStatus.DECLINED, message=_closed(body))
        return None

    def _close(self, reference: str, why: str, context: ChargeContext) -> MethodResult:
        """Close the code so nothing is charged under it any more, and answer what the close found."""
        body = self._ask("POST", f"/v1/qr/transactions/{reference}/close")
        if isinstance(body, MethodResult):
            # The code may still be paid: nothing is known, and nothing may be guessed (query closes it).
            return MethodResult(
                MethodStatus.IN_DOUBT, message=f"closing the code: {body.message or body.status}"
            )
        if body.get("status") == "paid":  # paid just before the close
            return self._finish(self._approved(body), context)
        if body.get("status") == "closed":
            return self._finish(MethodResult(MethodStatus.DECLINED, message=why), context)
        return MethodResult(MethodStatus.IN_DOUBT, message="QR gateway answered an unknown status to a close")

    @staticmethod
    def _finish(result: MethodResult, context: ChargeContext) -> MethodResult:
        if result.status is MethodStatus.APPROVED:
            _publish(context, "paid", {"amount_fen": result.amount_fen})
        elif result.status is MethodStatus.DECLINED:
            _publish(context, "code_closed", {"reason": result.message})
        return result

    # -- notifications -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _waiter(self, reference: str) -> Iterator[threading.Event]:
        event = threading.Event()
        with self._lock:
            self._waiting.setdefault(reference, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                events = self._waiting.get(reference, set())
                events.discard(event)
                if not events:
                    self._waiting.pop(reference, None)

    def notification(self, body: bytes, signature: str | None) -> NotificationOutcome:
        """A notification the gateway POSTed (the API's ``/v1/payments/qrcode/notify`` hands it over as
        received): checked against its signature, then it wakes the charges waiting for its code, which
        ask the gateway. Idempotent: a repeated or late notification wakes nothing that is not waiting."""
        expected = sign_notification(self._secret, body).encode()
        if signature is None or not hmac.compare_digest(signature.strip().encode(), expected):
            return NotificationOutcome.BAD_SIGNATURE
        try:
            data = json.loads(body)
        except ValueError:
            return NotificationOutcome.MALFORMED
        reference = data.get("reference") if isinstance(data, dict) else None
        if not isinstance(reference, str) or not reference:
            return NotificationOutcome.MALFORMED
        with self._lock:
            events = list(self._waiting.get(reference, ()))
        for event in events:
            event.set()
        return NotificationOutcome.ACCEPTED

    # -- query, refund, records --------------------------------------------------------------------

    def query(self, reference: str) -> MethodResult:
        """Close-or-report: a paid code or a refund answers as it is; an open or unknown reference is
        closed at the gateway first (NOT_FOUND: nothing will ever be charged under it). A code this process
        is still showing is left alone: recovery must not close it under the payer's phone."""
        with self._lock:
            if reference in self._waiting:
                return MethodResult(MethodStatus.IN_DOUBT, message="the payment code is still on screen")
        body = self._ask("POST", f"/v1/qr/transactions/{reference}/close")
        if isinstance(body, MethodResult):  # no answer, unreachable, refused: nothing is known of it
            return _unknown(body.message or f"QR gateway: {body.status.value} to a close")
        status = body.get("status")
        if status in ("paid", "approved"):
            return self._approved(body)
        if status == "declined":
            return MethodResult(MethodStatus.DECLINED, message=str(body.get("reason") or ""))
        if status == "closed":
            return MethodResult(MethodStatus.NOT_FOUND, message=_closed(body))
        return _unknown("QR gateway answered an unknown status to a close")

    def refund(self, reference: str, amount_fen: int, refund_reference: str) -> MethodResult:
        """Give (part of) the paid code *reference* back to the payer's phone."""
        body = self._ask(
            "POST",
            "/v1/qr/refunds",
            json={
                "charge_reference": reference,
                "refund_reference": refund_reference,
                "amount_fen": amount_fen,
            },
            headers={"Idempotency-Key": refund_reference},
        )
        if isinstance(body, MethodResult):
            if body.status is MethodStatus.NOT_FOUND:
                return _unknown("QR gateway answered 404 to a refund")
            return body
        status = body.get("status")
        if status == "approved":
            return self._approved(body)
        if status == "declined":
            return MethodResult(MethodStatus.DECLINED, message=str(body.get("reason") or "declined"))
        return _unknown("QR gateway answered an unknown status to a refund")

    def records(self, day: _dt.date) -> list[MethodRecord]:
        try:
            # A day's list is for reconciliation, not a patient waiting: it may take longer than a charge.
            response = self._client.get(
                "/v1/qr/transactions", params={"day": day.isoformat()}, timeout=_LIST_TIMEOUT
            )
            response.raise_for_status()
            return [
                MethodRecord(
                    reference=str(row["reference"]),
                    kind=str(row["kind"]),
                    amount_fen=int(row["amount_fen"]),
                    status=str(row["status"]),
                    transaction_id=str(row["transaction_id"]),
                    at=_dt.datetime.fromisoformat(str(row["at"])),
                )
                for row in response.json()["transactions"]
            ]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise PaymentUnavailable(f"QR gateway transaction list: {type(exc).__name__}") from None


def _code_of(body: Mapping[str, Any]) -> _Code | None:
    url, expires_at, expires_in = body.get("code_url"), body.get("expires_at"), body.get("expires_in")
    if not isinstance(url, str) or not url or not isinstance(expires_at, str):
        return None
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        return None
    return _Code(url, expires_at, float(expires_in))


def _closed(body: Mapping[str, Any]) -> str:
    reason = body.get("reason")
    return "code expired" if reason == "expired" else "code closed"


def _unknown(message: str) -> MethodResult:
    return MethodResult(MethodStatus.IN_DOUBT, message=message)


def _publish(context: ChargeContext, stage: str, detail: Mapping[str, Any]) -> None:
    """Progress for the kiosk; a failing listener never stops a payment in the middle."""
    try:
        context.progress(stage, detail)
    except Exception:  # the payer may still pay, and the wait ends at the code's expiry either way
        _log.exception("qrcode progress %s: the listener failed", stage)
