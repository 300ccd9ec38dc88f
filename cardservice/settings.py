"""What the daemon's and the issuance service's configurations share: the TOML file as a pydantic-settings
source, and the loopback rule that decides where TLS is required."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from cardservice.errors import CardserviceError

__all__ = ["TomlSource", "data_home", "is_loopback"]


def data_home(variable: str, folder: str) -> Path:
    """``$variable``, else ``$XDG_DATA_HOME/folder``, else ``~/.local/share/folder``."""
    explicit = os.environ.get(variable)
    if explicit:
        return Path(explicit).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / folder


def is_loopback(host: str) -> bool:
    """Whether *host* is this machine: ``localhost`` or a loopback address (``[::1]`` too)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class TomlSource(PydanticBaseSettingsSource):
    """Values from the TOML file *path*; a missing file is an empty configuration, a broken one the error
    *error* makes of its message."""

    def __init__(
        self, settings_cls: type[BaseSettings], path: Path | None, error: Callable[[str], CardserviceError]
    ) -> None:
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path is not None and path.is_file():
            try:
                self._data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise error(f"{path}: {exc}") from None

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)
