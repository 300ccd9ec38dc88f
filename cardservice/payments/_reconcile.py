"""Daily reconciliation (对账): what the ledger says each payment method did on a hospital day, against
the method's own records for that day (the acquirer's transaction list; an in-database method's own
ledger transactions), with every difference listed.

Ledger side, per method: the payments service's postings (``payment`` / ``top_up`` debit the method's
clearing account; ``refund`` credits it; a ``reversal`` cancels a refund that did not happen). Method
side: its approved charges and refunds. Both are keyed by (reference, kind): a charge is never matched
by a refund of the same reference. A record on one side only, with another amount, approved on one
side and declined on the other, or listed more than once by the method is a mismatch; and the net
totals (charges minus refunds) of the two sides must agree, else a ``totals_differ`` line says by how
much — whatever the lines above it explain. A method that settles batches with its host (the bank card:
ISO 8583 0500, one batch per day) is settled too: a batch the host does not balance, or a host that does not
answer, is a ``settlement_differs`` line.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
from collections.abc import Iterable

from cardservice.payments._errors import PaymentUnavailable
from cardservice.payments._ledger import Ledger
from cardservice.payments._methods import MethodRecord, PaymentMethod

__all__ = ["MethodTotals", "Mismatch", "ReconciliationReport", "reconcile"]

MISSING_AT_METHOD = "missing_at_method"
MISSING_IN_LEDGER = "missing_in_ledger"
AMOUNT_DIFFERS = "amount_differs"
STATUS_DIFFERS = "status_differs"
DUPLICATE_AT_METHOD = "duplicate_at_method"
TOTALS_DIFFER = "totals_differ"
SETTLEMENT_DIFFERS = "settlement_differs"


@dataclasses.dataclass(frozen=True)
class Mismatch:
    method: str
    reference: str
    kind: str  # charge / refund (net: the totals line)
    problem: str  # missing_at_method / missing_in_ledger / amount_differs / status_differs /
    # duplicate_at_method / totals_differ / method_unreachable
    ledger_fen: int | None
    method_fen: int | None
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class MethodTotals:
    """Per method: counts and net amounts (charges minus refunds) on each side."""

    method: str
    ledger_count: int
    ledger_fen: int
    method_count: int
    method_fen: int
    matched: int
    reachable: bool = True


@dataclasses.dataclass(frozen=True)
class ReconciliationReport:
    day: _dt.date
    totals: tuple[MethodTotals, ...]
    mismatches: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches and all(t.reachable for t in self.totals)

    def csv(self) -> str:
        """One line per mismatch (a header first)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["day", "method", "reference", "kind", "problem", "ledger_fen", "method_fen", "detail"]
        )
        for m in self.mismatches:
            writer.writerow(
                [
                    self.day.isoformat(),
                    m.method,
                    m.reference,
                    m.kind,
                    m.problem,
                    "" if m.ledger_fen is None else m.ledger_fen,
                    "" if m.method_fen is None else m.method_fen,
                    m.detail,
                ]
            )
        return out.getvalue()

    def text(self) -> str:
        lines = [f"对账 reconciliation {self.day.isoformat()}: {'OK' if self.ok else 'MISMATCHES'}", ""]
        lines.append(
            f"{'method':<12}{'ledger n':>9}{'ledger fen':>12}{'method n':>9}{'method fen':>12}{'matched':>9}"
        )
        for t in self.totals:
            method_side = f"{t.method_count:>9}{t.method_fen:>12}" if t.reachable else f"{'unreachable':>21}"
            lines.append(f"{t.method:<12}{t.ledger_count:>9}{t.ledger_fen:>12}{method_side}{t.matched:>9}")
        if self.mismatches:
            lines += ["", "mismatches:"]
            for m in self.mismatches:
                ledger = "-" if m.ledger_fen is None else str(m.ledger_fen)
                at_method = "-" if m.method_fen is None else str(m.method_fen)
                lines.append(
                    f"  {m.method:<10} {m.reference:<24} {m.kind:<7} {m.problem:<18} "
                    f"ledger {ledger:>8}  method {at_method:>8}  {m.detail}".rstrip()
                )
        return "\n".join(lines) + "\n"


_Key = tuple[str, str]  # (reference, kind)


