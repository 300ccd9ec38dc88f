"""Crypto benchmark: native primitives (``cryptography`` / Tongsuo) against gmssl (pure Python).

``python -m bench.bench_crypto`` prints, e.g.::

    sm4-cbc-mac  native 240.1 MB/s  gmssl 0.26 MB/s  ratio 923x
    sm2-sign+verify  native 1200.0 /s  gmssl 60.0 /s  ratio 20x

Both sides MAC the same input with ISO/IEC 9797-1 padding method 2 and the results are checked
to be equal before anything is timed (gmssl pads PKCS#7 itself, so its last block is dropped).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gmssl.sm2 import CryptSM2
from gmssl.sm4 import SM4_ENCRYPT, CryptSM4

from cardservice.keys import BlockCipher, Sm2PrivateKey, mac_algorithm_1, pad_iso9797_m2

__all__ = ["main", "run"]

_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")
_DATA = bytes(range(256)) * 256  # 64 KiB
_GMSSL_DATA = _DATA[:4096]  # gmssl is ~1000x slower: a 4 KiB slice keeps its run short
_SM2_MESSAGE = b"EE01 inpatient record"


def _timed(operation: Callable[[], object], budget: float) -> float:
    """Operations per second, repeating *operation* for about *budget* seconds (at least once)."""
    count = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < budget or count == 0:
        operation()
        count += 1
        elapsed = time.perf_counter() - started
    return count / elapsed


def _gmssl_cbc_mac(data: bytes) -> bytes:
    engine = CryptSM4()
    engine.set_key(_KEY, SM4_ENCRYPT)
    # crypt_cbc always appends a PKCS#7 block: the MAC is the block before it.
    return bytes(engine.crypt_cbc(bytes(16), pad_iso9797_m2(data, 16))[-32:-16])


def run(budget: float = 1.0) -> dict[str, float]:
    """Measure and return ``{"sm4_mac_native_mbps", "sm4_mac_gmssl_mbps", "sm4_mac_ratio",
    "sm2_native_per_s", "sm2_gmssl_per_s", "sm2_ratio"}``; *budget* seconds per measurement."""
    if mac_algorithm_1(BlockCipher.SM4, _KEY, _GMSSL_DATA) != _gmssl_cbc_mac(_GMSSL_DATA):
        raise RuntimeError("gmssl and cardservice disagree on the SM4 CBC-MAC")

    native_mac = _timed(lambda: mac_algorithm_1(BlockCipher.SM4, _KEY, _DATA), budget) * len(_DATA) / 1e6
    gmssl_mac = _timed(lambda: _gmssl_cbc_mac(_GMSSL_DATA), budget) * len(_GMSSL_DATA) / 1e6

    key = Sm2PrivateKey.generate()
    public = key.public_key()

    def native_sm2() -> None:
        public.verify(key.sign(_SM2_MESSAGE), _SM2_MESSAGE)

    other = CryptSM2(private_key=key.to_bytes().hex(), public_key=public.to_bytes()[1:].hex())

    def gmssl_sm2() -> None:
        if not other.verify_with_sm3(other.sign_with_sm3(_SM2_MESSAGE), _SM2_MESSAGE):
            raise RuntimeError("gmssl failed to verify its own signature")

    # Cross-check once: gmssl accepts our signature (same default user ID).
    if not other.verify_with_sm3(key.sign(_SM2_MESSAGE).hex(), _SM2_MESSAGE):
        raise RuntimeError("gmssl rejects a cardservice SM2 signature")
    native_sm2_rate = _timed(native_sm2, budget)
    gmssl_sm2_rate = _timed(gmssl_sm2, budget)
    return {
        "sm4_mac_native_mbps": native_mac,
        "sm4_mac_gmssl_mbps": gmssl_mac,
        "sm4_mac_ratio": native_mac / gmssl_mac,
        "sm2_native_per_s": native_sm2_rate,
        "sm2_gmssl_per_s": gmssl_sm2_rate,
        "sm2_ratio": native_sm2_rate / gmssl_sm2_rate,
    }


def main() -> None:
    results = run()
    print(
        f"sm4-cbc-mac  native {results['sm4_mac_native_mbps']:.1f} MB/s  "
        f"gmssl {results['sm4_mac_gmssl_mbps']:.2f} MB/s  ratio {results['sm4_mac_ratio']:.0f}x"
    )
    print(
        f"sm2-sign+verify  native {results['sm2_native_per_s']:.1f} /s  "
        f"gmssl {results['sm2_gmssl_per_s']:.1f} /s  ratio {results['sm2_ratio']:.0f}x"
    )


if __name__ == "__main__":
    main()
