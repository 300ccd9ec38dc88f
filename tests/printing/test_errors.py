"""The printing subtree of the exception tree: every code and message as the API knows them."""

from __future__ import annotations

import pytest

from cardservice.errors import CodedError, IdempotencyConflict, lookup
from cardservice.printing import (
    CardMismatch,
    InvalidJob,
    JobNotCancellable,
    JobNotFinished,
    JobNotFound,
    NotPrintable,
    PrinterError,
    PrintError,
    PrintQueueError,
    QueueUnavailable,
    UnknownPrinter,
)

QUEUE_ERRORS = {
    JobNotFound: ("job_not_found", "未找到该打印任务"),
    InvalidJob: ("invalid_job", "打印内容不正确"),
    UnknownPrinter: ("unknown_printer", "未配置该打印机"),
    JobNotCancellable: ("job_not_cancellable", "该打印任务已在打印或已结束，无法取消"),
    JobNotFinished: ("job_not_finished", "该打印任务尚未结束，无需补打"),
    CardMismatch: ("card_mismatch", "只能由持卡人本人补打"),
    QueueUnavailable: ("queue_unavailable", "打印队列暂时不可用，请稍后再试"),
}


@pytest.mark.parametrize("cls", list(QUEUE_ERRORS))
def test_each_queue_error_is_one_code(cls: type[PrintQueueError]) -> None:
    error = cls("what happened", details={"status": "printed"})
    assert (error.code, error.message_zh) == QUEUE_ERRORS[cls]
    assert (error.message, str(error), error.details) == (
        "what happened",
        "what happened",
        {"status": "printed"},
    )
    assert isinstance(error, PrintQueueError)
    assert isinstance(error, PrintError)
    assert isinstance(error, CodedError)
    assert cls.code == QUEUE_ERRORS[cls][0]  # a plain class attribute: tables can key on it


def test_the_printer_and_the_documents_are_print_errors() -> None:
    printer = PrinterError("paper_out", "status poll")
    assert (printer.code, printer.message, printer.message_zh) == (
        "paper_out",
        "The printer is out of paper.",
        "打印机缺纸，请联系工作人员更换纸卷",
    )
    not_printable = NotPrintable("order PO-1 is pending", "该订单未支付成功，不能打印收据")
    assert (not_printable.code, not_printable.message, not_printable.message_zh) == (
        "not_printable",
        "order PO-1 is pending",
        "该订单未支付成功，不能打印收据",
    )
    assert isinstance(not_printable, ValueError)  # as it always was
    for error in (printer, not_printable):
        assert isinstance(error, PrintError)
        assert not isinstance(error, PrintQueueError)


def test_a_table_keyed_by_the_root_covers_the_subtree() -> None:
    table = {PrintError: "print", PrintQueueError: "queue", IdempotencyConflict: "conflict"}
    assert lookup(table, JobNotFound("x")) == "queue"
    assert lookup(table, PrinterError("cover_open")) == "print"
    assert lookup(table, IdempotencyConflict("x")) == "conflict"
