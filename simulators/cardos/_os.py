"""CardOS: the virtual card — power, ATR, and the one dispatcher that turns errors into responses."""

from __future__ import annotations

import os
from collections.abc import Mapping

from cardservice.apdu import CommandApdu
from cardservice.transport import PowerLost
from simulators.cardos._commands import STANDARD_INSTRUCTIONS, Instruction
from simulators.cardos._fs import FileStructure
from simulators.cardos._image import CardImage
from simulators.cardos._nvm import FaultInjector
from simulators.cardos._state import Command, VolatileState
from simulators.cardos._sw import (
    SW_CHANNEL_NOT_SUPPORTED,
    SW_CLA_NOT_SUPPORTED,
    SW_INS_NOT_SUPPORTED,
    SW_NO_PRECISE_DIAGNOSIS,
    SW_OK,
    SW_SM_NOT_SUPPORTED,
    SW_WRONG_LENGTH,
    SwError,
)

__all__ = ["ATR_PREFIX", "PROFILE_INSTRUCTIONS", "CardOS", "build_atr"]

#: Historical bytes before the serial: category ``43`` (proprietary, ISO/IEC 7816-4 §8.1.1) + "SOS".
ATR_PREFIX = b"CSOS"

#: Extra INS handlers per profile name (the SAM registers 80 DE / 80 FA here).
PROFILE_INSTRUCTIONS: dict[str, Mapping[int, Instruction]] = {}

# ISO/IEC 7816-3 §8.2: TS, T0 (Y1, K = 12 historical bytes), interface bytes per offer.
_INTERFACE = {"T=1": b"\x8c\x01", "T=0": b"\x0c", "T=0,T=1": b"\x8c\x80\x01"}


