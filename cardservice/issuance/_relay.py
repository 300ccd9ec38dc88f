"""The kiosk's side of remote issuance: a card dispenser and the reader at its read position, driven by the
issuance service over one WebSocket per issuance (:mod:`._wire`). The kiosk holds no issuer key: it moves
cards when told, relays APDUs between the card and the service, and shows the stages it is told of.

    relay = KioskRelay(url, token, source)      # source: a DispenserCardSource (or a factory of one)
    relay.issue(person, on_stage=...) -> IssuanceResult      or IssuanceFailed (a coded error)
    relay.settle() -> notes                      what the read position held, settled (at start)

Each session first resets the dispenser (a jam or a fault stops it here, before the service is asked), then
tells the service which card is at the read position (its ATR), so a card a killed kiosk left there is
settled by the service's journal before anything else: presented if it is a live card, else captured.
One session at a time: a second one meanwhile fails ``issuance_busy`` without touching the dispenser.

Errors (``IssuanceFailed.code``): the service's refusals and failures as it named them (``already_has_card``,
``blacklisted``, ``card_spoiled``, ``dispenser_*``...), ``issuance_unavailable`` (the service cannot be
reached, or refuses this kiosk's key), ``issuance_interrupted`` (the link broke mid-way: the card, if any,
stays at the read position for the next session to settle). Never logged: APDUs, personal data.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from cardservice.errors import CardAbsentError, CardError, CodedError
from cardservice.issuance._dispenser import DispenserCardSource, DispenserError
from cardservice.issuance._wire import (
    MAX_FRAME,
    Answer,
    Apdu,
    Capture,
    Dispense,
    Done,
    Failed,
    Opening,
    PersonIn,
    Present,
    Stage,
    parse_service_frame,
)

__all__ = ["IssuanceFailed", "IssuanceResult", "KioskRelay"]

log = logging.getLogger(__name__)

_MESSAGES_ZH = {
    "issuance_unavailable": "发卡服务暂时无法连接，请到人工窗口办理",
    "issuance_interrupted": "发卡中断，请到人工窗口办理",
    "issuance_busy": "本机正在发卡，请稍候",
}


class IssuanceFailed(CodedError):
    """The issuance did not make a card; ``code`` per instance (see the module docstring), ``message_zh``
    what the patient reads."""

    default_zh = "发卡失败，请到人工窗口办理"

    def __init__(self, code: str, message: str, message_zh: str | None = None) -> None:
        super().__init__(message, message_zh=message_zh or _MESSAGES_ZH.get(code))
        self.code = code

    def __repr__(self) -> str:
        return f"IssuanceFailed({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class IssuanceResult:
    """The card handed out: its number masked, registry status, issuance serial; the service's notes on
    what it settled first."""

    masked: str
    status: str
    serial: str
    notes: list[str] = field(default_factory=list)


class KioskRelay:
    """One kiosk's dispenser, driven by the issuance service at *url* (``wss://``; ``ws://`` to loopback)
    with the kiosk's key *token* (scope ``issuer``). *source*: the dispenser and its read position's reader,
    or a callable making it at first use (the serial port and reader are then opened when needed); closed
    by :meth:`close`. *timeout*: seconds the kiosk waits for the service's next frame."""

    def __init__(
        self,
        url: str,
        token: str,
        source: DispenserCardSource | Callable[[], DispenserCardSource],
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 60.0,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url.rstrip("/") + "/v1/issuances/relay"
        self.http_url = "http" + url.rstrip("/").removeprefix("ws")  # ws → http, wss → https
        self._token = token
        self._make = source if callable(source) else (lambda: source)
        self._source: DispenserCardSource | None = None
        self._ssl = ssl_context
        self._timeout = timeout
        self._open_timeout = open_timeout
        self._lock = threading.Lock()
        self._card: Any = None

    def issue(
        self, person: PersonIn, *, on_stage: Callable[[str], None] = lambda stage: None
    ) -> IssuanceResult:
        """Issue *person* a card (see the module docstring); :class:`IssuanceFailed` when none was."""
        done = self._session(person, on_stage)
        if done.card is None:  # pragma: no cover - the service answers a person with a card or a failure
            raise IssuanceFailed("issuance_interrupted", "the service issued no card")
        card = done.card
        return IssuanceResult(card.masked, card.status, card.serial, list(done.notes))

    def record_id_number(
        self, *, card_number: str, issuance_serial: str, id_number: str, guardian_id_number: str
    ) -> dict[str, str]:
        """Have the service record a child's ID number for their card (``POST /v1/issuances/id-number``):
        its answer (masked numbers, status); :class:`IssuanceFailed` with the service's refusal code."""
        import httpx

        body = {"card_number": card_number, "issuance_serial": issuance_serial, "id_number": id_number,
                "guardian_id_number": guardian_id_number}  # fmt: skip
        verify: ssl.SSLContext | bool = self._ssl if self._ssl is not None else True
        try:
            with httpx.Client(verify=verify, timeout=self._open_timeout, trust_env=False) as client:
                response = client.post(
                    self.http_url + "/v1/issuances/id-number", json=body,
                    headers={"Authorization": f"Bearer {self._token}"},
                )  # fmt: skip
        except httpx.HTTPError as exc:
            log.warning("the issuance service cannot be reached: %s", exc.__class__.__name__)
            raise IssuanceFailed("issuance_unavailable", "the issuance service cannot be reached") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and isinstance(answer, dict):
            return {key: str(value) for key, value in answer.items()}
        if response.status_code in (404, 409) and isinstance(answer, dict) and "code" in answer:
            raise IssuanceFailed(str(answer["code"]), str(answer.get("message", ""))[:300],
                                 str(answer.get("message_zh", "")) or None)  # fmt: skip
        raise IssuanceFailed(
            "issuance_unavailable", f"the issuance service answered HTTP {response.status_code}"
        )

    def settle(self) -> list[str]:
        """Have the service settle what the read position holds (and this kiosk's unfinished cards)."""
        return list(self._session(None, lambda stage: None).notes)

    def close(self) -> None:
        with self._lock:
            if self._source is not None:
                self._source.close()
                self._source = None

    # -- one session -------------------------------------------------------------------------------------

    def _session(self, person: PersonIn | None, on_stage: Callable[[str], None]) -> Done:
        if not self._lock.acquire(blocking=False):
            raise IssuanceFailed("issuance_busy", "this kiosk is issuing a card already")
        try:
            source = self._prepared()
            opening = Opening(
                atr=self._card.atr.hex().upper() if self._card is not None else None, person=person
            )
            with self._connect() as link:
                return self._relay(link, source, opening, on_stage)
        finally:
            self._lock.release()

    def _prepared(self) -> DispenserCardSource:
        """The dispenser reset and checked; the card at its read position (if any) in ``_card``."""
        try:
            if self._source is None:
                self._source = self._make()
            source = self._source
            status = source.prepare()
            self._card = source.next_card() if status.card_at_read_position else None
        except DispenserError as exc:
            raise IssuanceFailed(exc.code, str(exc), exc.message_zh) from None
        except CardError as exc:
            raise IssuanceFailed("card_error", f"the card at the read position: {exc}") from None
        return source

    def _connect(self) -> ClientConnection:
        try:
            return connect(
                self.url, additional_headers={"Authorization": f"Bearer {self._token}"}, ssl=self._ssl,
                open_timeout=self._open_timeout, max_size=MAX_FRAME, compression=None, proxy=None,
                user_agent_header="cardservice-kiosk",
            )  # fmt: skip
        except InvalidStatus as exc:
            status = exc.response.status_code
            log.warning("the issuance service refused the connection (HTTP %d)", status)
            raise IssuanceFailed(
                "issuance_unavailable", f"the issuance service refused this kiosk (HTTP {status})"
            ) from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            log.warning("the issuance service cannot be reached: %s", exc.__class__.__name__)
            raise IssuanceFailed("issuance_unavailable", "the issuance service cannot be reached") from None

    def _relay(
        self,
        link: ClientConnection,
        source: DispenserCardSource,
        opening: Opening,
        on_stage: Callable[[str], None],
    ) -> Done:
        try:
            link.send(opening.model_dump_json(exclude_none=True))
            while True:
                frame = parse_service_frame(link.recv(timeout=self._timeout))
                if isinstance(frame, Stage):
                    on_stage(frame.stage)
                elif isinstance(frame, Done):
                    return frame
                elif isinstance(frame, Failed):
                    raise IssuanceFailed(frame.code, frame.message, frame.message_zh)
                else:
                    link.send(self._execute(source, frame).model_dump_json(exclude_none=True))
        except (ConnectionClosed, TimeoutError, ValidationError, json.JSONDecodeError) as exc:
            log.warning("issuance link lost: %s", exc.__class__.__name__)
            raise IssuanceFailed(
                "issuance_interrupted",
                "the link to the issuance service broke off; the card stays for the next session to settle",
            ) from None

    def _execute(self, source: DispenserCardSource, frame: Dispense | Apdu | Present | Capture) -> Answer:
        """One operation on the dispenser or the card, as an answer (its failure as an error answer)."""
        try:
            if isinstance(frame, Dispense):
                self._card = source.next_card()
                return Answer(atr=self._card.atr.hex().upper())
            if self._card is None:
                return Answer(error="no_card", message="no card at the read position")
            if isinstance(frame, Apdu):
                return Answer(r=self._card.transmit(bytes.fromhex(frame.c)).hex().upper())
            card, self._card = self._card, None
            (source.eject if isinstance(frame, Present) else source.reject)(card)
            return Answer(ok=True)
        except DispenserError as exc:
            return Answer(error=exc.code, message=str(exc)[:300])
        except CardAbsentError as exc:
            return Answer(error="card_absent", message=str(exc)[:300])
        except CardError as exc:
            return Answer(error="card_error", message=str(exc)[:300])
