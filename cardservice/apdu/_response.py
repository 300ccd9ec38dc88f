"""Response APDU value: data field followed by SW1 SW2 (ISO/IEC 7816-4 §5.1)."""

from __future__ import annotations

from dataclasses import dataclass

from cardservice.apdu._status import SW_SUCCESS, describe_sw, error_for_sw
from cardservice.errors import CodecError

__all__ = ["ResponseApdu"]


@dataclass(frozen=True)
class ResponseApdu:
    """One response APDU: ``data`` (possibly empty) and the 16-bit status word ``sw``.

    ``repr`` shows the status word and the data *length* only: responses carry names and ID
    numbers (READ RECORD/BINARY), which must not reach logs through a repr. Use ``.data`` itself.
    """

    data: bytes
    sw: int

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes | bytearray | memoryview):
            raise CodecError("response data must be bytes")
        if not isinstance(self.data, bytes):
            object.__setattr__(self, "data", bytes(self.data))
        if not isinstance(self.sw, int) or isinstance(self.sw, bool) or not 0 <= self.sw <= 0xFFFF:
            raise CodecError(f"status word must be 0..FFFF, got {self.sw!r}")

    @classmethod
    def decode(cls, raw: bytes) -> ResponseApdu:
        """Split ``data || SW1 SW2``. Raises :class:`CodecError` below 2 bytes."""
        raw = bytes(raw)
        if len(raw) < 2:
            raise CodecError(f"response APDU too short: {len(raw)} bytes, need at least 2 (SW1 SW2)")
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def is_success(self) -> bool:
        """True for ``9000`` only. ``61xx`` (more data), ``62xx``/``63xx`` (warnings) are not success:
        the exchange resolves ``61xx``; warnings are the caller's decision through :meth:`check`."""
        return self.sw == SW_SUCCESS

    def check(self) -> ResponseApdu:
        """Return self on ``9000``; otherwise raise the :class:`StatusWordError` subclass for the SW."""
        if self.sw != SW_SUCCESS:
            raise error_for_sw(self.sw, self.data)
        return self

    def __str__(self) -> str:
        return f"SW {self.sw:04X} ({describe_sw(self.sw)}), {len(self.data)} data bytes"

    def __repr__(self) -> str:
        return f"ResponseApdu(data=<{len(self.data)} bytes>, sw=0x{self.sw:04X})"
