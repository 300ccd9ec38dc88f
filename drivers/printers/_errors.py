"""The one error the printing layer raises: :class:`PrinterError`, with a stable ``code``."""

from __future__ import annotations

from typing import Literal

__all__ = ["PrinterError", "PrinterErrorCode"]

PrinterErrorCode = Literal[
    "printer_offline", "paper_out", "cover_open", "printer_unreachable", "printer_error"
]

# code -> (English, Chinese). The Chinese text is what a kiosk shows to patients and staff.
_MESSAGES: dict[str, tuple[str, str]] = {
    "printer_offline": ("The printer is offline.", "打印机离线，请联系工作人员"),
    "paper_out": ("The printer is out of paper.", "打印机缺纸，请联系工作人员更换纸卷"),
    "cover_open": ("The printer cover is open.", "打印机盖未关好，请联系工作人员"),
    "printer_unreachable": ("The printer cannot be reached.", "无法连接打印机，请联系工作人员"),
    "printer_error": ("The printer reported an error.", "打印机故障，请联系工作人员"),
}


class PrinterError(Exception):
    """Printing failed; the job should be kept for a reprint.

    ``code`` is one of ``printer_offline``, ``paper_out``, ``cover_open``, ``printer_unreachable``,
    ``printer_error``; ``message`` is English, ``message_zh`` Chinese (the same shape as the API's errors).
    ``detail`` is for logs (never personal data: tickets are not quoted).
    """

    def __init__(self, code: PrinterErrorCode, detail: str | None = None) -> None:
        message, message_zh = _MESSAGES[code]
        super().__init__(f"{message} ({detail})" if detail else message)
        self.code: PrinterErrorCode = code
        self.message = message
        self.message_zh = message_zh
        self.detail = detail

    def __repr__(self) -> str:
        return f"PrinterError({self.code!r}, {self.detail!r})"
