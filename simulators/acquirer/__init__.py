"""A simulated card acquirer (收单机构) for the payments gateway method: charges, refunds, queries and a
daily transaction list, with fault modes (approve, decline, timeout). Its books are its own SQLite file,
so they survive the daemon being killed. ``python -m simulators.acquirer --port N --database
sqlite:///PATH``; the API is described in :mod:`simulators.acquirer._app`."""

from simulators.acquirer._app import Faults, create_app
from simulators.acquirer._store import AcquirerStore, Transaction

__all__ = ["AcquirerStore", "Faults", "Transaction", "create_app"]
