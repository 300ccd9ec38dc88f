"""Readers and cards for the daemon: backends (PC/SC, in-process), card profiles, the reader manager.

See :mod:`cardservice.readers._manager` for the threading model.
"""

from cardservice.readers._backend import InProcessBackend, PcscBackend, ReaderBackend, ReaderState
from cardservice.readers._errors import ServiceError, classify
from cardservice.readers._manager import CardView, ReaderInfo, ReaderManager, SamInfo, SamLink, reader_id
from cardservice.readers._profiles import CardProfile, ProfileError, ProfileTable, load_profiles

__all__ = [
    "CardProfile",
    "CardView",
    "InProcessBackend",
    "PcscBackend",
    "ProfileError",
    "ProfileTable",
    "ReaderBackend",
    "ReaderInfo",
    "ReaderManager",
    "ReaderState",
    "SamInfo",
    "SamLink",
    "ServiceError",
    "classify",
    "load_profiles",
    "reader_id",
]
