"""The SAM_V commands and status codes as tables (/work/shared/spec/idcard-reader-facts.md B2, B3), and the
read reply's data: text, photo and fingerprint by their lengths.

Every command's success is one SW3 (:data:`COMMANDS`); any other SW3 is an error whose class comes from
:data:`STATUS` — never an if/elif chain. :func:`check` applies both.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from cardservice.idcard._errors import (
    IdCardError,
    IdCardNoCard,
    IdCardProtocolError,
    IdCardReadFailed,
    IdCardSamUnavailable,
    IdCardUnsupported,
)
from cardservice.idcard._frames import Command, Reply

__all__ = [
    "COMMANDS",
    "FIND",
    "FINGERPRINT_SIZES",
    "PHOTO_SIZE",
    "READ",
    "READ_WITH_FINGERPRINT",
    "RESET_SAM",
    "SAM_ID",
    "SAM_STATUS",
    "SELECT",
    "STATUS",
    "TEXT_SIZE",
    "CardData",
    "CommandSpec",
    "Status",
    "check",
    "decode_card_data",
    "encode_card_data",
    "status_of",
]


@dataclass(frozen=True)
class CommandSpec:
    """One command of the table: its bytes, what it does, and the SW3 of its success."""

    cmd: int
    para: int
    name: str
    name_zh: str
    success: int

    @property
    def command(self) -> Command:
        return Command(self.cmd, self.para)


# B2 (the facts sheet) — success SW3: 9F for find (as the sheet says), 90 for the rest.
RESET_SAM = CommandSpec(0x10, 0xFF, "reset SAM", "复位SAM", 0x90)
SAM_STATUS = CommandSpec(0x11, 0xFF, "SAM status", "SAM状态检测", 0x90)
SAM_ID = CommandSpec(0x12, 0xFF, "SAM ID", "读SAM管理信息", 0x90)
FIND = CommandSpec(0x20, 0x01, "find card", "寻找证/卡", 0x9F)
SELECT = CommandSpec(0x20, 0x02, "select card", "选取证/卡", 0x90)
READ = CommandSpec(0x30, 0x01, "read text + photo", "读固定信息", 0x90)
READ_WITH_FINGERPRINT = CommandSpec(0x30, 0x10, "read text + photo + fingerprint", "读固定信息和指纹", 0x90)

_ALL = (RESET_SAM, SAM_STATUS, SAM_ID, FIND, SELECT, READ, READ_WITH_FINGERPRINT)
COMMANDS: MappingProxyType[tuple[int, int], CommandSpec] = MappingProxyType(
    {(spec.cmd, spec.para): spec for spec in _ALL}
)


@dataclass(frozen=True)
class Status:
    """One SW3 value: its meaning, and the error it is when it is not the command's success."""

    sw3: int
    meaning: str
    meaning_zh: str
    error: type[IdCardError] | None  # None: a success code


_ROWS: tuple[Status, ...] = (
    Status(0x90, "OK", "操作成功", None),
    Status(0x91, "no content", "无内容", IdCardReadFailed),
    Status(0x9F, "find OK", "寻找证/卡成功", None),
    Status(0x10, "checksum error", "接收业务终端数据的校验和错", IdCardProtocolError),
    Status(0x11, "length error", "接收业务终端数据的长度错", IdCardProtocolError),
    Status(0x21, "bad command", "接收业务终端的命令错误", IdCardProtocolError),
    Status(0x23, "not allowed", "越权操作", IdCardProtocolError),
    Status(0x31, "mutual authentication failed (card)", "证/卡认证SAM失败", IdCardReadFailed),
    Status(0x32, "mutual authentication failed (SAM)", "SAM认证证/卡失败", IdCardReadFailed),
    Status(0x33, "information check failed", "信息验证失败", IdCardReadFailed),
    Status(0x40, "unknown card type", "无法识别的证/卡类型", IdCardUnsupported),
    Status(0x41, "read failed", "读证/卡操作失败", IdCardReadFailed),
    Status(0x47, "random number failed", "取随机数失败", IdCardReadFailed),
    Status(0x60, "SAM self-test failed", "SAM自检失败，不能接收命令", IdCardSamUnavailable),
    Status(0x66, "SAM not authorised", "SAM没经过授权，无法使用", IdCardSamUnavailable),
    Status(0x80, "find failed", "寻找证/卡失败", IdCardNoCard),
    Status(0x81, "select failed", "选取证/卡失败", IdCardReadFailed),
)
STATUS: MappingProxyType[int, Status] = MappingProxyType({row.sw3: row for row in _ROWS})


