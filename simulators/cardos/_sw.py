"""Status words the card OS answers with (ISO/IEC 7816-4:2020 §5.6, Tables 5-6), and the one
internal exception handlers raise to answer with one."""

from __future__ import annotations

__all__ = [
    "SW_AUTH_BLOCKED",
    "SW_CHANNEL_NOT_SUPPORTED",
    "SW_CLA_NOT_SUPPORTED",
    "SW_CONDITIONS",
    "SW_DF_NAME_EXISTS",
    "SW_END_OF_FILE",
    "SW_FILE_EXISTS",
    "SW_FILE_NOT_FOUND",
    "SW_INCOMPATIBLE_FILE",
    "SW_INS_NOT_SUPPORTED",
    "SW_NOT_ENOUGH_MEMORY",
    "SW_NO_CURRENT_EF",
    "SW_NO_PRECISE_DIAGNOSIS",
    "SW_OK",
    "SW_RECORD_NOT_FOUND",
    "SW_REFERENCE_NOT_FOUND",
    "SW_SECURITY",
    "SW_SM_INCORRECT",
    "SW_SM_MISSING",
    "SW_SM_NOT_SUPPORTED",
    "SW_WRONG_DATA",
    "SW_WRONG_LENGTH",
    "SW_WRONG_OFFSET",
    "SW_WRONG_P1P2",
    "SwError",
]

SW_OK = 0x9000
SW_END_OF_FILE = 0x6282  # end of file reached before reading Ne bytes
SW_WRONG_LENGTH = 0x6700
SW_CHANNEL_NOT_SUPPORTED = 0x6881
SW_SM_NOT_SUPPORTED = 0x6882
SW_INCOMPATIBLE_FILE = 0x6981
SW_SECURITY = 0x6982
SW_AUTH_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_SM_MISSING = 0x6987
SW_SM_INCORRECT = 0x6988
SW_WRONG_DATA = 0x6A80
SW_FILE_NOT_FOUND = 0x6A82
SW_RECORD_NOT_FOUND = 0x6A83
SW_NOT_ENOUGH_MEMORY = 0x6A84
SW_WRONG_P1P2 = 0x6A86
SW_REFERENCE_NOT_FOUND = 0x6A88
SW_FILE_EXISTS = 0x6A89
SW_DF_NAME_EXISTS = 0x6A8A
SW_WRONG_OFFSET = 0x6B00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_NO_PRECISE_DIAGNOSIS = 0x6F00


class SwError(Exception):
    """Raised by a command handler: the card answers *data* ‖ *sw* (data is usually empty)."""

    def __init__(self, sw: int, data: bytes = b"") -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw
        self.data = bytes(data)
