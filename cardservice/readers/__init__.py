"""Readers and cards for the daemon: the reader-backend contract, card profiles, reader bindings, and
the reader manager that runs every card operation on its reader's own worker.

    ReaderManager(backends, bindings=..., profiles=...)   see :mod:`cardservice.readers._manager`
    manager.submit(reader, lambda card: card.health.read_all())   an operation gets a CardHandle
    ReaderBackend / ReaderState                          what a backend implements (PC/SC: drivers.readers)
    InProcessBackend({reader: VirtualCard})              virtual cards in this process
    ReaderBinding / ReservedReader                       the ``[[readers]]`` of the configuration
    classify(exc) -> ServiceError                        a card failure as the API's error code
"""

from cardservice.readers._backend import InProcessBackend, ReaderBackend, ReaderState
from cardservice.readers._bindings import DEFAULT_KIND, ReaderBinding, ReaderEntry, ReservedReader, matches
from cardservice.readers._errors import CARD_ERROR_CODES, ServiceError, classify
from cardservice.readers._handle import CardHandle
from cardservice.readers._manager import CardOperation, ReaderManager
from cardservice.readers._profiles import CardProfile, ProfileError, ProfileTable, load_profiles
from cardservice.readers._sam import SamLink
from cardservice.readers._views import CardView, ReaderInfo, SamInfo, reader_id

__all__ = [
    "CARD_ERROR_CODES",
    "DEFAULT_KIND",
    "CardHandle",
    "CardOperation",
    "CardProfile",
    "CardView",
    "InProcessBackend",
    "ProfileError",
    "ProfileTable",
    "ReaderBackend",
    "ReaderBinding",
    "ReaderEntry",
    "ReaderInfo",
    "ReaderManager",
    "ReaderState",
    "ReservedReader",
    "SamInfo",
    "SamLink",
    "ServiceError",
    "classify",
    "load_profiles",
    "matches",
    "reader_id",
]
