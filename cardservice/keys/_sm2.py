"""SM2 digital signatures (GB/T 32918.2-2016) over the recommended curve (GB/T 32918.5-2017).

The elliptic-curve work is done natively by Tongsuo through ``tongsuopy``; ``cryptography`` has no
SM2. We compute ``Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`` and ``e = SM3(Z || M)``
ourselves and hand Tongsuo the prehashed ``e`` (``EVP_PKEY_sign`` / ``EVP_PKEY_verify`` on an SM2
key treat their input as the digest). That is what lets us support any user ID and the SAM's
"sign a hash" operation. tongsuopy's public API has no prehashed path, so this uses its
``backend._lib`` / ``backend._ffi`` and the key's ``_evp_pkey`` (pinned: tongsuopy >= 1.0.1, < 2).
The signing nonce k comes from Tongsuo's CSPRNG. Signatures are raw ``r || s`` (64 bytes), as cards
store them; DER exists only at the library boundary.
"""

from __future__ import annotations

from typing import Any, Self

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from tongsuopy.backends.tongsuo.backend import backend as _backend
from tongsuopy.crypto import serialization
from tongsuopy.crypto.asymciphers import ec

from cardservice.errors import CryptoError
from cardservice.keys._cipher import sm3_digest
from cardservice.keys._errors import opaque

__all__ = ["DEFAULT_SM2_USER_ID", "SM2_CURVE", "Sm2PrivateKey", "Sm2PublicKey", "sm2_z"]

#: The default distinguishing identifier of GB/T 35276 / GM/T 0009 (ASCII "1234567812345678").
DEFAULT_SM2_USER_ID = b"1234567812345678"


class _Curve:
    """Parameters of the SM2 recommended curve, GB/T 32918.5-2017 clause 4 (public facts)."""

    p = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
    a = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
    b = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
    n = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
    gx = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
    gy = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0


SM2_CURVE = _Curve()
_SIZE = 32
_MAX_ID_BYTES = 0xFFFF // 8  # ENTL is the ID length in *bits* on two bytes


def _int_bytes(value: int) -> bytes:
    return value.to_bytes(_SIZE, "big")


def _raw_to_der(signature: bytes) -> bytes:
    if len(signature) != 2 * _SIZE:
        raise CryptoError()
    r = int.from_bytes(signature[:_SIZE], "big")
    s = int.from_bytes(signature[_SIZE:], "big")
    # GB/T 32918.2 clause 7.1 B1/B2: r, s in [1, n-1]; reject before touching the library.
    if not (0 < r < SM2_CURVE.n and 0 < s < SM2_CURVE.n):
        raise CryptoError()
    return encode_dss_signature(r, s)


def _der_to_raw(der: bytes) -> bytes:
    r, s = decode_dss_signature(der)
    return _int_bytes(r) + _int_bytes(s)


def _check_digest(e: bytes) -> bytes:
    if len(e) != _SIZE:
        raise CryptoError("SM2 digest e must be 32 bytes")
    return bytes(e)


def _pkey_ctx(evp_pkey: Any) -> Any:
    lib, ffi = _backend._lib, _backend._ffi
    ctx = lib.EVP_PKEY_CTX_new(evp_pkey, ffi.NULL)
    if ctx == ffi.NULL:
        _backend._consume_errors()
        raise CryptoError()
    return ffi.gc(ctx, lib.EVP_PKEY_CTX_free)


