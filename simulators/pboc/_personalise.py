"""Personalisation: the bank application's DFs for a card profile, built from the issuer's table.

:func:`payment_dfs` turns a :class:`~cardservice.pboc._profile.BankAccount` into the PSE, PPSE and ADF
:class:`~simulators.cardos.DfSpec` trees the health profile hangs under its MF (layout: :mod:`._layout`).
The card's keys are the issuer's master keys diversified by PAN and PSN (option A,
:func:`cardservice.pboc.card_master_key`); with no issuer keys given they are the DEMO ones of
:mod:`._demo`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cardservice.pboc import AcScheme, card_master_key
from cardservice.pboc import _oda as oda
from cardservice.pboc import _profile as profile
from simulators.cardos import NEVER, DfSpec, EfSpec, FileStructure, KeyAlgorithm, KeySpec, KeyUsage
from simulators.pboc._demo import demo_bank_key
from simulators.pboc._layout import (
    ADF_FID,
    COUNTERS_FID,
    ICC_KEY_FID,
    MK_AC_REF,
    MK_SMC_REF,
    MK_SMI_REF,
    PARAMETERS_FID,
    PPSE_FID,
    PSE_FID,
    RECORD_FIDS,
    Counters,
    Parameters,
)

__all__ = [
    "DEMO_RSA_DIR",
    "ISSUER_KEY_NAMES",
    "PPSE_NAME",
    "OdaIssuer",
    "demo_oda_issuer",
    "payment_dfs",
    "payment_shell",
]

ISSUER_KEY_NAMES = ("IMK-AC", "IMK-SMI", "IMK-SMC")
PPSE_NAME = b"2PAY.SYS.DDF01"
_RECORD_LENGTH = 255  # the card OS's longest record
#: DEMO ONLY: the published CA and issuer RSA keys (see its README.md).
DEMO_RSA_DIR = Path(__file__).with_name("demo_rsa")
#: The issuer certificate outlives the cards it certifies (the CA's choice for the demo issuer).
_ISSUER_CERTIFICATE_EXPIRY = _dt.date(2040, 12, 31)
_BIN_DIGITS = 6
_ALGORITHMS = {
    AcScheme.PBOC_TDES: (profile.ALGORITHM_TDES, KeyAlgorithm.TDES),
    AcScheme.PBOC_SM4: (profile.ALGORITHM_SM4, KeyAlgorithm.SM4),
}


@dataclasses.dataclass(frozen=True)
class OdaIssuer:
    """What offline data authentication needs at personalisation: the CA's key (and its index, tag 8F)
    that certifies the issuer, and the issuer's key that certifies each card's ICC key."""

    ca_private_key: rsa.RSAPrivateKey = dataclasses.field(repr=False)
    ca_index: int
    issuer_private_key: rsa.RSAPrivateKey = dataclasses.field(repr=False)


def _load_private_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA private key")
    return key


@functools.cache
def demo_oda_issuer() -> OdaIssuer:
    """DEMO ONLY: the CA and issuer keys of :data:`DEMO_RSA_DIR`; the CA index is the one the terminal's
    ``capk.toml`` gives the CA's public key."""
    ca_key = _load_private_key(DEMO_RSA_DIR / "ca.pem")
    modulus = ca_key.public_key().public_numbers().n
    indexes = [entry.index for entry in oda.load_ca_keys().values() if entry.modulus == modulus]
    if not indexes:
        raise ValueError("the DEMO CA key is not in cardservice/pboc/capk.toml")
    return OdaIssuer(ca_key, indexes[0], _load_private_key(DEMO_RSA_DIR / "issuer.pem"))


def _oda_data(
    account: profile.BankAccount,
    issuer: OdaIssuer,
    icc_key: rsa.RSAPrivateKey,
    records: Mapping[int, tuple[bytes, ...]],
) -> dict[int, bytes]:
    """The ODA data objects (:data:`~cardservice.pboc._profile.ODA_TAGS`) of one card."""
    static = oda.static_data_to_authenticate(
        [(1, records[1][0])], profile.SDA_TAG_LIST, {0x82: profile.application_interchange_profile(True)}
    )
    issuer_certificate = oda.issuer_certificate(
        issuer.ca_private_key,
        issuer.issuer_private_key,
        issuer_identifier=account.pan[:_BIN_DIGITS],
        expires=max(_ISSUER_CERTIFICATE_EXPIRY, account.expiry),
    )
    icc_certificate = oda.icc_certificate(
        issuer.issuer_private_key, icc_key, pan=account.pan, expires=account.expiry, static_data=static
    )
    return {
        0x8F: bytes([issuer.ca_index]),
        0x90: issuer_certificate.certificate,
        0x92: issuer_certificate.remainder,
        0x9F32: issuer_certificate.exponent,
        0x93: oda.sign_static_data(issuer.issuer_private_key, static),
        0x9F46: icc_certificate.certificate,
        0x9F47: icc_certificate.exponent,
        0x9F48: icc_certificate.remainder,
    }


