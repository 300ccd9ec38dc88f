"""Receipt printing, the paper-independent half: the ticket model, its layout in character columns, and
the templates (挂号单, 缴费收据, 检验报告) that turn typed inputs into tickets.

Nothing here knows about bytes or printers: :mod:`drivers.printers` turns a :class:`Ticket` into ESC/POS
(GB18030 for Chinese) and sends it; :func:`preview_pages` shows the same lines as text.

    Ticket(ops)             Text | Rule | Row | QrCode | Barcode | Image | Feed | Cut
    registration_slip(RegistrationSlip) -> Ticket
    payment_receipt(PaymentReceipt)     -> Ticket
    lab_report(LabReport)               -> Ticket   (several pages, cut between them)

The print queue (jobs in the database, printed exactly once by one worker per printer; see
:mod:`cardservice.printing._queue`) and the demo's virtual printer load on first use: they import
:mod:`drivers.printers`, which imports this package.

    PrintQueue(database, {name: PrinterConfig}, audit=AuditLog.record)
        .start() / .stop()
        .submit(client_id, idempotency_key, kind, payload, printer=None, card=None) -> Job
        .get(job_ref) / .list(...) / .wait(job_ref, timeout) / .preview(job_ref)
        .reprint(job_ref, client_id=..., idempotency_key=None, printer=None) -> Job   (补打)
        .cancel(job_ref, actor=...) -> Job
    start_demo_printer(home) -> DemoPrinter (.name, .config, .out_dir, .handle, .stop())
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
    from cardservice.printing._demo import DEMO_PRINTER, DEMO_PRINTER_DIR, DemoPrinter, start_demo_printer
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
    **dict.fromkeys(("DEMO_PRINTER", "DEMO_PRINTER_DIR", "DemoPrinter", "start_demo_printer"), "_demo"),
    **dict.fromkeys(("JOB_KINDS", "AuditRecorder", "Job", "JobError", "JobKind", "JobStatus"), "_queue"),
    **dict.fromkeys(("PrintQueue", "PrintQueueError"), "_queue"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"cardservice.printing.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEMO_PRINTER",
    "DEMO_PRINTER_DIR",
    "JOB_KINDS",
    "Align",
    "AuditRecorder",
    "Barcode",
    "Column",
    "Cut",
    "DemoPrinter",
    "Feed",
    "Flag",
    "Image",
    "Job",
    "JobError",
    "JobKind",
    "JobStatus",
    "LabItem",
    "LabReport",
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
    "layout_row",
    "layout_rule",
    "layout_text",
    "mask_name",
    "pad",
    "payment_receipt",
    "preview_pages",
    "printable",
    "registration_slip",
    "start_demo_printer",
    "wrap",
]
