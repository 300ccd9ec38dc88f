"""HttpHis: a hospital's HIS over docs/his-contract.md (JSON over HTTPS, httpx).

Retries: a call is repeated (exponential backoff) after a transport failure, a timeout or a 429/502/503/
504 only when repeating cannot do anything twice — reads (GETs and the patient ``.../query`` POSTs,
which the contract declares read-only) and mutating POSTs, which always carry an ``Idempotency-Key``.
Anything else is tried once. Every failure is a :class:`HisError`; a reply that is not the contract is
:class:`HisProtocolError`, never an exception from deeper down.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from cardservice.his._embedded import check_idempotency_key, check_payment_reference
from cardservice.his._errors import (
    HisError,
    HisProtocolError,
    HisRejected,
    HisTimeout,
    HisUnavailable,
    NotFound,
    error_for_code,
)
from cardservice.his._values import (
    Bill,
    BirthRecord,
    Department,
    Doctor,
    LabReport,
    Patient,
    Registration,
    Slot,
)
from cardservice.his._wire import (
    BillOut,
    BillsOut,
    BirthOut,
    DepartmentsOut,
    DoctorsOut,
    ErrorOut,
    LabReportsOut,
    RegistrationOut,
    RegistrationsOut,
    SlotsOut,
)

__all__ = ["RETRY_STATUSES", "HttpHis", "HttpHisConfig"]

_log = logging.getLogger("cardservice.his")
_M = TypeVar("_M", bound=BaseModel)

#: Statuses that say "not now" rather than "no": retried for idempotent calls.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclasses.dataclass(frozen=True)
class HttpHisConfig:
    """How to reach the HIS. ``token`` goes in ``auth_header``: as ``Bearer <token>`` in
    ``Authorization``, as is in any other header (``X-API-Key``). ``verify``: True (system CAs), a CA
    bundle path, or False (tests only). ``retries``: further attempts after the first."""

    base_url: str
    token: str | None = dataclasses.field(default=None, repr=False)
    auth_header: str = "Authorization"
    verify: bool | str = True
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.25  # seconds before the first retry, doubled for each next one

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("https://", "http://")):
            raise ValueError("base_url: an http(s):// URL")
        if self.retries < 0 or self.backoff < 0 or self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("retries and backoff must be >= 0, timeouts > 0")


class HttpHis:
    """A :class:`HisConnector` over HTTP. ``transport``: an httpx transport (tests); ``sleep``: the
    backoff's sleep (tests)."""

    def __init__(
        self,
        config: HttpHisConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._sleep = sleep
        headers = {"Accept": "application/json", "User-Agent": "cardservice-his/1"}
        if config.token is not None:
            scheme = "Bearer " if config.auth_header.lower() == "authorization" else ""
            headers[config.auth_header] = scheme + config.token
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers=headers,
            verify=config.verify,
            timeout=httpx.Timeout(config.read_timeout, connect=config.connect_timeout),
            transport=transport,
            follow_redirects=False,  # a redirect would resend a patient's data to where nobody checked
        )

    def __repr__(self) -> str:
        return f"HttpHis({self.config.base_url!r})"

    def __enter__(self) -> HttpHis:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- the connector -----------------------------------------------------------------------------

    def departments(self) -> list[Department]:
        return self._call(DepartmentsOut, "GET", "/v1/departments").value()

    def doctors(self, department_id: str) -> list[Doctor]:
        return self._call(DoctorsOut, "GET", f"/v1/departments/{_seg(department_id)}/doctors").value()

    def slots(
        self, department_id: str, *, doctor_id: str | None = None, date_from: _dt.date, date_to: _dt.date
    ) -> list[Slot]:
        params = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
        if doctor_id is not None:
            params["doctor_id"] = doctor_id
        path = f"/v1/departments/{_seg(department_id)}/slots"
        return self._call(SlotsOut, "GET", path, params=params).value()

    def book(self, patient: Patient, slot_id: str, *, idempotency_key: str) -> Registration:
        check_idempotency_key(idempotency_key)
        body = {"patient": _patient(patient), "slot_id": slot_id}
        registration = self._call(
            RegistrationOut, "POST", "/v1/registrations", json=body, idempotency_key=idempotency_key
        ).value()
        if registration.slot_id != slot_id:
            raise HisProtocolError("HIS booked another slot than the one asked for")
        return registration

    def cancel_registration(
        self, patient: Patient, registration_id: str, *, idempotency_key: str
    ) -> Registration:
        check_idempotency_key(idempotency_key)
        path = f"/v1/registrations/{_seg(registration_id)}/cancel"
        registration = self._call(
            RegistrationOut,
            "POST",
            path,
            json={"patient": _patient(patient)},
            idempotency_key=idempotency_key,
        ).value()
        if registration.id != registration_id or registration.status != "cancelled":
            raise HisProtocolError("HIS answered a cancellation with another registration or status")
        return registration

    def registrations(self, patient: Patient) -> list[Registration]:
        body = {"patient": _patient(patient)}
        return self._call(RegistrationsOut, "POST", "/v1/registrations/query", json=body, safe=True).value()

    def bills(self, patient: Patient) -> list[Bill]:
        return self._call(
            BillsOut, "POST", "/v1/bills/query", json={"patient": _patient(patient)}, safe=True
        ).value()

    def bill(self, patient: Patient, bill_id: str) -> Bill:
        path = f"/v1/bills/{_seg(bill_id)}/query"
        bill = self._call(BillOut, "POST", path, json={"patient": _patient(patient)}, safe=True).value()
        if bill.id != bill_id:
            raise HisProtocolError("HIS answered a bill query with another bill")
        return bill

    def settle_bill(
        self, patient: Patient, bill_id: str, *, payment_reference: str, amount_fen: int, idempotency_key: str
    ) -> Bill:
        check_idempotency_key(idempotency_key)
        check_payment_reference(payment_reference)
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen < 0:
            raise HisRejected("amount_fen: a non-negative integer (fen)", message_zh="缴费金额格式错误")
        body = {
            "patient": _patient(patient),
            "payment_reference": payment_reference,
            "amount_fen": amount_fen,
        }
        path = f"/v1/bills/{_seg(bill_id)}/settle"
        bill = self._call(BillOut, "POST", path, json=body, idempotency_key=idempotency_key).value()
        if bill.id != bill_id or bill.status != "settled" or bill.total_fen != amount_fen:
            raise HisProtocolError("HIS answered a settlement with another bill, status or total")
        return bill

    def birth_record(self, guardian: Patient, birth_certificate: str) -> BirthRecord:
        path = f"/v1/births/{_seg(birth_certificate)}/query"
        record = self._call(BirthOut, "POST", path, json={"patient": _patient(guardian)}, safe=True).value()
        if record.birth_certificate != birth_certificate:
            raise HisProtocolError("HIS answered a birth query with another certificate")
        return record

    def lab_reports(self, patient: Patient) -> list[LabReport]:
        body = {"patient": _patient(patient)}
        return self._call(LabReportsOut, "POST", "/v1/lab-reports/query", json=body, safe=True).value()

    # -- HTTP --------------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        idempotency_key: str | None = None,
        safe: bool = False,
    ) -> Any:
        """One call of the contract: the reply's JSON, or a :class:`HisError`. Retried (see the module
        docstring) when it is a GET, ``safe`` (read-only) or carries ``idempotency_key``."""
        retryable = method == "GET" or safe or idempotency_key is not None
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
        attempts = 1 + (self.config.retries if retryable else 0)
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.request(method, path, params=params, json=json, headers=headers)
            except httpx.HTTPError as exc:
                error = _transport_error(method, path, exc)
            else:
                if response.is_success:
                    return _json(method, path, response)
                error = _status_error(method, path, response)
                if response.status_code not in RETRY_STATUSES:
                    raise error
            if attempt == attempts or not isinstance(error, HisUnavailable):
                raise error
            delay = self.config.backoff * 2 ** (attempt - 1)
            _log.warning("his %s %s: %s; retry %d in %.2fs", method, path, error.code, attempt, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, model: type[_M], method: str, path: str, **kwargs: Any) -> _M:
        data = self.request(method, path, **kwargs)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "reply"
            # The pydantic message, not str(exc): that would quote the reply's values (personal data).
            raise HisProtocolError(
                f"HIS reply to {method} {path} is not the contract: {where}: {first['msg']}"
            ) from None
        except ValueError as exc:  # a value the dataclasses refuse
            raise HisProtocolError(f"HIS reply to {method} {path} is not the contract: {exc}") from None


