"""Cards for newborns and children who have no ID number yet (新生儿/儿童发卡), issued to the guardian who
applies with their own ID card and the child's birth certificate (出生医学证明), and the ID number recorded
later, when the child has one.

What such a card carries (choices where the fact sheet says UNKNOWN, kept in the tables below):

- KH 卡号 = the birth certificate number (one letter and nine digits, the form printed since 2014). KH is
  otherwise the ID number; a child has none, and the certificate number is the one national number the
  child has, unique and printed on the document the guardian holds.
- DDF1/EF06: the child's name, sex and birth date from the certificate; no SFZH.
- DF01/EF08: ZJLB = :data:`BIRTH_CERTIFICATE_TYPE`, ZJHM = the certificate number.
- DF01/EF06 contact 1: the guardian (name, relation :data:`GUARDIAN_RELATIONS`, phone); BRDH1 the guardian's
  phone too. YYCSDM (and so the level-2 key factor): the guardian's ID number's division.
- The registry row: ``guardian_number`` = the guardian's ID number (the link kept for the registry's life).

Later (:func:`check_id_number`): the child's ID number is recorded in the registry (``id_number``; from then
on it is the person's key as much as the card number) and written to DF01/EF08 (ZJLB
:data:`ID_CARD_TYPE`, ZJHM) — with the update key a kiosk's PSAM has. KH and the EF06 items stay as they are:
DDF1/EF05-EF06 are never written after issuance (fact sheet §2), so the card keeps its number.
"""

from __future__ import annotations

import datetime as _dt
import json
import re

from cardservice.errors import CodecError, CodedError
from cardservice.healthcard import id_birth_date, id_sex_code, mask_id_number, validate_id_number
from cardservice.issuance._people import Person
from cardservice.issuance._registry import CardRecord, Registry, RegistryError
from cardservice.issuance._wire import ChildIn

__all__ = [
    "BIRTH_CERTIFICATE",
    "BIRTH_CERTIFICATE_TYPE",
    "DOCUMENT_TYPES",
    "GUARDIAN_RELATIONS",
    "ID_CARD_TYPE",
    "ID_NUMBER_REFUSALS",
    "MAX_CHILD_AGE_YEARS",
    "IdNumberRefused",
    "check_id_number",
    "child_person",
    "record_id_number",
]

#: ZJLB 证件类别 (DF01/EF08). The fact sheet: code list UNKNOWN. "1" is what every card of ours carried from
#: the start (batch issuance); "2" is our choice for the birth certificate. Change both here only.
ID_CARD_TYPE = "1"
BIRTH_CERTIFICATE_TYPE = "2"
DOCUMENT_TYPES = {ID_CARD_TYPE: "居民身份证", BIRTH_CERTIFICATE_TYPE: "出生医学证明"}
#: LXRGX 联系人关系: the fact sheet says UNKNOWN, "probably GB/T 4761-style". These are GB/T 4761-2008's
#: codes of the holder's father and mother, and our "other guardian" (97 其他亲属 in that standard).
GUARDIAN_RELATIONS = {"51": "父亲", "52": "母亲", "97": "其他监护人"}
#: 出生医学证明编号: one capital letter and nine digits.
BIRTH_CERTIFICATE = re.compile(r"^[A-Z][0-9]{9}$")
#: Every citizen has an ID card from 16 (居民身份证法 §2); an applicant older than this has one to apply with.
MAX_CHILD_AGE_YEARS = 16