def _ledger_side(ledger: Ledger, method: PaymentMethod, day: _dt.date) -> dict[_Key, int]:
    """(reference, kind) -> amount of what the service posted through *method* on *day*."""
    side: dict[_Key, int] = {}
    keys: dict[int, _Key] = {}  # posting id -> its key, for the reversals
    for posting in ledger.postings(day=day):
        if posting.method != method.name:
            continue
        amount = posting.amount_on(method.clearing_account)
        reference = posting.order_reference or posting.reference
        if posting.kind in ("payment", "top_up"):
            keys[posting.id] = key = (reference, "charge")
            side[key] = side.get(key, 0) + amount
        elif posting.kind == "refund":
            keys[posting.id] = key = (reference, "refund")
            side[key] = side.get(key, 0) - amount
        elif posting.kind == "reversal" and posting.reverses in keys:
            key = keys[posting.reverses]
            left = side.get(key, 0) - abs(amount)
            if left:
                side[key] = left
            else:
                side.pop(key, None)
    return side


def _net(amounts: Iterable[tuple[str, int]]) -> int:
    return sum(amount if kind == "charge" else -amount for kind, amount in amounts)


def reconcile(ledger: Ledger, methods: Iterable[PaymentMethod], day: _dt.date) -> ReconciliationReport:
    """The report for hospital day *day* (Beijing time) over *methods*."""
    totals: list[MethodTotals] = []
    mismatches: list[Mismatch] = []
    for method in methods:
        ours = _ledger_side(ledger, method, day)
        net_ledger = _net((kind, amount) for (_, kind), amount in ours.items())
        try:
            records = method.records(day)
        except PaymentUnavailable as exc:
            totals.append(MethodTotals(method.name, len(ours), net_ledger, 0, 0, 0, reachable=False))
            mismatches.append(Mismatch(method.name, "-", "-", "method_unreachable", None, None, exc.message))
            continue
        theirs: dict[_Key, list[MethodRecord]] = {}
        for record in records:
            theirs.setdefault((record.reference, record.kind), []).append(record)
        matched = 0
        for (reference, kind), amount in sorted(ours.items()):
            listed = theirs.get((reference, kind), [])
            approved = [r for r in listed if r.status == "approved"]
            if not listed:
                mismatches.append(Mismatch(method.name, reference, kind, MISSING_AT_METHOD, amount, None))
            elif not approved:
                mismatches.append(
                    Mismatch(
                        method.name,
                        reference,
                        kind,
                        STATUS_DIFFERS,
                        amount,
                        listed[0].amount_fen,
                        f"method says {listed[0].status}",
                    )
                )
            elif len(listed) > 1:
                mismatches.append(
                    Mismatch(
                        method.name,
                        reference,
                        kind,
                        DUPLICATE_AT_METHOD,
                        amount,
                        sum(r.amount_fen for r in approved),
                        f"listed {len(listed)} times: " + " ".join(str(r.transaction_id) for r in listed),
                    )
                )
            elif approved[0].amount_fen != amount:
                mismatches.append(
                    Mismatch(method.name, reference, kind, AMOUNT_DIFFERS, amount, approved[0].amount_fen)
                )
            else:
                matched += 1
        approved_records = [r for r in records if r.status == "approved"]
        for key, listed in sorted(theirs.items()):
            if key in ours:
                continue
            for record in (r for r in listed if r.status == "approved"):
                mismatches.append(
                    Mismatch(
                        method.name,
                        record.reference,
                        record.kind,
                        MISSING_IN_LEDGER,
                        None,
                        record.amount_fen,
                        f"method transaction {record.transaction_id}",
                    )
                )
        net_method = _net((r.kind, r.amount_fen) for r in approved_records)
        if net_method != net_ledger:
            mismatches.append(
                Mismatch(
                    method.name,
                    "-",
                    "net",
                    TOTALS_DIFFER,
                    net_ledger,
                    net_method,
                    f"net of charges and refunds differs by {net_method - net_ledger} fen",
                )
            )
        settle = getattr(method, "settlement", None)
        if callable(settle):  # a method that settles batches with its host (the bank card's 0500)
            batch = settle(day)
            if not batch.balanced:
                ours_net = batch.ours.debit_amount_fen - batch.ours.credit_amount_fen
                host = batch.theirs
                host_net = None if host is None else host.debit_amount_fen - host.credit_amount_fen
                state = "not balanced" if batch.reachable else "the host did not answer"
                why = f"batch {batch.batch:06d}: {state}"
                mismatches.append(
                    Mismatch(method.name, "-", "settlement", SETTLEMENT_DIFFERS, ours_net, host_net, why)
                )
        totals.append(
            MethodTotals(method.name, len(ours), net_ledger, len(approved_records), net_method, matched)
        )
    return ReconciliationReport(day, tuple(totals), tuple(mismatches))