def status_of(sw3: int) -> Status:
    """The table's row for *sw3*; an SW3 not in the table is a protocol error's row."""
    return STATUS.get(sw3) or Status(sw3, "unknown status", "未知状态", IdCardProtocolError)


def check(spec: CommandSpec, reply: Reply) -> Reply:
    """*reply* when it is *spec*'s success, else the error its SW3 stands for (``details.sw3``)."""
    if reply.sw3 == spec.success:
        return reply
    status = status_of(reply.sw3)
    error = status.error or IdCardProtocolError  # a success code, but not this command's
    raise error(
        f"{spec.name}: SW3 {reply.sw3:02X} {status.meaning}",
        message_zh=f"{error.default_zh}（{status.meaning_zh}）",
        details={"sw3": f"{reply.sw3:02X}", "command": f"{spec.cmd:02X}{spec.para:02X}"},
    )


# -- the read reply's data (B3) ---------------------------------------------------------------------------

TEXT_SIZE = 256
PHOTO_SIZE = 1024  # WLT, proprietary (B5): kept as opaque bytes
FINGERPRINT_SIZES = (0, 512, 1024)


@dataclass(frozen=True, repr=False)
class CardData:
    """The three parts of a read reply, undecoded."""

    text: bytes
    photo: bytes
    fingerprint: bytes | None  # None: read without fingerprint (30 01)

    def __repr__(self) -> str:
        fingerprint = "no" if self.fingerprint is None else len(self.fingerprint)
        return f"CardData(text {len(self.text)}, photo {len(self.photo)}, fingerprint {fingerprint})"


def decode_card_data(data: bytes, *, with_fingerprint: bool) -> CardData:
    """``text length (2) | photo length (2) [| fingerprint length (2)] | text | photo [| fingerprint]``,
    lengths big-endian, as answered to 30 01 (*with_fingerprint* False) or 30 10."""
    count = 3 if with_fingerprint else 2
    if len(data) < 2 * count:
        raise IdCardProtocolError(f"read reply of {len(data)} bytes has no length fields")
    sizes = [int.from_bytes(data[2 * i : 2 * i + 2], "big") for i in range(count)]
    if sizes[0] != TEXT_SIZE:
        raise IdCardProtocolError(f"text of {sizes[0]} bytes, not {TEXT_SIZE}")
    if sizes[1] > PHOTO_SIZE or (with_fingerprint and sizes[2] not in FINGERPRINT_SIZES):
        raise IdCardProtocolError(f"photo / fingerprint lengths {sizes[1:]} are not the protocol's")
    if len(data) != 2 * count + sum(sizes):
        raise IdCardProtocolError(
            f"read reply of {len(data)} bytes; its lengths {sizes} add up to {2 * count + sum(sizes)}"
        )
    text_end = 2 * count + sizes[0]
    photo_end = text_end + sizes[1]
    return CardData(
        data[2 * count : text_end], data[text_end:photo_end], data[photo_end:] if with_fingerprint else None
    )


def encode_card_data(text: bytes, photo: bytes, fingerprint: bytes | None = None) -> bytes:
    """The read reply's data: what :func:`decode_card_data` takes (fingerprint None: a 30 01 reply)."""
    parts = [text, photo] if fingerprint is None else [text, photo, fingerprint]
    return b"".join(len(part).to_bytes(2, "big") for part in parts) + b"".join(parts)
