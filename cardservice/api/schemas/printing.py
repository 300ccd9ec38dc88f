"""Bodies of /v1/print: print jobs by kind, jobs, previews, printers, lab reports."""

from __future__ import annotations

import datetime as _dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "JobErrorOut",
    "JobOut",
    "JobsOut",
    "LabReportIn",
    "LabReportSummaryOut",
    "LabReportsOut",
    "PreviewOut",
    "PrintIn",
    "PrinterOut",
    "PrintersOut",
    "ReceiptIn",
    "ReprintIn",
    "SlipIn",
]


class JobErrorOut(BaseModel):
    code: str = Field(examples=["paper_out"])
    message: str
    message_zh: str = Field(examples=["打印机缺纸，请联系工作人员更换纸卷"])


class JobOut(BaseModel):
    job_ref: str = Field(examples=["pj_3f9a1c2b7d4e5f60"])
    kind: str = Field(description="registration_slip / payment_receipt / lab_report")
    printer: str
    status: str = Field(
        description="queued, printing, printed; held (the printer has a problem, see `error`: it prints by "
        "itself once the printer is ready); failed (see `error`: reprint on request); cancelled"
    )
    finished: bool = Field(description="printed, failed or cancelled: nothing more happens by itself")
    attempts: int
    error: JobErrorOut | None
    reprint_of: str | None = Field(description="the job this one copies (补打)")
    card: str | None = Field(description="the card holder, masked")
    created_at: _dt.datetime
    updated_at: _dt.datetime
    printed_at: _dt.datetime | None


class JobsOut(BaseModel):
    jobs: list[JobOut]


class PreviewOut(BaseModel):
    job_ref: str
    pages: list[str] = Field(description="each ticket as text, line by line as it prints")


class PrinterOut(BaseModel):
    name: str
    default: bool
    ready: bool = Field(description="false while the printer reports a problem (then `problem` says which)")
    problem: JobErrorOut | None


class PrintersOut(BaseModel):
    printers: list[PrinterOut]


class _PrintIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reader: str = Field(default="default", max_length=128, description="reader of the patient's card")
    printer: str | None = Field(default=None, max_length=64, description="default: the first configured")


class SlipIn(_PrintIn):
    kind: Literal["registration_slip"]
    registration_id: str = Field(min_length=1, max_length=64, description="from /v1/registration/bookings")


class ReceiptIn(_PrintIn):
    kind: Literal["payment_receipt"]
    order_reference: str = Field(min_length=1, max_length=64, description="a paid order of /v1/payments")


class LabReportIn(_PrintIn):
    kind: Literal["lab_report"]
    report_id: str = Field(min_length=1, max_length=64, description="from /v1/print/lab-reports")


PrintIn = Annotated[SlipIn | ReceiptIn | LabReportIn, Field(discriminator="kind")]


class ReprintIn(_PrintIn):
    pass


class LabReportSummaryOut(BaseModel):
    id: str
    title: str = Field(examples=["血常规"])
    specimen: str
    department: str | None
    doctor_name: str | None
    collected_at: _dt.datetime
    reported_at: _dt.datetime
    items: int = Field(description="number of result lines")
    abnormal: int = Field(description="results outside their reference range (↑ ↓ *)")


class LabReportsOut(BaseModel):
    card: str = Field(description="the card holder, masked")
    lab_reports: list[LabReportSummaryOut]
