"""Card profiles: named factories of :class:`CardImage`, plus the create/load entry points.

A profile factory is called as ``factory(serial=<8 bytes>, options=<CardOptions>)`` and returns a
:class:`CardImage` (usually :meth:`CardImage.build` over a :class:`DfSpec` tree). Profiles that need
extra commands register them with :func:`register_profile` (``instructions``), and every card whose
image names that profile gets them.

``blank``: only the MF 3F00 (no DF name) with the transport keys, value :data:`BLANK_TRANSPORT_KEY` =
``00 01 02 … 0F`` (a published demo value: a blank card is not a secret; a card vendor ships real
ones per batch): reference ``01`` for EXTERNAL AUTHENTICATE (SM4, plain ISO scheme: data =
SM4_enc(K, R ‖ 00×8), 16 bytes, 15 tries) and reference ``02``, the secure-messaging key under which
WRITE KEY data travels encrypted and MACed. CREATE FILE in the MF needs key 01; WRITE KEY needs key
01 and encrypted SM with key 02 — also for every file the issuer creates in the initialisation state,
since the MF's rights stand in until ACTIVATE FILE (:mod:`._fs`). Everything else happens with APDUs.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from cardservice.keys import random_bytes
from simulators.cardos._commands import Instruction
from simulators.cardos._fs import MF_FID, AuthScheme, KeyUsage, SmMode, after_auth
from simulators.cardos._image import CardImage, CardOptions, DfSpec, KeySpec
from simulators.cardos._os import PROFILE_INSTRUCTIONS, CardOS

__all__ = [
    "BLANK_TRANSPORT_KEY",
    "BLANK_TRANSPORT_KEY_REF",
    "BLANK_TRANSPORT_SM_KEY_REF",
    "PROFILES",
    "ProfileFactory",
    "blank_profile",
    "create_image",
    "load_card",
    "register_profile",
]

ProfileFactory = Callable[..., CardImage]

BLANK_TRANSPORT_KEY = bytes(range(16))
BLANK_TRANSPORT_KEY_REF = 0x01
BLANK_TRANSPORT_SM_KEY_REF = 0x02


def blank_profile(*, serial: bytes, options: CardOptions) -> CardImage:
    """A blank card: MF with the transport key, ready for personalisation by APDUs."""
    mf = DfSpec(
        fid=MF_FID,
        keys=(
            KeySpec(
                BLANK_TRANSPORT_KEY_REF,
                BLANK_TRANSPORT_KEY,
                usage=KeyUsage.EXTERNAL_AUTH,
                scheme=AuthScheme.PLAIN,
            ),
            KeySpec(BLANK_TRANSPORT_SM_KEY_REF, BLANK_TRANSPORT_KEY, usage=KeyUsage.SECURE_MESSAGING),
        ),
        create=after_auth(BLANK_TRANSPORT_KEY_REF),
        write_key=after_auth(BLANK_TRANSPORT_KEY_REF, SmMode.ENCRYPTED_MAC, BLANK_TRANSPORT_SM_KEY_REF),
    )
    return CardImage.build(mf, serial=serial, profile="blank", options=options)


#: Profile name → factory. Later issues register "health" and "sam".
PROFILES: dict[str, ProfileFactory] = {"blank": blank_profile}


def register_profile(
    name: str, factory: ProfileFactory, *, instructions: Mapping[int, Instruction] | None = None
) -> None:
    """Add (or replace) a profile and, optionally, the INS handlers its cards add to the table."""
    PROFILES[name] = factory
    if instructions:
        PROFILE_INSTRUCTIONS[name] = dict(instructions)


def create_image(
    path: str | os.PathLike[str],
    profile: str = "blank",
    *,
    serial: bytes | None = None,
    overwrite: bool = False,
    **options: object,
) -> None:
    """Write a new card image file. ``serial`` defaults to 8 random bytes; options are the
    :class:`CardOptions` fields. Raises FileExistsError unless ``overwrite=True``."""
    factory = PROFILES.get(profile)
    if factory is None:
        raise ValueError(f"unknown card profile {profile!r} (known: {', '.join(sorted(PROFILES))})")
    card_serial = random_bytes(8) if serial is None else bytes(serial)
    if len(card_serial) != 8:
        raise ValueError("the card serial must be 8 bytes")
    # Options that are not CardOptions fields are the profile's own (e.g. the health profile's
    # holder= / keys=); they go to the factory as keywords, so a profile that takes none rejects them.
    known = set(CardOptions().to_mapping())
    card_options = {name: value for name, value in options.items() if name in known}
    profile_options = {name: value for name, value in options.items() if name not in known}
    unknown = set(profile_options) - _keyword_options(factory)
    if unknown:
        raise ValueError(f"unknown card option(s) for profile {profile!r}: {', '.join(sorted(unknown))}")
    image = factory(serial=card_serial, options=CardOptions.from_mapping(card_options), **profile_options)
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"card image {os.fspath(path)} already exists")
    image.save(target)


def _keyword_options(factory: ProfileFactory) -> set[str]:
    """Keyword parameters a profile factory takes besides ``serial`` and ``options``."""
    parameters = inspect.signature(factory).parameters.values()
    return {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY} - {"serial", "options"}


def load_card(path: str | os.PathLike[str], *, handlers: Mapping[int, Instruction] | None = None) -> CardOS:
    """A card bound to its image file: every change is written through. Raises ImageError for a
    damaged image, FileNotFoundError for a missing one."""
    return CardOS(CardImage.load(path), image_path=path, handlers=handlers)
