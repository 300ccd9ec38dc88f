"""Who may do what, and the record of what was done: API keys with scopes, the hash-chained audit log,
and the blacklist of cards the daemon refuses. All three keep their state in :mod:`cardservice.store`.

    ApiKeys(database)
        create / cached / authenticate / revoke csk_ keys; scopes kiosk < his, issuer < admin
    AuditLog.for_home(database, home)
        record(actor=, action=, result=, card=masked, ...); verify() the chain, against the anchor kept
        beside audit.key (deleted records, an older backup put back)
    Blacklist(database)
        lookup(card_number, issuance_serial) -> entry or None; manual entries added / removed by hand,
        the card registry's with its card statuses; CSV import / export
"""

from cardservice.access._anchor import AuditAnchor
from cardservice.access._audit import AuditEntry, AuditLog, AuditVerification
from cardservice.access._blacklist import Blacklist, BlacklistEntry
from cardservice.access._tokens import ApiClientInfo, ApiKeys, Scope

__all__ = [
    "ApiClientInfo",
    "ApiKeys",
    "AuditAnchor",
    "AuditEntry",
    "AuditLog",
    "AuditVerification",
    "Blacklist",
    "BlacklistEntry",
    "Scope",
]
