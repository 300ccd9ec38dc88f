"""One card's bank application as its issuer personalises it: the records with their ODA data, the
parameters and counters, the ICC key and the card keys — pure values, no I/O.

card-sim builds its cards' images from it (:func:`simulators.pboc.payment_dfs`) and card-issuer writes it to
a blank card with APDUs (:mod:`cardservice.issuance`), so a simulated card and an issued one hold what one
function made. The issuer's choices are :mod:`._profile`; where each value goes on the card is :mod:`._csos`.

Offline data authentication (EMV 4.3 Book 2 §5-§6): the CA certifies the issuer's RSA key once, offline; the
issuer keeps that certificate beside its key (:class:`IssuerOdaKey`) and certifies a fresh ICC key for every
card. The static data to authenticate is SFI 1 record 1 ‖ AIP (the SDA tag list names the AIP): signed for
SDA (93) and hashed into the ICC certificate for DDA.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cardservice.pboc import _oda as oda
from cardservice.pboc import _profile as profile
from cardservice.pboc._crypto import AcScheme, card_master_key
from cardservice.pboc._csos import CARD_KEY_REFS, MK_AC_REF, Counters, Parameters

__all__ = [
    "ISSUER_KEY_NAMES",
    "KEYSTORE_KEY_NAMES",
    "KEYSTORE_RSA_KEY_NAME",
    "ApplicationKey",
    "BankApplication",
    "IssuerOdaKey",
    "algorithm_id",
    "bank_application",
]

#: The issuer master keys a card's keys are diversified from, by PAN and PSN.
ISSUER_KEY_NAMES = ("IMK-AC", "IMK-SMI", "IMK-SMC")
#: Their names in a key store (:class:`cardservice.keys.KeyStore`): 3DES (16 bytes), or SM4 for the SM4
#: scheme; the three agree.
KEYSTORE_KEY_NAMES = {name: f"PBOC-{name}" for name in ISSUER_KEY_NAMES}
#: The key store's RSA entry of the issuer's ODA key; its meta is :meth:`IssuerOdaKey.meta`.
KEYSTORE_RSA_KEY_NAME = "PBOC-ISSUER-RSA"
_ALGORITHM_IDS = {AcScheme.PBOC_TDES: profile.ALGORITHM_TDES, AcScheme.PBOC_SM4: profile.ALGORITHM_SM4}


def algorithm_id(scheme: AcScheme) -> int:
    """The IAD's algorithm id of a card's cryptogram scheme (ValueError for one a card cannot have)."""
    if scheme not in _ALGORITHM_IDS:
        raise ValueError(f"a card's cryptogram scheme is PBOC 3DES or PBOC SM4, not {scheme.value}")
    return _ALGORITHM_IDS[scheme]


@dataclasses.dataclass(frozen=True)
class IssuerOdaKey:
    """The issuer's RSA key and the certificate the CA made for it (tags 8F, 90, 92, 9F32): the certificate
    names the issuer identifier (the BIN every PAN it certifies starts with) and is valid through the month
    of *expires*."""

    private_key: rsa.RSAPrivateKey = dataclasses.field(repr=False)
    ca_index: int
    certificate: oda.KeyCertificate = dataclasses.field(repr=False)
    issuer_identifier: str
    expires: _dt.date

    def certifies(self, account: profile.BankAccount) -> bool:
        """Whether a card for *account* may carry this certificate: the PAN starts with the issuer
        identifier and the card expires no later than the certificate's month."""
        last = (self.expires.year, self.expires.month)
        return (
            account.pan.startswith(self.issuer_identifier)
            and (account.expiry.year, account.expiry.month) <= last
        )

    def meta(self) -> dict[str, object]:
        """The certificate as JSON values, kept beside the private key (key store meta; the DEMO file)."""
        return {
            "ca_index": self.ca_index,
            "issuer_identifier": self.issuer_identifier,
            "expires": f"{self.expires.year:04d}-{self.expires.month:02d}",
            "certificate": self.certificate.certificate.hex().upper(),
            "remainder": self.certificate.remainder.hex().upper(),
            "exponent": self.certificate.exponent.hex().upper(),
        }

    @classmethod
    def from_meta(cls, private_key: rsa.RSAPrivateKey, meta: Mapping[str, object]) -> IssuerOdaKey:
        """The inverse of :meth:`meta`; ValueError for missing or malformed items."""
        try:
            year, month = (int(part) for part in str(meta["expires"]).split("-"))
            certificate = oda.KeyCertificate(
                *(bytes.fromhex(str(meta[name])) for name in ("certificate", "remainder", "exponent"))
            )
            ca_index = meta["ca_index"]
            identifier = str(meta["issuer_identifier"])
            expires = _dt.date(year, month, 1)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"issuer ODA key: bad certificate data ({type(exc).__name__})") from None
        if not isinstance(ca_index, int) or not (identifier.isascii() and identifier.isdigit()):
            raise ValueError("issuer ODA key: bad CA index or issuer identifier")
        return cls(private_key, ca_index, certificate, identifier, expires)


