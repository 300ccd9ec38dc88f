"""Receipt printing, the paper-independent half: the ticket model, its layout in character columns, and
the templates (挂号单, 缴费收据, 检验报告) that turn typed inputs into tickets.

Nothing here knows about bytes or printers: :mod:`drivers.printers` turns a :class:`Ticket` into ESC/POS
(GB18030 for Chinese) and sends it; :func:`preview_pages` shows the same lines as text.

    Ticket(ops)             Text | Rule | Row | QrCode | Barcode | Image | Feed | Cut
    registration_slip(RegistrationSlip) -> Ticket
    payment_receipt(PaymentReceipt)     -> Ticket
    lab_report(LabReport)               -> Ticket   (several pages, cut between them)
"""

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

__all__ = [
    "Align",
    "Barcode",
    "Column",
    "Cut",
    "Feed",
    "Flag",
    "Image",
    "LabItem",
    "LabReport",
    "Op",
    "PaperWidth",
    "PaymentReceipt",
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
    "wrap",
]
