"""Receipt printing: the ticket model and its layout in character columns, the templates (挂号单, 缴费收据,
检验报告) that turn typed inputs into tickets, what a patient's records say on paper, the persistent print
queue, and the contract of the printers it prints on.

Nothing here knows about bytes or a printer's wire: a driver implements :class:`ReceiptPrinter` (ESC/POS
in :mod:`drivers.printers`, found by the daemon through the ``cardservice.printers`` entry points; this
package never imports it). :func:`preview_pages` shows the lines of a ticket as text.

    Ticket(ops)             Text | Rule | Row | QrCode | Barcode | Image | Feed | Cut
    registration_slip(RegistrationSlip) -> Ticket
    payment_receipt(PaymentReceipt)     -> Ticket
    lab_report(LabReport)               -> Ticket   (several pages, cut between them)

What a patient's documents say, from the HIS and payment records (:mod:`._documents`)::

    registration_slip_of(his.Registration, name, hospital=...)               -> RegistrationSlip
    payment_receipt_of(payments.Order, his.Bill | None, name, hospital=...)  -> PaymentReceipt
    lab_report_of(his.LabReport, name, sex=, birth_date=, hospital=...)      -> LabReport

The printer contract (:mod:`._device`)::

    ReceiptPrinter   .paper -> PaperWidth;  .reads_status -> bool (False: the link only takes bytes);
                     .probe() -> PrinterError | None;  .open() -> PrinterLink
    PrinterLink      .status() -> PrinterStatus (UNKNOWN if it cannot answer);  .print(Ticket);  .close()

The print queue (jobs in the database, printed exactly once by one worker per printer; :mod:`._queue`,
with :mod:`._jobs` the job values and lifecycle, :mod:`._requests` the request side, :mod:`._workers` the
workers, :mod:`._send` one attempt at a printer)::

    PrintQueue(database, {name: ReceiptPrinter}, audit=AuditLog.record, on_event=EventHub.publish)
        .start() / .stop()
        .submit(client_id, idempotency_key, kind, payload, printer=None, card=None) -> Job
        .get(job_ref) / .list(...) / .wait(job_ref, timeout) / .preview(job_ref)
        .reprint(job_ref, client_id=..., idempotency_key=None, printer=None, card=None) -> Job   (补打)
        .cancel(job_ref, actor=...) -> Job
        .printers / .printer_problems()

    JobStatus (JOB: the lifecycle)   queued → printing, held, cancelled
                                     printing → printed, held, queued, failed
                                     held → printing, failed, cancelled
                                     printed, failed, cancelled: final

    on_event(event), from a worker thread, when a printer's problem appears, changes or clears:
        {"type": "printer.problem", "printer": name, "code": "paper_out", "message_zh": ..., "at": t}
        {"type": "printer.ready", "printer": name, "at": t}

The workers: one thread per printer claims the oldest waiting job (one conditional UPDATE), checks right
before sending that the job is still its own (a job the lease check failed as ``interrupted`` is never
also printed), sends it and records the outcome. While it has no job it probes its printer every
``poll_interval`` seconds doubling up to ``max_poll_interval`` (10 s by default), so
:meth:`PrintQueue.printer_problems` and the events say 缺纸 before a job is tried; a printer whose link
cannot answer status (``reads_status`` false: ``status = false`` in the configuration) is not probed
while idle, and counts as ready until a job for it fails. A heartbeat thread renews the lease of the
jobs in flight and fails the ones whose worker is gone.

Errors (:mod:`._errors`), a subtree of :class:`cardservice.errors.CodedError`; ``code`` in brackets::

    PrintError                       [print_error]
    ├── PrinterError                 [printer_offline | paper_out | cover_open | printer_unreachable |
    │                                 printer_error] per instance; a job's error, never raised by the queue
    ├── NotPrintable                 [not_printable] the record is not a document to print as asked
    │                                 (a ValueError too)
    └── PrintQueueError              a request the queue refuses
        ├── JobNotFound              [job_not_found]
        ├── InvalidJob               [invalid_job]
        ├── UnknownPrinter           [unknown_printer]
        ├── JobNotCancellable        [job_not_cancellable]
        ├── JobNotFinished           [job_not_finished]
        ├── CardMismatch             [card_mismatch]
        └── QueueUnavailable         [queue_unavailable]

A reused idempotency key is :class:`cardservice.errors.IdempotencyConflict` (``details={"job_ref": ...}``).
"""

from cardservice.printing._device import UNKNOWN, PrinterLink, PrinterStatus, ReceiptPrinter
from cardservice.printing._documents import (
    METHOD_LABELS,
    lab_report_of,
    payment_receipt_of,
    registration_slip_of,
)
from cardservice.printing._errors import (
    CardMismatch,
    InvalidJob,
    JobNotCancellable,
    JobNotFinished,
    JobNotFound,
    NotPrintable,
    PrinterError,
    PrinterErrorCode,
    PrintError,
    PrintQueueError,
    QueueUnavailable,
    UnknownPrinter,
)
from cardservice.printing._jobs import JOB, JOB_KINDS, AuditRecorder, Job, JobError, JobKind, JobStatus
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
from cardservice.printing._queue import PrintQueue
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

__all__ = [
    "JOB",
    "JOB_KINDS",
    "METHOD_LABELS",
    "UNKNOWN",
    "Align",
    "AuditRecorder",
    "Barcode",
    "CardMismatch",
    "Column",
    "Cut",
    "Feed",
    "Flag",
    "Image",
    "InvalidJob",
    "Job",
    "JobError",
    "JobKind",
    "JobNotCancellable",
    "JobNotFinished",
    "JobNotFound",
    "JobStatus",
    "LabItem",
    "LabReport",
    "NotPrintable",
    "Op",
    "PaperWidth",
    "PaymentReceipt",
    "PrintError",
    "PrintQueue",
    "PrintQueueError",
    "PrinterError",
    "PrinterErrorCode",
    "PrinterLink",
    "PrinterStatus",
    "QrCode",
    "QueueUnavailable",
    "ReceiptItem",
    "ReceiptPrinter",
    "RegistrationSlip",
    "Row",
    "Rule",
    "Text",
    "Ticket",
    "UnknownPrinter",
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
