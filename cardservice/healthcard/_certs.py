"""Project-defined certificates of the virtual PSAM (the sources leave their structure UNKNOWN).

The facts sheet (§5.1, §4.7) only gives sizes: issuer certificate 180 bytes (SAM DF01/001B, DDF1/EF05
item FKJGZS), SAM certificate 190 bytes (SAM DF01/001C, the "SAM卡证书" area of every EE/ED record).
shared/spec/README.md asks for a documented project structure. Both put the public key first, so a
terminal finds it at a fixed place (``cardservice.healthcard._psam`` reads bytes 0-64).

SAM certificate (190 bytes)::

    0   65  SM2 public key, uncompressed: 04 ‖ x(32) ‖ y(32)
    65   1  format version 01
    66   1  certificate type 02 = SAM
    67  10  SAM serial number (= SAM file 0015 bytes 0-9)
    77   8  issuer identifier (= SAM file 001A bytes 1-8)
    85   4  valid from, YYYYMMDD packed BCD
    89   4  valid to, YYYYMMDD packed BCD
    93  33  reserved, 00
   126  64  SM2 signature r ‖ s over bytes 0-125 (user ID 1234567812345678)

Issuer certificate (180 bytes)::

    0   65  SM2 public key 04 ‖ x ‖ y
    65   1  format version 01
    66   1  certificate type 01 = issuer
    67   8  issuer identifier
    75   4  valid from (BCD)
    79   4  valid to (BCD)
    83  33  reserved, 00
   116  64  SM2 signature r ‖ s over bytes 0-115

Signer: the key store holds one SM2 key (the SAM's), and the issuer PKI is UNKNOWN, so both are
self-signed with that key — placeholders with a checkable shape, not a trust chain.
"""

from __future__ import annotations

from cardservice.keys import Sm2PrivateKey

__all__ = [
    "ISSUER_CERTIFICATE_SIZE",
    "ISSUER_ID",
    "SAM_CERTIFICATE_SIZE",
    "VALID_FROM",
    "VALID_TO",
    "issuer_certificate",
    "sam_certificate",
]

SAM_CERTIFICATE_SIZE = 190
ISSUER_CERTIFICATE_SIZE = 180
#: DEMO issuer identifier (8 bytes; province 11 = Beijing, then a serial).
ISSUER_ID = bytes.fromhex("1100000000000001")
VALID_FROM = bytes.fromhex("20240101")
VALID_TO = bytes.fromhex("20341231")
_VERSION = 0x01
_TYPE_ISSUER, _TYPE_SAM = 0x01, 0x02
_RESERVED = bytes(33)


def sam_certificate(key: Sm2PrivateKey, sam_serial: bytes) -> bytes:
    """The 190-byte SAM certificate of *key* for the SAM numbered *sam_serial* (10 bytes)."""
    if len(sam_serial) != 10:
        raise ValueError("the SAM serial number is 10 bytes")
    body = (
        key.public_key().to_bytes()
        + bytes([_VERSION, _TYPE_SAM])
        + sam_serial
        + ISSUER_ID
        + VALID_FROM
        + VALID_TO
        + _RESERVED
    )
    return body + key.sign(body)


def issuer_certificate(key: Sm2PrivateKey) -> bytes:
    """The 180-byte issuer certificate (self-signed, see the module doc)."""
    body = key.public_key().to_bytes() + bytes([_VERSION, _TYPE_ISSUER]) + ISSUER_ID + VALID_FROM + VALID_TO
    body += _RESERVED
    return body + key.sign(body)
