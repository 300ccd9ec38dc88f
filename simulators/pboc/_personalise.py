"""Personalisation: the bank application's DFs for a card profile, built from the issuer's table.

:func:`payment_dfs` turns a :class:`~cardservice.pboc._profile.BankAccount` into the PSE, PPSE and ADF
:class:`~simulators.cardos.DfSpec` trees the health profile hangs under its MF (layout: :mod:`._layout`).
The values come from :func:`cardservice.pboc._issuing.bank_application`, the function card-issuer
personalises real (blank) cards with. The card's keys are the issuer's master keys diversified by PAN and
PSN (option A, :func:`cardservice.pboc.card_master_key`); with no issuer keys given they are the DEMO ones
of :mod:`._demo`.

DEMO ODA keys (:data:`DEMO_RSA_DIR`): the CA and issuer keys, and the issuer certificate the DEMO CA made
once (``issuer-certificate.json``, :func:`demo_issuer_oda_key`: what a key store holds beside the issuer
key, so card-issuer needs no CA key).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cardservice.pboc import AcScheme
from cardservice.pboc import _oda as oda
from cardservice.pboc import _profile as profile
from cardservice.pboc._issuing import ISSUER_KEY_NAMES, IssuerOdaKey, bank_application
from simulators.cardos import NEVER, DfSpec, EfSpec, FileStructure, KeyAlgorithm, KeySpec, KeyUsage
from simulators.pboc._demo import demo_bank_key
from simulators.pboc._layout import (
    ADF_FID,
    COUNTERS_FID,
    ICC_KEY_FID,
    PARAMETERS_FID,
    PPSE_FID,
    PSE_FID,
    RECORD_FIDS,
    RECORD_LENGTH,
)

__all__ = [
    "DEMO_ISSUER_CERTIFICATE",
    "DEMO_RSA_DIR",
    "ISSUER_KEY_NAMES",
    "PPSE_NAME",
    "OdaIssuer",
    "demo_issuer_oda_key",
    "demo_oda_issuer",
    "issuer_oda_key",
    "payment_dfs",
    "payment_shell",
]

PPSE_NAME = b"2PAY.SYS.DDF01"
#: DEMO ONLY: the published CA and issuer RSA keys (see its README.md).
DEMO_RSA_DIR = Path(__file__).with_name("demo_rsa")
#: DEMO ONLY: the issuer certificate the DEMO CA made for the DEMO issuer key (BIN 622848, through 12/2040).
DEMO_ISSUER_CERTIFICATE = DEMO_RSA_DIR / "issuer-certificate.json"
#: The issuer certificate outlives the cards it certifies (the CA's choice for the demo issuer).
_ISSUER_CERTIFICATE_EXPIRY = _dt.date(2040, 12, 31)
_BIN_DIGITS = 6
_KEY_ALGORITHMS = {AcScheme.PBOC_TDES: KeyAlgorithm.TDES, AcScheme.PBOC_SM4: KeyAlgorithm.SM4}


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


def issuer_oda_key(
    issuer: OdaIssuer, issuer_identifier: str, expires: _dt.date = _ISSUER_CERTIFICATE_EXPIRY
) -> IssuerOdaKey:
    """The CA's certificate of *issuer*'s key for *issuer_identifier* (the BIN), made with the CA key."""
    certificate = oda.issuer_certificate(
        issuer.ca_private_key, issuer.issuer_private_key, issuer_identifier=issuer_identifier, expires=expires
    )
    return IssuerOdaKey(issuer.issuer_private_key, issuer.ca_index, certificate, issuer_identifier, expires)


@functools.cache
def demo_issuer_oda_key() -> IssuerOdaKey:
    """DEMO ONLY: the DEMO issuer key and the certificate shipped beside it (:data:`DEMO_ISSUER_CERTIFICATE`),
    as card-issuer finds them in the DEMO key store."""
    shipped = json.loads(DEMO_ISSUER_CERTIFICATE.read_text(encoding="utf-8"))
    return IssuerOdaKey.from_meta(_load_private_key(DEMO_RSA_DIR / "issuer.pem"), shipped)


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
        record_length=RECORD_LENGTH,
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
    algorithm = _KEY_ALGORITHMS.get(scheme)
    if algorithm is None:
        raise ValueError(f"a card's cryptogram scheme is PBOC 3DES or PBOC SM4, not {scheme.value}")
    masters = {name: (issuer_keys or {}).get(name) or demo_bank_key(name) for name in ISSUER_KEY_NAMES}
    oda_key = None
    if with_oda:
        expires = max(_ISSUER_CERTIFICATE_EXPIRY, account.expiry)
        oda_key = issuer_oda_key(oda_issuer or demo_oda_issuer(), account.pan[:_BIN_DIGITS], expires)
    app = bank_application(account, masters, scheme=scheme, oda_key=oda_key)
    keys = tuple(
        KeySpec(
            key.ref,
            key.value,
            usage=KeyUsage.SECURE_MESSAGING if key.secure_messaging else KeyUsage.INTERNAL_AUTH,
            algorithm=algorithm,
        )
        for key in app.keys
    )
    internal = [
        _internal_ef(PARAMETERS_FID, app.parameters.encode()),
        _internal_ef(COUNTERS_FID, app.counters.encode()),
        *([_internal_ef(ICC_KEY_FID, app.icc_key)] if app.icc_key is not None else []),
    ]
    adf = DfSpec(
        ADF_FID,
        name=profile.AID,
        children=(
            *(_records_ef(RECORD_FIDS[sfi], sfi, recs) for sfi, recs in app.records.items()),
            *internal,
        ),
        keys=keys,
        create=NEVER,
        write_key=NEVER,
    )
    pse = DfSpec(
        PSE_FID,
        name=profile.PSE_NAME,
        children=(
            _records_ef(RECORD_FIDS[profile.PSE_SFI], profile.PSE_SFI, app.pse_records),
            _internal_ef(PARAMETERS_FID, app.pse_parameters.encode()),
        ),
        create=NEVER,
        write_key=NEVER,
    )
    return pse, payment_shell()[1], adf
