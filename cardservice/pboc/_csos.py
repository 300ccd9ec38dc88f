"""Where a card-sim (CSOS) card keeps the bank application, and the encodings of its internal files.

Shared by the two sides that must agree byte for byte: card-sim (``simulators.pboc``, which builds cards and
runs the application's commands over these files) and card-issuer (``cardservice.issuance``, which writes
them to a blank card with APDUs). Like :class:`cardservice.issuance.CsosEncoding`, this is the card OS's
layout, not the standard's: a real card OS keeps the same data its own way. The issuer's data (records,
FCI, AIP, CDOLs, ...) comes from :mod:`._profile`; everything the application needs at run time is in the
card's files, so a card personalised differently behaves differently, restarts keep its state and a tear
rolls it back:

* PSE DDF ``1PAY.SYS.DDF01`` (FID AF01): EF01 = SFI 1, the directory records; EF10 = its FCI proprietary
  template. PPSE ``2PAY.SYS.DDF01`` (AF02) stays empty where it exists (no contactless).
* ADF (FID AD01, named by the AID) under the MF: EF01-EF03 = SFI 1-3, the records (read ALWAYS, nothing
  else ever); internal EFs, every access NEVER, no SFI:

  ====  ============  ========================================================================================
  FID   name          content
  ====  ============  ========================================================================================
  EF10  parameters    BER-TLV: A5 FCI template value, 82 AIP, 94 AFL, 9F38 PDOL, 8C CDOL1, 8D CDOL2,
                      DF61 DKI ‖ CVN ‖ algorithm id, DF62 PIN try limit (DF6x: card-sim's private tags)
  EF11  counters      ATC(2) ‖ last online ATC(2) ‖ PIN try counter(1) ‖ flags(1) ‖ EC balance(6, n12);
                      flags: 01 blocked, 02 last online transaction not completed, 04 issuer authentication
                      failed on the last online transaction
  EF12  ICC key       the ICC's RSA private key, PKCS#8 DER (only on a card with ODA data)
  ====  ============  ========================================================================================

  Keys (DF-local references, so no command outside the ADF finds them): 81 MK-AC (internal authentication
  usage), 82 MK-SMI, 83 MK-SMC (secure messaging usage); 3DES, or SM4 for the SM4 scheme.
"""

from __future__ import annotations

import dataclasses

from cardservice.apdu import decode_ber_tlv, encode_ber_tlv
from cardservice.errors import CodecError

__all__ = [
    "ADF_FID",
    "CARD_KEY_REFS",
    "COUNTERS_FID",
    "FLAG_BLOCKED",
    "FLAG_ISSUER_AUTH_FAILED",
    "FLAG_ONLINE_PENDING",
    "ICC_KEY_FID",
    "MK_AC_REF",
    "MK_SMC_REF",
    "MK_SMI_REF",
    "PARAMETERS_FID",
    "PPSE_FID",
    "PSE_FID",
    "RECORD_FIDS",
    "RECORD_LENGTH",
    "Counters",
    "Parameters",
]

PSE_FID = 0xAF01
PPSE_FID = 0xAF02
ADF_FID = 0xAD01
RECORD_FIDS = {1: 0xEF01, 2: 0xEF02, 3: 0xEF03}
PARAMETERS_FID = 0xEF10
COUNTERS_FID = 0xEF11
ICC_KEY_FID = 0xEF12
MK_AC_REF = 0x81
MK_SMI_REF = 0x82
MK_SMC_REF = 0x83
#: The card key each issuer master key is diversified into (:func:`~cardservice.pboc.card_master_key`).
CARD_KEY_REFS = {"IMK-AC": MK_AC_REF, "IMK-SMI": MK_SMI_REF, "IMK-SMC": MK_SMC_REF}
#: The record EFs' record length (linear variable: the longest record the card OS takes).
RECORD_LENGTH = 255

_TAG_CRYPTO = 0xDF61
_TAG_PIN_TRY_LIMIT = 0xDF62

FLAG_BLOCKED = 0x01
FLAG_ONLINE_PENDING = 0x02
FLAG_ISSUER_AUTH_FAILED = 0x04


@dataclasses.dataclass(frozen=True)
class Parameters:
    """The internal parameters EF of a PSE (only ``fci``) or of an ADF (everything)."""

    fci: bytes
    aip: bytes = b""
    afl: bytes = b""
    pdol: bytes = b""
    cdol1: bytes = b""
    cdol2: bytes = b""
    dki: int = 0
    cvn: int = 0
    algorithm: int = 0
    pin_try_limit: int = 0

    @property
    def is_application(self) -> bool:
        return bool(self.aip)

    def encode(self) -> bytes:
        out = encode_ber_tlv(0xA5, self.fci)
        if self.is_application:
            for tag, value in (
                (0x82, self.aip),
                (0x94, self.afl),
                (0x9F38, self.pdol),
                (0x8C, self.cdol1),
                (0x8D, self.cdol2),
                (_TAG_CRYPTO, bytes([self.dki, self.cvn, self.algorithm])),
                (_TAG_PIN_TRY_LIMIT, bytes([self.pin_try_limit])),
            ):
                out += encode_ber_tlv(tag, value)
        return out

    @classmethod
    def decode(cls, data: bytes) -> Parameters:
        """Raises :class:`CodecError` for a damaged EF."""
        items = {item.tag: item.value for item in decode_ber_tlv(data)}
        if 0xA5 not in items:
            raise CodecError("parameters EF without an FCI template")
        if 0x82 not in items:
            return cls(fci=items[0xA5])
        crypto, limit = items.get(_TAG_CRYPTO, b""), items.get(_TAG_PIN_TRY_LIMIT, b"")
        if len(crypto) != 3 or len(limit) != 1 or len(items[0x82]) != 2:
            raise CodecError("damaged application parameters")
        return cls(
            fci=items[0xA5],
            aip=items[0x82],
            afl=items.get(0x94, b""),
            pdol=items.get(0x9F38, b""),
            cdol1=items.get(0x8C, b""),
            cdol2=items.get(0x8D, b""),
            dki=crypto[0],
            cvn=crypto[1],
            algorithm=crypto[2],
            pin_try_limit=limit[0],
        )


@dataclasses.dataclass(frozen=True)
class Counters:
    """The application's persistent counters and flags (EF11)."""

    atc: int = 0
    last_online_atc: int = 0
    pin_tries: int = 3
    flags: int = 0
    balance: bytes = bytes(6)

    SIZE = 12

    def encode(self) -> bytes:
        return (
            self.atc.to_bytes(2, "big")
            + self.last_online_atc.to_bytes(2, "big")
            + bytes([self.pin_tries, self.flags])
            + self.balance
        )

    @classmethod
    def decode(cls, data: bytes) -> Counters:
        if len(data) != cls.SIZE:
            raise CodecError("damaged counters EF")
        return cls(
            atc=int.from_bytes(data[0:2], "big"),
            last_online_atc=int.from_bytes(data[2:4], "big"),
            pin_tries=data[4],
            flags=data[5],
            balance=bytes(data[6:12]),
        )

    def flag(self, mask: int) -> bool:
        return bool(self.flags & mask)

    def with_flag(self, mask: int, on: bool) -> Counters:
        return dataclasses.replace(self, flags=(self.flags | mask) if on else (self.flags & ~mask))
