"""Card issuance: personalising blank cards into Resident Health Cards (``card-issuer``)."""

from cardservice.issuance._personalise import (
    CardKey,
    CsosEncoding,
    NotBlankError,
    TransportKeys,
    personalise,
    verify_contents,
)

__all__ = ["CardKey", "CsosEncoding", "NotBlankError", "TransportKeys", "personalise", "verify_contents"]
