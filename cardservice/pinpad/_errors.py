"""The errors of cardservice.pinpad: one subtree of :class:`cardservice.errors.CodedError` (drawn in the
package docstring). ``details`` carry facts (the device, a status byte, a command code); never a key, a
PIN block, a digit or a full PAN."""

from __future__ import annotations

from typing import ClassVar

from cardservice.errors import CodedError

__all__ = [
    "PinPadBadFrame",
    "PinPadBusy",
    "PinPadDeviceError",
    "PinPadError",
    "PinPadKeyError",
    "PinPadNoAnswer",
    "PinPadNotConnected",
]


class PinPadError(CodedError):
    """Root of the PIN pad's errors."""

    code = "pinpad_error"
    default_zh: ClassVar[str] = "密码键盘出错"


class PinPadNotConnected(PinPadError):
    """The pad's serial port cannot be opened or failed (unplugged, wrong device, no permission)."""

    code = "pinpad_offline"
    default_zh = "密码键盘未连接，请联系工作人员"


class PinPadNoAnswer(PinPadError):
    """The pad did not acknowledge a frame after every resend, or did not answer (or end an entry) in
    time."""

    code = "pinpad_timeout"
    default_zh = "密码键盘无响应"


class PinPadBadFrame(PinPadError, ValueError):
    """Bytes that are not the protocol: frames still broken after every resend, our frame refused (NAK)
    after every resend, or a message that does not decode. A :class:`ValueError` too: the codec's error."""

    code = "pinpad_protocol"
    default_zh = "密码键盘通讯错误"


class PinPadDeviceError(PinPadError):
    """The pad answered a command with an error status (``details["status"]``)."""

    code = "pinpad_device_error"
    default_zh = "密码键盘故障，请联系工作人员"


class PinPadKeyError(PinPadDeviceError):
    """A key problem: no working key in the slot, no master key, a working key that does not decrypt, or a
    key check value that is not the one expected."""

    code = "pinpad_key_error"
    default_zh = "密码键盘密钥错误，请联系工作人员"


class PinPadBusy(PinPadDeviceError):
    """A PIN entry is running: the pad refuses to start another or to load a key (abort it first)."""

    code = "pinpad_busy"
    default_zh = "密码键盘正忙"
