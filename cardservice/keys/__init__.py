"""Cryptographic recipes for the health card: SM4/3DES/DES, SM3, SM2, ISO/IEC 9797-1 MACs,
key diversification, the encrypted key store and the SAM protocol; and where a key store's
passphrase or a SAM PIN comes from (an environment variable, else a terminal prompt; never argv).

Small recipes over native primitives (``cryptography`` for SM4/SM3/3DES/AES-GCM/scrypt, Tongsuo via
``tongsuopy`` for SM2). Every cryptographic failure raises the one opaque
:class:`cardservice.errors.CryptoError`, without a chained library exception. Randomness is a
parameter at the lowest level; comparisons of secrets are constant-time. Nothing here logs, and no
``repr`` shows key material.
"""

from cardservice.keys._cipher import (
    BlockCipher,
    decrypt_cbc,
    decrypt_ecb,
    encrypt_cbc,
    encrypt_ecb,
    sm3_digest,
)
from cardservice.keys._derivation import (
    auth_cryptogram,
    constant_time_equal,
    diversify,
    fold,
    random_bytes,
    session_key,
)
from cardservice.keys._keystore import (
    KEYSTORE_FORMAT,
    KEYSTORE_VERSION,
    KeyEntry,
    KeyStore,
    RsaKeyEntry,
    ScryptParams,
)
from cardservice.keys._mac import mac_algorithm_1, mac_algorithm_3, pad_iso9797_m2, unpad_iso9797_m2
from cardservice.keys._sam import SAM_MAC_LENGTH, Sam, SoftwareSam
from cardservice.keys._secrets import (
    KEYS_PASSPHRASE_ENV,
    SAM_PIN_ENV,
    keystore_passphrase,
    secret_from_environment,
)
from cardservice.keys._sm2 import DEFAULT_SM2_USER_ID, SM2_CURVE, Sm2PrivateKey, Sm2PublicKey, sm2_z

__all__ = [
    "DEFAULT_SM2_USER_ID",
    "KEYSTORE_FORMAT",
    "KEYSTORE_VERSION",
    "KEYS_PASSPHRASE_ENV",
    "SAM_MAC_LENGTH",
    "SAM_PIN_ENV",
    "SM2_CURVE",
    "BlockCipher",
    "KeyEntry",
    "KeyStore",
    "RsaKeyEntry",
    "Sam",
    "ScryptParams",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "SoftwareSam",
    "auth_cryptogram",
    "constant_time_equal",
    "decrypt_cbc",
    "decrypt_ecb",
    "diversify",
    "encrypt_cbc",
    "encrypt_ecb",
    "fold",
    "keystore_passphrase",
    "mac_algorithm_1",
    "mac_algorithm_3",
    "pad_iso9797_m2",
    "random_bytes",
    "secret_from_environment",
    "session_key",
    "sm2_z",
    "sm3_digest",
    "unpad_iso9797_m2",
]
