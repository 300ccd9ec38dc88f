"""The reader manager's own records: a backend with its monitor's view of it, a user-card reader (its
worker, its card, the card's session and identity) and any other reader it lists."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from cardservice.errors import ServiceError
from cardservice.healthcard import HealthCardSession, Identity
from cardservice.readers._backend import ReaderBackend, ReaderState
from cardservice.readers._bindings import ReaderBinding
from cardservice.readers._profiles import CardProfile
from cardservice.readers._sam import SamProxy
from cardservice.transport import Transport

__all__ = ["CardSlot", "OtherReader", "Source"]


@dataclass
class Source:
    """One backend and its monitor's view of it."""

    backend: ReaderBackend
    primary: bool
    up: bool = False
    problem: str | None = None
    scanned: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def kind(self) -> str:
        return self.backend.kind


class CardSlot:
    def __init__(
        self,
        source: Source,
        name: str,
        id: str,
        binding_index: int,
        binding: ReaderBinding,
        executor: ThreadPoolExecutor,
    ) -> None:
        self.source = source
        self.name = name
        self.id = id
        self.binding_index = binding_index
        self.binding = binding
        self.executor = executor
        self.generation = 0  # bumped by the monitor on every insertion and removal
        self.present = False
        self.removed = False  # the reader is empty because a card was taken out (not empty since start)
        self.insertion_mark: tuple[bytes, int] | None = None
        self.state = "empty"
        self.problem: ServiceError | None = None
        self.card_id: str | None = None
        self.atr = b""
        self.profile: CardProfile | None = None
        self.identity: Identity | None = None
        self.masked: str | None = None
        self.transport: Transport | None = None
        self.session: HealthCardSession | None = None
        self.sam_proxy = SamProxy()
        self.ready = threading.Event()

    def wipe(self) -> None:
        """Forget the card: identity, session, ids. The transport is closed by the worker."""
        self.identity = None
        self.masked = None
        self.session = None
        self.card_id = None
        self.profile = None
        self.problem = None


@dataclass
class OtherReader:
    id: str
    role: str  # "issuer" or "unassigned"
    state: ReaderState