class Sm2PublicKey:
    """An SM2 public key (a point on the recommended curve). Immutable, hashable."""

    __slots__ = ("_key", "_point")

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        """Wrap a tongsuopy key; use :meth:`from_bytes` or :meth:`Sm2PrivateKey.public_key`."""
        self._key = key
        self._point: bytes = key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    @classmethod
    @opaque
    def from_bytes(cls, point: bytes) -> Self:
        """Load ``x || y`` (64 bytes) or ``04 || x || y`` (65 bytes). Points off the curve, at
        infinity or compressed are rejected with ``CryptoError``."""
        point = bytes(point)
        if len(point) == 2 * _SIZE:
            point = b"\x04" + point
        if len(point) != 2 * _SIZE + 1 or point[0] != 0x04:
            raise CryptoError("SM2 public key must be 64 bytes x||y or 65 bytes 04||x||y")
        return cls(ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), point))

    def to_bytes(self) -> bytes:
        """Uncompressed point ``04 || x || y`` (65 bytes)."""
        return self._point

    def z_value(self, user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
        """``Z_A`` of GB/T 32918.2-2016 clause 5.5 for this key and *user_id*."""
        user_id = bytes(user_id)
        if len(user_id) > _MAX_ID_BYTES:
            raise CryptoError("SM2 user ID too long")
        curve = SM2_CURVE
        entl = (8 * len(user_id)).to_bytes(2, "big")
        return sm3_digest(
            entl
            + user_id
            + _int_bytes(curve.a)
            + _int_bytes(curve.b)
            + _int_bytes(curve.gx)
            + _int_bytes(curve.gy)
            + self._point[1:]
        )

    def digest(self, data: bytes, *, user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
        """``e = SM3(Z_A || M)``: what is signed (GB/T 32918.2 clause 6.1 A1-A2)."""
        return sm3_digest(self.z_value(user_id) + bytes(data))

    def verify(self, signature: bytes, data: bytes, *, user_id: bytes = DEFAULT_SM2_USER_ID) -> None:
        """Check a raw ``r || s`` signature over *data*; ``CryptoError`` if it does not verify."""
        self.verify_digest(signature, self.digest(data, user_id=user_id))

    @opaque
    def verify_digest(self, signature: bytes, e: bytes) -> None:
        """Check a raw ``r || s`` signature over a precomputed ``e = SM3(Z || M)``."""
        der = _raw_to_der(signature)
        e = _check_digest(e)
        lib = _backend._lib
        ctx = _pkey_ctx(self._key._evp_pkey)
        if lib.EVP_PKEY_verify_init(ctx) != 1:
            _backend._consume_errors()
            raise CryptoError()
        result = lib.EVP_PKEY_verify(ctx, der, len(der), e, len(e))
        if result != 1:
            # Drain OpenSSL's error queue so a failed check cannot poison the next operation.
            _backend._consume_errors()
            raise CryptoError()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sm2PublicKey):
            return NotImplemented
        return self._point == other._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        # A short fingerprint identifies the key in logs without printing it.
        return f"Sm2PublicKey(sm3:{sm3_digest(self._point)[:4].hex()})"


class Sm2PrivateKey:
    """An SM2 private key. Its ``repr`` never shows the key; it cannot be compared or pickled."""

    __slots__ = ("_key",)

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        """Wrap a tongsuopy key; use :meth:`generate` or :meth:`from_bytes`."""
        self._key = key

    @classmethod
    def generate(cls) -> Self:
        """A new key pair from Tongsuo's CSPRNG."""
        return cls(ec.generate_private_key(ec.SM2()))

    @classmethod
    @opaque
    def from_bytes(cls, d: bytes) -> Self:
        """Load the 32-byte big-endian private scalar d, 1 <= d <= n-2 (GB/T 32918.1 clause 6.1)."""
        if len(d) != _SIZE:
            raise CryptoError("SM2 private key must be 32 bytes")
        value = int.from_bytes(d, "big")
        if not 1 <= value <= SM2_CURVE.n - 2:
            raise CryptoError()
        return cls(ec.derive_private_key(value, ec.SM2()))

    def to_bytes(self) -> bytes:
        """The 32-byte big-endian private scalar d. Handle with care."""
        value: int = self._key.private_numbers().private_value
        return _int_bytes(value)

    def public_key(self) -> Sm2PublicKey:
        return Sm2PublicKey(self._key.public_key())

    def sign(self, data: bytes, *, user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
        """Sign *data*: ``r || s`` (64 bytes) over ``e = SM3(Z_A || data)``."""
        return self.sign_digest(self.public_key().digest(data, user_id=user_id))

    @opaque
    def sign_digest(self, e: bytes) -> bytes:
        """Sign a precomputed ``e = SM3(Z_A || M)`` (a SAM that receives a hash does this)."""
        e = _check_digest(e)
        lib, ffi = _backend._lib, _backend._ffi
        ctx = _pkey_ctx(self._key._evp_pkey)
        if lib.EVP_PKEY_sign_init(ctx) != 1:
            _backend._consume_errors()
            raise CryptoError()
        length = ffi.new("size_t *")
        if lib.EVP_PKEY_sign(ctx, ffi.NULL, length, e, len(e)) != 1:
            _backend._consume_errors()
            raise CryptoError()
        buffer = ffi.new("unsigned char[]", length[0])
        if lib.EVP_PKEY_sign(ctx, buffer, length, e, len(e)) != 1:
            _backend._consume_errors()
            raise CryptoError()
        return _der_to_raw(bytes(ffi.buffer(buffer)[: length[0]]))

    def __repr__(self) -> str:
        return "Sm2PrivateKey(<hidden>)"

    def __reduce__(self) -> Any:
        # Pickling would silently copy the secret into caches, queues or logs.
        raise TypeError("Sm2PrivateKey cannot be pickled; use to_bytes() deliberately")


def sm2_z(public_key: Sm2PublicKey, user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
    """``Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA)`` (GB/T 32918.2-2016 clause 5.5)."""
    return public_key.z_value(user_id)
