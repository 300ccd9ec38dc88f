"""A generic ISO/IEC 7816-4 card operating system (virtual card) with persistence and anti-tearing.

``CardOS`` answers command APDUs through an INS → handler table over a file system (MF, DFs, ADFs,
transparent / linear fixed / linear variable / cyclic EFs, SFIs), per-DF keys with retry counters,
access rules declared as data, the health card's authentication and secure-messaging conventions,
and an NVM with a commit buffer so a torn command leaves its files wholly old or wholly new.

Entry points::

    create_image(path, "blank", serial=None, **options)   # write a new image file
    card = load_card(path)                                # a VirtualCard bound to the file
    card.power_on(); card.process(apdu); card.faults.tear(...); card.describe()

See simulators/README.md, section "Card OS", for the commands table and the formats.
"""

from simulators.cardos._cmd_data import GET_DATA_SERIAL
from simulators.cardos._commands import STANDARD_INSTRUCTIONS, Handler, Instruction
from simulators.cardos._fs import (
    ALWAYS,
    NEVER,
    AccessRule,
    AuthScheme,
    FileStructure,
    KeyAlgorithm,
    KeyUsage,
    Lifecycle,
    SmMode,
    after_auth,
)
from simulators.cardos._image import CardImage, CardOptions, DfSpec, EfSpec, ImageError, KeySpec
from simulators.cardos._nvm import PAGE_SIZE, FaultInjector
from simulators.cardos._os import CardOS, build_atr
from simulators.cardos._profiles import (
    BLANK_TRANSPORT_KEY,
    BLANK_TRANSPORT_KEY_REF,
    BLANK_TRANSPORT_SM_KEY_REF,
    PROFILES,
    create_image,
    load_card,
    register_profile,
)
from simulators.cardos._state import Command
from simulators.cardos._sw import SwError

__all__ = [
    "ALWAYS",
    "BLANK_TRANSPORT_KEY",
    "BLANK_TRANSPORT_KEY_REF",
    "BLANK_TRANSPORT_SM_KEY_REF",
    "GET_DATA_SERIAL",
    "NEVER",
    "PAGE_SIZE",
    "PROFILES",
    "STANDARD_INSTRUCTIONS",
    "AccessRule",
    "AuthScheme",
    "CardImage",
    "CardOS",
    "CardOptions",
    "Command",
    "DfSpec",
    "EfSpec",
    "FaultInjector",
    "FileStructure",
    "Handler",
    "ImageError",
    "Instruction",
    "KeyAlgorithm",
    "KeySpec",
    "KeyUsage",
    "Lifecycle",
    "SmMode",
    "SwError",
    "after_auth",
    "build_atr",
    "create_image",
    "load_card",
    "register_profile",
]