def build_atr(serial: bytes, protocols: str = "T=1") -> bytes:
    """``3B`` ‖ T0 ‖ TDi.. ‖ ``'CSOS'`` ‖ serial(8) [‖ TCK].

    T=1 only: ``3B 8C 01 …`` (TD1 = 01). T=0 and T=1: ``3B 8C 80 01 …`` (TD1 = 80 announces T=0
    and TD2, TD2 = 01 adds T=1). T=0 only: ``3B 0C …`` without TCK. TCK (XOR of T0..last byte = 0)
    is present whenever a protocol other than T=0 is offered (§8.2.5). The last 8 historical bytes
    are the card serial: the health card's level-1 diversification factor (conventions table).
    """
    body = _INTERFACE[protocols] + ATR_PREFIX + bytes(serial)
    atr = b"\x3b" + body
    if protocols != "T=0":
        tck = 0
        for byte in body:
            tck ^= byte
        atr += bytes([tck])
    return atr


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class CardOS:
    """A virtual ISO/IEC 7816 card over a :class:`CardImage` (implements
    :class:`cardservice.transport.VirtualCard`).

    ``image_path``: when given, every committed NVM change (and a torn state) is written to it.
    ``handlers``: extra or replacement INS entries, on top of the profile's registered ones.
    """

    def __init__(
        self,
        image: CardImage,
        *,
        image_path: str | os.PathLike[str] | None = None,
        handlers: Mapping[int, Instruction] | None = None,
    ) -> None:
        self.image = image
        self.image_path = None if image_path is None else os.fspath(image_path)
        self.faults = FaultInjector()
        self.state = VolatileState()
        self.instructions: dict[int, Instruction] = {
            **STANDARD_INSTRUCTIONS,
            **PROFILE_INSTRUCTIONS.get(image.profile, {}),
            **(handlers or {}),
        }
        self.powered = False
        image.nvm.persist = self._persist if self.image_path is not None else None

    def _persist(self) -> None:
        if self.image_path is not None:
            self.image.save(self.image_path)

    # -- VirtualCard -------------------------------------------------------------------------

    @property
    def serial(self) -> bytes:
        return self.image.serial

    @property
    def atr(self) -> bytes:
        return build_atr(self.image.serial, self.image.options.protocols)

    def power_on(self) -> bytes:
        """Cold reset: volatile state cleared, a torn commit rolled back (anti-tearing)."""
        self.image.nvm.recover()
        self.state = VolatileState()
        self.powered = True
        return self.atr

    def power_off(self) -> None:
        self.state = VolatileState()
        self.powered = False

    def reset(self) -> bytes:
        self.power_off()
        return self.power_on()

    def process(self, apdu: bytes) -> bytes:
        """Execute one command; never raises except :class:`PowerLost` from fault injection.
        A command to an unpowered card powers it on first (an in-process convenience)."""
        if not self.powered:
            self.power_on()
        nvm = self.image.nvm
        nvm.begin_command(self.faults.begin_command())
        try:
            try:
                response = self._execute(bytes(apdu))
            finally:
                self.faults.last_command_nvm_writes = nvm.command_writes
            nvm.end_command()
        except PowerLost:
            self.power_off()
            raise
        return response

    # -- dispatch ------------------------------------------------------------------------------

    def _execute(self, raw: bytes) -> bytes:
        try:
            apdu = CommandApdu.decode(raw)
        except Exception:  # CodecError; any decoder defect must still become a status word
            self.state.pending_response = None
            return _sw(SW_WRONG_LENGTH)
        command = Command(apdu, raw)
        if command.ins != 0xC0:
            self.state.pending_response = None
        try:
            data, sw = self._dispatch(command), SW_OK
        except SwError as error:
            data, sw = error.data, error.sw
        except PowerLost:
            raise
        except Exception:  # a handler bug must not take the carrier down
            data, sw = b"", SW_NO_PRECISE_DIAGNOSIS
        return self._respond(command, data, sw)

    def _dispatch(self, command: Command) -> bytes:
        """CLA: interindustry 0X or proprietary 8X, b4-b3 = secure messaging, b2-b1 = logical
        channel (only 0 supported → 6881); anything else (chaining 1X, 4X-7X, 9X-FF) → 6E00."""
        cla = command.cla
        if cla & 0x70 or cla == 0xFF:
            raise SwError(SW_CLA_NOT_SUPPORTED)
        if cla & 0x03:
            raise SwError(SW_CHANNEL_NOT_SUPPORTED)
        instruction = self.instructions.get(command.ins)
        if instruction is None:
            raise SwError(SW_INS_NOT_SUPPORTED)
        if instruction.proprietary_only and not command.proprietary:
            raise SwError(SW_CLA_NOT_SUPPORTED)
        if command.secure_messaging and not instruction.secure_messaging:
            raise SwError(SW_SM_NOT_SUPPORTED)
        return instruction.handler(self, command)

    def _respond(self, command: Command, data: bytes, sw: int) -> bytes:
        """The one place where Ne is enforced. Data longer than Ne → 6Cxx (ISO/IEC 7816-3 §10.3.3
        wrong Le). In ``t0_get_response`` mode a command with data (case 4) or without Le gets
        61xx and its data through GET RESPONSE. Without Le in T=1 mode data is still returned
        (as the health card returns its FCI)."""
        if sw != SW_OK or not data:
            return data + _sw(sw)
        ne = command.ne
        if self.image.options.t0_get_response and (command.data or ne is None) and command.ins != 0xC0:
            self.state.pending_response = data
            return _sw(0x6100 | (len(data) & 0xFF))
        if ne is not None and len(data) > ne:
            if len(data) <= 256:
                return _sw(0x6C00 | (len(data) & 0xFF))
            data = data[:ne]
        return data + _sw(sw)

    # -- inspection ----------------------------------------------------------------------------

    def describe(self) -> str:
        """A printable file tree (``card-sim info``). Shows key metadata, never key values."""
        image, fs = self.image, self.image.fs
        options = ", ".join(f"{name}={value}" for name, value in image.options.to_mapping().items())
        lines = [
            f"card serial {image.serial.hex().upper()}  profile {image.profile}  ({options})",
            f"ATR {self.atr.hex(' ').upper()}",
            f"NVM programming operations {image.nvm.lifetime_writes}"
            + ("  [torn write pending rollback]" if image.nvm.pending else ""),
        ]
        for path, header in fs.walk():
            indent = "  " * (len(path) - 1)
            fid = f"{path[-1]:04X}"
            if header.structure is FileStructure.DF:
                kind = "MF" if len(path) == 1 else "DF"
                name = f" name {header.name.hex().upper()}" if header.name else ""
                try:
                    text = header.name.decode("ascii")
                    if text.isprintable() and name:
                        name += f" ({text})"
                except UnicodeDecodeError:
                    pass
                lines.append(
                    f"{indent}{fid} {kind}{name}  create: {header.rule('create')}"
                    f"  write key: {header.rule('write_key')}"
                )
                for ref, key in sorted(fs.keys(path), key=lambda item: item[0]):
                    lines.append(
                        f"{indent}  key {ref:02X}: {key.usage.name.lower()} {key.algorithm.name}"
                        f" tries {fs.tries_left(path, ref)}/{key.max_tries}"
                    )
                continue
            rights = "  ".join(f"{op}: {header.rule(op)}" for op in ("read", "update", "append", "erase"))
            sfi = f" SFI {header.sfi:02X}" if header.sfi is not None else ""
            if header.structure is FileStructure.TRANSPARENT:
                shape = f"transparent {header.size} bytes"
            else:
                count = len(fs.records(path, header))
                tlv = " simple-TLV" if header.simple_tlv else ""
                shape = (
                    f"{header.structure.value}{tlv} {count}/{header.max_records} records"
                    f" of {header.record_length}"
                )
            lines.append(f"{indent}{fid} EF {shape}{sfi}  {rights}")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        where = self.image_path or "in memory"
        return f"CardOS(profile={self.image.profile!r}, serial={self.serial.hex().upper()}, {where})"
