"""Bodies of the card side of /v1: system health, readers and SAMs, the card and its data, writes, events."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AllergyIn",
    "CardOut",
    "EncounterOut",
    "EncountersOut",
    "HealthOut",
    "HealthStatus",
    "IdentityOut",
    "ImmunisationIn",
    "ItemOut",
    "ItemsOut",
    "ReaderOut",
    "ReadersOut",
    "SamOut",
    "SamsOut",
    "TicketOut",
    "UpdateItemsIn",
    "WriteResult",
]

_READER = "cardservice-vpcd-00-00"
_CARD_ID = "c_5f3a9e01b2c4d6e8"


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)


class Problem(_Out):
    code: str = Field(examples=["auth_failed"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ReaderOut(_Out):
    id: str = Field(description="URL-safe reader id, used in paths", examples=[_READER])
    name: str = Field(description="PC/SC reader name", examples=["cardservice-vpcd 00 00"])
    role: Literal["card", "sam", "issuer", "unassigned"] = Field(
        description="what the configuration binds it to (issuer: kept for card-issuer, never read)"
    )
    card_present: bool
    state: str = Field(
        description="card readers: empty, reading, ready, refused, unsupported, error, mute",
        examples=["ready"],
    )
    card_id: str | None = Field(description="id of the card now inserted (changes with every insertion)")
    atr: str | None = Field(description="answer to reset, hex", examples=["3B8C800143534F53..."])
    profile: str | None = Field(description="card profile matched by the ATR")
    sam: str | None = Field(description="card readers: the SAM reader or key store bound to it")
    problem: Problem | None = None


class ReadersOut(_Out):
    readers: list[ReaderOut]


class SamOut(_Out):
    reader: str
    id: str
    kind: Literal["psam", "keystore"]
    present: bool
    atr: str | None
    problem: str | None = Field(description="sam_reader_missing, sam_pin_refused, sam_blocked, ...")


class SamsOut(_Out):
    sams: list[SamOut]


class CardOut(_Out):
    reader: str = Field(examples=[_READER])
    card_id: str = Field(examples=[_CARD_ID])
    profile: str
    atr: str
    card_number: str = Field(description="masked card number (KH)", examples=["1101************30"])


class IdentityOut(_Out):
    reader: str = Field(examples=[_READER])
    card_id: str = Field(examples=[_CARD_ID])
    masked: bool = Field(
        description="true for kiosk keys: ID and phone numbers masked, birth date as its year only, no city "
        "or issuer code (nothing that narrows the masked ID number)"
    )
    name: str | None = Field(description="姓名 XM", examples=["李明"])
    sex: str | None = Field(description="性别 XB, GB/T 2261.1 code", examples=["1"])
    sex_label: str | None = Field(examples=["男"])
    ethnicity: str | None = Field(description="民族 MZ, GB 3304 code", examples=["01"])
    ethnicity_label: str | None = Field(examples=["汉族"])
    birth_date: _dt.date | None = Field(description="出生日期 CSRQ (his keys; kiosk keys: year and age only)")
    birth_year: int | None = Field(description="the year of birth", examples=[1985])
    age: int | None = Field(description="周岁, today in Beijing", examples=[41])
    id_number: str | None = Field(description="身份证号 SFZH (masked for kiosk clients)")
    card_number: str | None = Field(description="卡号 KH (masked for kiosk clients)")
    files: dict[str, dict[str, Any]] = Field(
        description="DDF1/EF05, EF06, EF08 keyed by the standard's abbreviations (KLB, XM, SFZH, ...)"
    )
    photo_jpeg_base64: str | None = Field(default=None, description="DDF1/EF07 photo when ?photo=true")


class HealthOut(_Out):
    reader: str
    card_id: str
    files: dict[str, Any] = Field(
        description="every file read, keyed by path; each keyed by the standard's abbreviations",
        examples=[{"DDF1/DF02/EF05": {"ABOXX": "1", "RHXX": "2"}, "DDF1/DF02/EF07": [{"GMWZMC": "青霉素"}]}],
    )


class ItemOut(_Out):
    value: Any
    label: str = Field(description="中文名称 (the standard's wording)", examples=["姓名"])
    file: str = Field(examples=["DDF1/EF06"])
    functions: list[str] = Field(
        description="vendor interface functions carrying it", examples=[["iR_DDF1EF06Info"]]
    )


class ItemsOut(_Out):
    reader: str
    card_id: str
    items: dict[str, ItemOut] = Field(
        description="keyed by the standard's abbreviation (XM, XB, SFZH, ABOXX, ...)"
    )


class UpdateItemsIn(_In):
    items: dict[str, Any] = Field(
        min_length=1,
        max_length=64,
        description="new values keyed by abbreviation (or model field name); values as in the read view",
        examples=[{"DZLB1": "1", "DZ1": "北京市朝阳区建国路1号"}],
    )


class AllergyIn(_In):
    substance: str = Field(
        min_length=1, max_length=64, description="过敏物质名称 GMWZMC", examples=["青霉素"]
    )
    reaction: str | None = Field(default=None, max_length=64, description="过敏反应 GMFY", examples=["皮疹"])


class ImmunisationIn(_In):
    vaccine: str = Field(
        min_length=1, max_length=64, description="免疫接种名称 MYJZMC", examples=["乙肝疫苗"]
    )
    date: _dt.date | None = Field(default=None, description="免疫接种时间 MYJZSJ")


class WriteResult(_Out):
    reader: str
    card_id: str
    written: str = Field(description="what was written", examples=["DDF1/DF01/EF05"])
    slot: int | None = Field(default=None, description="encounter slot written or erased")


class EncounterOut(_Out):
    kind: Literal["inpatient", "outpatient"]
    slot: int
    signature: Literal["valid", "valid_untrusted", "invalid", "unsigned", "not-checked"] = Field(
        description="valid: the SM2 signature verifies and its signer is one of the daemon's trusted SAM "
        "keys (trusted_signers); valid_untrusted: it verifies, but only under the key in the record's own "
        "certificate area — anyone able to write the slot can make that; invalid: it does not verify "
        "(tampered or torn record); unsigned: no signature; not-checked",
        examples=["valid"],
    )
    signer: str | None = Field(
        description="the signing SAM key's fingerprint, SM3 of its public key 04‖x‖y (hex) — what "
        "trusted_signers lists; null unless the signature verifies",
        examples=["37A5CDC53F9F26D1776DAAD170041B15CAF0D8CAD5FBC5AF0DDA381E7618F167"],  # the DEMO PSAM
    )
    items: dict[str, Any]


class EncountersOut(_Out):
    reader: str
    card_id: str
    encounters: list[EncounterOut]


class TicketOut(_Out):
    ticket: str = Field(description="one-time ticket for ?ticket= on /v1/events and /v1/events/ws")
    expires_in: float = Field(examples=[60.0])


class HealthStatus(_Out):
    status: Literal["ok", "degraded"]
    version: str
    backend: str = Field(
        description="the reader backends' kinds: pcsc, in-process, pcsc+in-process", examples=["pcsc"]
    )
    pcsc: Literal["up", "down"]
    readers: int
    cards: int
    uptime_s: float
