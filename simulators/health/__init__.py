"""Virtual Resident Health Card and virtual PSAM, on the card OS (``simulators.cardos``).

Importing this package registers two card profiles:

* ``health`` — :func:`create_health_card` / ``create_image(path, "health", holder=PATH, keys=PATH,
  passphrase=STR)``: the full WS/T 543 file tree personalised from a holder JSON document, with card
  keys diversified from the issuer master keys (no options = demo holder + DEMO keys);
* ``sam`` — :func:`create_sam` / ``create_image(path, "sam", keys=PATH, passphrase=STR, pin=STR)``:
  a PSAM holding the master keys (``80 DE``/``80 FA``/``80 FC``, SM3, SM2, PIN), agreeing byte for
  byte with :class:`cardservice.keys.SoftwareSam` over the same key store.

DEMO keys (:func:`demo_master_keys`, :func:`write_demo_keystore`) are derived from published strings:
for demos and tests only; :func:`demo_sam_fingerprint` names the demo SAM's signing key for
``trusted_signers``. See simulators/README.md, section "Virtual PSAM".
"""

from cardservice.healthcard import (
    HOLDER_FORMAT,
    ISSUER_CERTIFICATE_SIZE,
    PERSONALISATION_SAM_SERIAL,
    SAM_CERTIFICATE_SIZE,
    Holder,
    HolderError,
    issuer_certificate,
    sam_certificate,
)
from cardservice.healthcard import load_holder as _load_holder
from simulators.health._card import HEALTH_PROFILE, create_health_card, health_profile
from simulators.health._demo import DEMO_HOLDER_PATH
from simulators.health._keys import (
    DEMO_SAM_PIN,
    MasterKey,
    demo_master_keys,
    demo_sam_fingerprint,
    demo_sm2_private_key,
    master_keys,
    write_demo_keystore,
)
from simulators.health._sam import (
    SAM_PIN_REF,
    SAM_PIN_TRIES,
    SAM_PROFILE,
    create_sam,
    sam_profile,
    sam_serial_number,
)


def load_holder(source: object = None) -> Holder:
    """:func:`cardservice.healthcard.load_holder`, with ``None`` = the demo holder."""
    return _load_holder(DEMO_HOLDER_PATH if source is None else source)  # type: ignore[arg-type]


__all__ = [
    "DEMO_HOLDER_PATH",
    "DEMO_SAM_PIN",
    "HEALTH_PROFILE",
    "HOLDER_FORMAT",
    "ISSUER_CERTIFICATE_SIZE",
    "PERSONALISATION_SAM_SERIAL",
    "SAM_CERTIFICATE_SIZE",
    "SAM_PIN_REF",
    "SAM_PIN_TRIES",
    "SAM_PROFILE",
    "Holder",
    "HolderError",
    "MasterKey",
    "create_health_card",
    "create_sam",
    "demo_master_keys",
    "demo_sam_fingerprint",
    "demo_sm2_private_key",
    "health_profile",
    "issuer_certificate",
    "load_holder",
    "master_keys",
    "sam_certificate",
    "sam_profile",
    "sam_serial_number",
    "write_demo_keystore",
]