def payment_shell() -> tuple[DfSpec, DfSpec]:
    """The empty PSE and PPSE DFs of a health card without a bank application."""
    return (
        DfSpec(PSE_FID, name=profile.PSE_NAME, create=NEVER, write_key=NEVER),
        DfSpec(PPSE_FID, name=PPSE_NAME, create=NEVER, write_key=NEVER),
    )


def _records_ef(fid: int, sfi: int, records: tuple[bytes, ...]) -> EfSpec:
    return EfSpec(
        fid,
        FileStructure.LINEAR_VARIABLE,
        record_length=_RECORD_LENGTH,
        max_records=len(records),
        sfi=sfi,
        content=records,
        update=NEVER,
        append=NEVER,
        erase=NEVER,
    )


def _internal_ef(fid: int, content: bytes) -> EfSpec:
    return EfSpec(
        fid, size=len(content), content=content, read=NEVER, update=NEVER, append=NEVER, erase=NEVER
    )


def payment_dfs(
    account: profile.BankAccount = profile.DEMO_ACCOUNT,
    *,
    issuer_keys: Mapping[str, bytes] | None = None,
    scheme: AcScheme = AcScheme.PBOC_TDES,
    oda_issuer: OdaIssuer | None = None,
    with_oda: bool = True,
) -> tuple[DfSpec, DfSpec, DfSpec]:
    """PSE, PPSE and ADF of a card carrying the debit application for *account*. *issuer_keys*: the
    issuer's master keys by :data:`ISSUER_KEY_NAMES` (default: the DEMO keys). With ODA (the default) the
    card gets its own ICC key and certificates from *oda_issuer* (default: :func:`demo_oda_issuer`);
    ``with_oda=False`` makes a card without SDA/DDA (AIP ``1C00``, no SFI 2)."""
    if scheme not in _ALGORITHMS:
        raise ValueError(f"a card's cryptogram scheme is PBOC 3DES or PBOC SM4, not {scheme.value}")
    algorithm_id, key_algorithm = _ALGORITHMS[scheme]
    masters = {name: (issuer_keys or {}).get(name) or demo_bank_key(name) for name in ISSUER_KEY_NAMES}
    keys = tuple(
        KeySpec(
            ref,
            card_master_key(masters[name], account.pan, account.psn, scheme),
            usage=usage,
            algorithm=key_algorithm,
        )
        for ref, name, usage in (
            (MK_AC_REF, "IMK-AC", KeyUsage.INTERNAL_AUTH),
            (MK_SMI_REF, "IMK-SMI", KeyUsage.SECURE_MESSAGING),
            (MK_SMC_REF, "IMK-SMC", KeyUsage.SECURE_MESSAGING),
        )
    )
    records = profile.card_records(account)
    icc_key: list[EfSpec] = []
    if with_oda:
        key = oda.generate_icc_key()
        records = profile.card_records(
            account, _oda_data(account, oda_issuer or demo_oda_issuer(), key, records)
        )
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        icc_key.append(_internal_ef(ICC_KEY_FID, der))
    parameters = Parameters(
        fci=profile.adf_fci_proprietary(),
        aip=profile.application_interchange_profile(with_oda),
        afl=profile.application_file_locator(with_oda),
        pdol=profile.PDOL,
        cdol1=profile.CDOL1,
        cdol2=profile.CDOL2,
        dki=profile.DKI,
        cvn=profile.CVN,
        algorithm=algorithm_id,
        pin_try_limit=profile.PIN_TRY_LIMIT,
    )
    internal = [
        _internal_ef(PARAMETERS_FID, parameters.encode()),
        _internal_ef(COUNTERS_FID, Counters(pin_tries=profile.PIN_TRY_LIMIT).encode()),
        *icc_key,
    ]
    adf = DfSpec(
        ADF_FID,
        name=profile.AID,
        children=(*(_records_ef(RECORD_FIDS[sfi], sfi, recs) for sfi, recs in records.items()), *internal),
        keys=keys,
        create=NEVER,
        write_key=NEVER,
    )
    pse = DfSpec(
        PSE_FID,
        name=profile.PSE_NAME,
        children=(
            _records_ef(RECORD_FIDS[profile.PSE_SFI], profile.PSE_SFI, profile.pse_records()),
            _internal_ef(PARAMETERS_FID, Parameters(fci=profile.pse_fci_proprietary()).encode()),
        ),
        create=NEVER,
        write_key=NEVER,
    )
    return pse, payment_shell()[1], adf
