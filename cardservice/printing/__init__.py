"""Receipt printing, the paper-independent half: the ticket model, its layout in character columns, and
the templates (挂号单, 缴费收据, 检验报告) that turn typed inputs into tickets.

Nothing here knows about bytes or printers: :mod:`drivers.printers` turns a :class:`Ticket` into ESC/POS
(GB18030 for Chinese) and sends it; :func:`preview_pages` shows the same lines as text.

    Ticket(ops)             Text | Rule | Row | QrCode | Barcode | Image | Feed | Cut
    registration_slip(RegistrationSlip) -> Ticket
    payment_receipt(PaymentReceipt)     -> Ticket
    lab_report(LabReport)               -> Ticket   (several pages, cut between them)

The print queue (jobs in the database, printed exactly once by one worker per printer; see
:mod:`cardservice.printing._queue`) loads on first use: it imports :mod:`drivers.printers`, which imports
this package.

    PrintQueue(database, {name: PrinterConfig}, audit=AuditLog.record)
        .start() / .stop()
        .submit(client_id, idempotency_key, kind, payload, printer=None, card=None) -> Job
        .get(job_ref) / .list(...) / .wait(job_ref, timeout) / .preview(job_ref)
        .reprint(job_ref, client_id=..., idempotency_key=None, printer=None, card=None) -> Job   (补打)
        .cancel(job_ref, actor=...) -> Job

What a patient's documents say, from the HIS and payment records (:mod:`cardservice.printing._documents`,
also loaded on first use)::

    registration_slip_of(his.Registration, name, hospital=...)               -> RegistrationSlip
    payment_receipt_of(payments.Order, his.Bill | None, name, hospital=...)  -> PaymentReceipt
    lab_report_of(his.LabReport, name, sex=, birth_date=, hospital=...)      -> LabReport
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from cardservice.printing._layout import (
    char_width,
    column_widths,
    display_width,
    fit_image,
    layout_row,
    layout_rule,
    layout_text,
    pad,
    preview_pages,
    printable,
    wrap,
)
from cardservice.printing._templates import (
    Flag,
    LabItem,
    LabReport,
    PaymentReceipt,
    ReceiptItem,
    RegistrationSlip,
    abnormal_flag,
    format_fen,
    lab_report,
    mask_name,
    payment_receipt,
    registration_slip,
)
from cardservice.printing._ticket import (
    Align,
    Barcode,
    Column,
    Cut,
    Feed,
    Image,
    Op,
    PaperWidth,
    QrCode,
    Row,
    Rule,
    Text,
    Ticket,
)

if TYPE_CHECKING:
    from cardservice.printing._documents import (
        METHOD_LABELS,
        NotPrintable,
        lab_report_of,
        payment_receipt_of,
        registration_slip_of,
    )
    from cardservice.printing._queue import (
        JOB_KINDS,
        AuditRecorder,
        Job,
        JobError,
        JobKind,
        JobStatus,
        PrintQueue,
        PrintQueueError,
    )

_LAZY = {
    **dict.fromkeys(("METHOD_LABELS", "NotPrintable", "lab_report_of", "payment_receipt_of"), "_documents"),
    "registration_slip_of": "_documents",
    **dict.fromkeys(("JOB_KINDS", "AuditRecorder", "Job", "JobError", "JobKind", "JobStatus"), "_queue"),
    **dict.fromkeys(("PrintQueue", "PrintQueueError"), "_queue"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"cardservice.printing.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "JOB_KINDS",
    "METHOD_LABELS",
    "Align",
    "AuditRecorder",
    "Barcode",
    "Column",
    "Cut",
    "Feed",
    "Flag",
    "Image",
    "Job",
    "JobError",
    "JobKind",
    "JobStatus",
    "LabItem",
    "LabReport",
    "NotPrintable",
    "Op",
    "PaperWidth",
    "PaymentReceipt",
    "PrintQueue",
    "PrintQueueError",
    "QrCode",
    "ReceiptItem",
    "RegistrationSlip",
    "Row",
    "Rule",
    "Text",
    "Ticket",
    "abnormal_flag",
    "char_width",
    "column_widths",
    "display_width",
    "fit_image",
    "format_fen",
    "lab_report",
    "lab_report_of",
    "layout_row",
    "layout_rule",
    "layout_text",
    "mask_name",
    "pad",
    "payment_receipt",
    "payment_receipt_of",
    "preview_pages",
    "printable",
    "registration_slip",
    "registration_slip_of",
    "wrap",
]