def child_person(guardian: Person, child: ChildIn, *, today: _dt.date) -> Person:
    """The child's card as a batch row: *guardian* is the applicant, checked (their ID number; the photo
    with it is the child's, taken at the kiosk); *child* the certificate's data. ``CodecError`` names the
    item, never its value."""
    number = child.birth_certificate.upper()
    if not BIRTH_CERTIFICATE.match(number):
        raise CodecError("birth_certificate: one letter and nine digits (出生医学证明编号)")
    if child.birth_date > today:
        raise CodecError("birth_date: in the future")
    if _years(child.birth_date, today) >= MAX_CHILD_AGE_YEARS:
        raise CodecError(f"birth_date: a child of {MAX_CHILD_AGE_YEARS} or older applies with their ID card")
    if child.birth_date <= id_birth_date(guardian.id_number):
        raise CodecError("birth_date: not after the guardian's")
    given = guardian.values
    values = {
        "name": child.name.strip(),
        "sex": child.sex,
        "birth_date": child.birth_date.isoformat(),
        "city_code": guardian.id_number[:6],
        "document_type": BIRTH_CERTIFICATE_TYPE,
        "document_number": number,
        "contact_name": given["name"],
        "contact_relation": child.relation,
        **({"ethnicity": child.ethnicity} if child.ethnicity else {}),
        **({"phone": given["phone"], "contact_phone": given["phone"]} if given.get("phone") else {}),
        **({"address": given["address"]} if given.get("address") else {}),
    }
    return Person(guardian.row, number, values, guardian.photo, guardian=guardian.id_number)


def check_id_number(id_number: str, content: str | None, *, today: _dt.date) -> str:
    """*id_number* (normalised) if it can be the child's whose card holds *content* (the registry's copy,
    the holder document as JSON): a valid ID number whose birth date and sex digit are the card's."""
    number = validate_id_number(id_number, today=today, field="id_number")
    if content is None:
        raise CodecError("the registry has no copy of the card's contents to check the ID number against")
    holder = json.loads(content)["DDF1/EF06"]
    if id_birth_date(number) != _dt.date.fromisoformat(holder["birth_date"]):
        raise CodecError("id_number: its birth date is not the child's (出生日期)")
    if id_sex_code(number) != int(holder["sex"]):
        raise CodecError("id_number: its sex digit is not the child's (性别)")
    return number


def _years(born: _dt.date, today: _dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


#: code → what the guardian reads at the kiosk.
ID_NUMBER_REFUSALS = {
    "card_unknown": "这张卡不在发卡登记中，请到人工窗口办理",
    "not_a_child_card": "这张卡已登记身份证号码，无需更新",
    "not_guardian": "请由办卡时登记的监护人办理",
    "card_not_live": "这张卡已挂失或注销，请到人工窗口办理",
    "invalid_id_number": "身份证号码与孩子的出生日期或性别不符，请核对",
    "id_number_has_card": "这个身份证号码已有居民健康卡，请到人工窗口办理",
    "id_number_recorded": "这张卡已登记了另一个身份证号码，请到人工窗口办理",
}


class IdNumberRefused(CodedError):
    """The ID number was not recorded: ``code`` one of :data:`ID_NUMBER_REFUSALS`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, message_zh=ID_NUMBER_REFUSALS[code])
        self.code = code


def record_id_number(
    registry: Registry,
    *,
    card_number: str,
    issuance_serial: str,
    id_number: str,
    guardian_number: str,
    actor: str,
    today: _dt.date,
) -> tuple[CardRecord, str]:
    """Record the child's *id_number* for the card (*card_number*, *issuance_serial*: what its chip says)
    at the request of *guardian_number*, the guardian the card is linked to: (the card, the ID number
    normalised). Idempotent: asked again with the same number, the same answer."""
    card = next(
        (c for c in registry.cards(card_number=card_number) if c.issuance_serial == issuance_serial), None
    )
    if card is None:
        raise IdNumberRefused("card_unknown", f"no card {issuance_serial} of {mask_id_number(card_number)}")
    if card.guardian_number is None:
        raise IdNumberRefused("not_a_child_card", f"card {issuance_serial} is not a child's card")
    if card.guardian_number != guardian_number.upper():
        raise IdNumberRefused("not_guardian", f"card {issuance_serial} is linked to another guardian")
    try:
        number = check_id_number(id_number, registry.content(card.id), today=today)
    except CodecError as exc:
        raise IdNumberRefused("invalid_id_number", str(exc)) from None
    if card.id_number is not None and card.id_number != number:
        raise IdNumberRefused("id_number_recorded", f"card {issuance_serial} has another ID number")
    try:
        recorded = registry.record_id_number(
            card.id, number, guardian_number=card.guardian_number, actor=actor
        )
    except RegistryError as exc:
        code = "card_not_live" if "not a live card" in str(exc) else "id_number_has_card"
        raise IdNumberRefused(code, str(exc)) from None
    return recorded, number
