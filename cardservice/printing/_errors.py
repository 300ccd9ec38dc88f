"""The errors of cardservice.printing: one subtree of :class:`cardservice.errors.CodedError` (drawn in
the package docstring). Every one has a stable ``code``, ``message`` (English), ``message_zh`` (what a
kiosk shows) and ``details`` (facts, never personal data)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from cardservice.errors import CodedError

__all__ = [
    "CardMismatch",
    "InvalidJob",
    "JobNotCancellable",
    "JobNotFinished",
    "JobNotFound",
    "NotPrintable",
    "PrintError",
    "PrintQueueError",
    "PrinterError",
    "PrinterErrorCode",
    "QueueUnavailable",
    "UnknownPrinter",
]


class PrintError(CodedError):
    """Root of the printing errors: a printer's problem, a record that is not a document, a refused
    request to the print queue."""

    code = "print_error"
    default_zh = "打印失败"


# -- the printer ---------------------------------------------------------------------------------------

PrinterErrorCode = Literal[
    "printer_offline", "paper_out", "cover_open", "printer_unreachable", "printer_error"
]

# code -> (English, Chinese). The Chinese text is what a kiosk shows to patients and staff.
_PRINTER_MESSAGES: dict[str, tuple[str, str]] = {
    "printer_offline": ("The printer is offline.", "打印机离线，请联系工作人员"),
    "paper_out": ("The printer is out of paper.", "打印机缺纸，请联系工作人员更换纸卷"),
    "cover_open": ("The printer cover is open.", "打印机盖未关好，请联系工作人员"),
    "printer_unreachable": ("The printer cannot be reached.", "无法连接打印机，请联系工作人员"),
    "printer_error": ("The printer reported an error.", "打印机故障，请联系工作人员"),
}


class PrinterError(PrintError):
    """The printer cannot print (now); a print job keeps its ticket for later or for a reprint.

    ``code`` (per instance) is one of ``printer_offline``, ``paper_out``, ``cover_open``,
    ``printer_unreachable`` (cannot connect, link broken, no status reply in time), ``printer_error``
    (error bits, or a reply that is no status byte). ``detail`` is for logs (never ticket contents)."""

    def __init__(self, code: PrinterErrorCode, detail: str | None = None) -> None:
        message, message_zh = _PRINTER_MESSAGES[code]
        super().__init__(message, message_zh=message_zh)
        self.args = (f"{message} ({detail})" if detail else message,)
        self.code: PrinterErrorCode = code
        self.detail = detail

    def __repr__(self) -> str:
        return f"PrinterError({self.code!r}, {self.detail!r})"


# -- documents -----------------------------------------------------------------------------------------


class NotPrintable(PrintError, ValueError):
    """The record exists but is not a document to print as asked (a cancelled registration, an order
    not paid); ``message_zh`` says why, for the kiosk screen, and ``details["reason_zh"]`` carries it
    beside the API's generic message. A :class:`ValueError` too (the record is the wrong value for the
    document), as it always was."""

    code = "not_printable"
    default_zh = "该记录当前不能打印"

    def __init__(self, message: str, message_zh: str) -> None:
        super().__init__(message, message_zh=message_zh, details={"reason_zh": message_zh})


# -- the queue -----------------------------------------------------------------------------------------


class PrintQueueError(PrintError):
    """A request to the print queue that cannot be done; each subclass is one ``code`` (suggested HTTP
    status in its docstring). Printer problems are never raised by the queue: they are a job's
    :attr:`~cardservice.printing.Job.error`. A reused idempotency key is
    :class:`cardservice.errors.IdempotencyConflict` (409, ``details={"job_ref": ...}``)."""

    code = "print_queue_error"
    default_zh: ClassVar[str] = "打印请求未能处理"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message, details=details)


class JobNotFound(PrintQueueError):
    """404: no such job of this station."""

    code = "job_not_found"
    default_zh = "未找到该打印任务"


class InvalidJob(PrintQueueError):
    """422: the job's kind, payload, client id or idempotency key is not valid."""

    code = "invalid_job"
    default_zh = "打印内容不正确"


class UnknownPrinter(PrintQueueError):
    """422: no printer of that name is configured (``details["printers"]``: the ones there are)."""

    code = "unknown_printer"
    default_zh = "未配置该打印机"


class JobNotCancellable(PrintQueueError):
    """409: the job is printing or finished (``details["status"]``)."""

    code = "job_not_cancellable"
    default_zh = "该打印任务已在打印或已结束，无法取消"


class JobNotFinished(PrintQueueError):
    """409: a reprint of a job still queued, held or printing (``details["status"]``)."""

    code = "job_not_finished"
    default_zh = "该打印任务尚未结束，无需补打"


class CardMismatch(PrintQueueError):
    """403: a reprint without the card the job was printed for."""

    code = "card_mismatch"
    default_zh = "只能由持卡人本人补打"


class QueueUnavailable(PrintQueueError):
    """503: the queue's database cannot be used."""

    code = "queue_unavailable"
    default_zh = "打印队列暂时不可用，请稍后再试"
