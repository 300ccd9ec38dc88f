"""The kiosk's vendored JavaScript is what ``scripts/vendor-kiosk`` copied from npm, byte for byte.

kiosk/vendor holds Preact, its hooks, htm and Preact Signals as ES modules, which the page loads through an
import map (no build step, no Node at run time); tests/kiosk/vendor holds axe-core for the browser tests.
Each folder's manifest.json gives every script's sha256 (VENDOR.md beside it says where each came from),
and no script may sit there unlisted. Each kiosk module may import only the bare specifiers the import map
maps: anything else (a relative path, another package) fails to load in the browser."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIOSK_VENDOR = ROOT / "kiosk" / "vendor"
TESTS_VENDOR = ROOT / "tests" / "kiosk" / "vendor"

# The page's import map: bare specifier -> file in kiosk/vendor.
IMPORT_MAP = {
    "preact": "preact.mjs",
    "preact/hooks": "hooks.mjs",
    "htm": "htm.mjs",
    "@preact/signals-core": "signals-core.mjs",
    "@preact/signals": "signals.mjs",
    "uqr": "uqr.mjs",
}

# What a module imports: `import x from"y"`, `export {x} from "y"`, `import"y"`, `import("y")`.
_IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']*)["']""")


def _manifest(folder: Path) -> dict[str, dict[str, str]]:
    files: dict[str, dict[str, str]] = json.loads((folder / "manifest.json").read_text())["files"]
    return files


def _imports(module: Path) -> set[str]:
    return set(_IMPORT.findall(module.read_text(encoding="utf-8")))


@pytest.mark.parametrize("folder", [KIOSK_VENDOR, TESTS_VENDOR], ids=["kiosk", "tests"])
def test_every_listed_file_has_its_sha256(folder: Path) -> None:
    files = _manifest(folder)
    assert files
    for name, entry in files.items():
        assert {"package", "version", "sha256"} <= entry.keys(), name
        path = folder / name
        assert path.is_file(), f"{path} is in manifest.json but missing: rerun scripts/vendor-kiosk"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], (
            f"{path} differs from what scripts/vendor-kiosk copied"
        )


@pytest.mark.parametrize("folder", [KIOSK_VENDOR, TESTS_VENDOR], ids=["kiosk", "tests"])
def test_every_script_is_listed(folder: Path) -> None:
    scripts = {path.name for path in folder.iterdir() if path.suffix in {".mjs", ".js"}}
    assert scripts <= _manifest(folder).keys()


def test_the_import_map_points_at_listed_modules() -> None:
    assert set(IMPORT_MAP.values()) <= _manifest(KIOSK_VENDOR).keys()


def test_kiosk_modules_import_only_what_the_import_map_maps() -> None:
    imports = {
        name: _imports(KIOSK_VENDOR / name) for name in _manifest(KIOSK_VENDOR) if name.endswith(".mjs")
    }
    assert imports, "no .mjs in kiosk/vendor/manifest.json"
    unmapped = {
        name: sorted(found - IMPORT_MAP.keys())
        for name, found in imports.items()
        if found - IMPORT_MAP.keys()
    }
    assert not unmapped, f"imports the import map does not map: {unmapped}"
    # Hooks and signals must attach to the same Preact the page renders with, so they import it by name.
    assert "preact" in imports["hooks.mjs"]
    assert "preact" in imports["signals.mjs"]


def test_the_import_pattern_sees_every_form() -> None:
    source = 'import{a as b}from"x";export{c}from "y";import"z";import("w");Array.from("no")'
    assert _IMPORT.findall(source) == ["x", "y", "z", "w"]