@dataclasses.dataclass(frozen=True)
class ApplicationKey:
    """One card key of the ADF: *ref* (81-83), the issuer key it comes from, its value."""

    ref: int
    issuer_key: str
    value: bytes = dataclasses.field(repr=False)

    @property
    def secure_messaging(self) -> bool:
        """MK-SMI and MK-SMC protect issuer scripts; MK-AC makes cryptograms (internal authentication)."""
        return self.ref != MK_AC_REF


@dataclasses.dataclass(frozen=True, repr=False)
class BankApplication:
    """Everything one card's bank application holds (layout: :mod:`._csos`)."""

    account: profile.BankAccount
    scheme: AcScheme
    records: Mapping[int, tuple[bytes, ...]]  # ADF: SFI -> records (70 templates)
    parameters: Parameters
    counters: Counters
    pse_records: tuple[bytes, ...]
    pse_parameters: Parameters
    keys: tuple[ApplicationKey, ...]
    icc_key: bytes | None  # PKCS#8 DER of the ICC's RSA private key; None without ODA

    @property
    def oda(self) -> bool:
        return self.icc_key is not None

    def __repr__(self) -> str:
        # The records hold the PAN: only the masked account is shown.
        return f"BankApplication({self.account!r}, scheme={self.scheme.value}, oda={self.oda})"


def _oda_data(
    account: profile.BankAccount,
    issuer: IssuerOdaKey,
    icc_key: rsa.RSAPrivateKey,
    records: Mapping[int, tuple[bytes, ...]],
) -> dict[int, bytes]:
    """The ODA data objects (:data:`~._profile.ODA_TAGS`) of one card."""
    static = oda.static_data_to_authenticate(
        [(1, records[1][0])], profile.SDA_TAG_LIST, {0x82: profile.application_interchange_profile(True)}
    )
    icc_certificate = oda.icc_certificate(
        issuer.private_key, icc_key, pan=account.pan, expires=account.expiry, static_data=static
    )
    return {
        0x8F: bytes([issuer.ca_index]),
        0x90: issuer.certificate.certificate,
        0x92: issuer.certificate.remainder,
        0x9F32: issuer.certificate.exponent,
        0x93: oda.sign_static_data(issuer.private_key, static),
        0x9F46: icc_certificate.certificate,
        0x9F47: icc_certificate.exponent,
        0x9F48: icc_certificate.remainder,
    }


def bank_application(
    account: profile.BankAccount,
    master_keys: Mapping[str, bytes],
    *,
    scheme: AcScheme = AcScheme.PBOC_TDES,
    oda_key: IssuerOdaKey | None = None,
    icc_key: rsa.RSAPrivateKey | None = None,
) -> BankApplication:
    """The bank application of the card for *account*. *master_keys*: the issuer's keys by
    :data:`ISSUER_KEY_NAMES`; the card's are diversified from them by PAN and PSN (option A). With *oda_key*
    the card gets SDA/DDA data and an ICC key (*icc_key*, else a fresh one); without, AIP ``1C00`` and no
    SFI 2. ValueError for a missing master key, a scheme a card cannot have, or a certificate that does not
    cover the account."""
    algorithm = algorithm_id(scheme)
    missing = [name for name in ISSUER_KEY_NAMES if name not in master_keys]
    if missing:
        raise ValueError(f"issuer master key(s) missing: {', '.join(missing)}")
    keys = tuple(
        ApplicationKey(ref, name, card_master_key(master_keys[name], account.pan, account.psn, scheme))
        for name, ref in CARD_KEY_REFS.items()
    )
    records = profile.card_records(account)
    der: bytes | None = None
    if oda_key is not None:
        if not oda_key.certifies(account):
            raise ValueError("the issuer certificate does not cover this card (issuer identifier or expiry)")
        icc_key = icc_key or oda.generate_icc_key()
        records = profile.card_records(account, _oda_data(account, oda_key, icc_key, records))
        der = icc_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    with_oda = oda_key is not None
    parameters = Parameters(
        fci=profile.adf_fci_proprietary(),
        aip=profile.application_interchange_profile(with_oda),
        afl=profile.application_file_locator(with_oda),
        pdol=profile.PDOL,
        cdol1=profile.CDOL1,
        cdol2=profile.CDOL2,
        dki=profile.DKI,
        cvn=profile.CVN,
        algorithm=algorithm,
        pin_try_limit=profile.PIN_TRY_LIMIT,
    )
    return BankApplication(
        account=account,
        scheme=scheme,
        records=records,
        parameters=parameters,
        counters=Counters(pin_tries=profile.PIN_TRY_LIMIT),
        pse_records=profile.pse_records(),
        pse_parameters=Parameters(fci=profile.pse_fci_proprietary()),
        keys=keys,
        icc_key=der,
    )