def _seg(value: str) -> str:
    """An id as one path segment (``/`` and friends escaped)."""
    if not value:
        raise NotFound("empty id")
    return quote(value, safe="")


def _patient(patient: Patient) -> dict[str, str]:
    return {"card_number": patient.card_number, "name": patient.name}


def _transport_error(method: str, path: str, exc: httpx.HTTPError) -> HisError:
    if isinstance(exc, httpx.ConnectTimeout):
        return HisUnavailable(f"HIS {method} {path}: connect timeout")
    if isinstance(exc, httpx.TimeoutException):
        return HisTimeout(f"HIS {method} {path}: no answer in time ({exc.__class__.__name__})")
    if isinstance(exc, httpx.TransportError):
        return HisUnavailable(f"HIS {method} {path}: {exc.__class__.__name__}: {exc}")
    return HisProtocolError(f"HIS {method} {path}: {exc.__class__.__name__}: {exc}")


def _json(method: str, path: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise HisProtocolError(f"HIS reply to {method} {path} is not JSON") from None


def _status_error(method: str, path: str, response: httpx.Response) -> HisError:
    status = response.status_code
    try:
        body = ErrorOut.model_validate(response.json()).error
    except ValueError:  # not JSON, or not the error body (ValidationError is a ValueError)
        body = None
    if body is not None and status not in RETRY_STATUSES:
        cls = error_for_code(body.code)
        return cls(
            f"HIS {method} {path}: {status} {body.code}: {body.message}",
            message_zh=body.message_zh or None,
            details=body.details,
        )
    if status in (408, 504):
        return HisTimeout(f"HIS {method} {path}: {status}")
    if status in RETRY_STATUSES or status >= 500:
        return HisUnavailable(f"HIS {method} {path}: {status}")
    if status in (401, 403):
        return HisRejected(
            f"HIS {method} {path}: {status}: check the configured token", message_zh="认证失败"
        )
    if status == 404:
        return NotFound(f"HIS {method} {path}: 404")
    return HisRejected(f"HIS {method} {path}: {status}")
