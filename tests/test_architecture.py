"""The shape of the code stays as docs/architecture.md draws it: the import graph has no cycle between
packages, the library imports neither its drivers nor its simulators, and no module grows past 600
lines (data tables and migrations aside). The layer contracts themselves are pyproject.toml's
``[tool.importlinter]``, checked here too so a plain ``pytest`` run catches a broken one."""

from __future__ import annotations

import functools
import itertools
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cardservice", "drivers", "simulators")
MAX_LINES = 600
# Modules that are tables of data, where length is the standard's, not the code's (none today).
DATA_TABLES: frozenset[str] = frozenset()


@functools.cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=False)


def package_of(module: str, depth: int = 2) -> str:
    return ".".join(module.split(".")[:depth])


def package_edges(depth: int) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module in graph().modules:
        for imported in graph().find_modules_directly_imported_by(module):
            source, target = package_of(module, depth), package_of(imported, depth)
            if (
                source != target
                and not target.startswith(source + ".")
                and not source.startswith(target + ".")
            ):
                edges.setdefault(source, set()).add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle in *edges* (as the list of its nodes), or None."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("depth", [1, 2])
def test_no_import_cycle_between_packages(depth: int) -> None:
    """Top-level (simulators → drivers → cardservice) and subpackages (cardservice.api → ...)."""
    assert find_cycle(package_edges(depth)) is None


def test_the_library_imports_neither_drivers_nor_simulators() -> None:
    edges = package_edges(1)
    assert "simulators" not in edges.get("cardservice", set())
    assert "drivers" not in edges.get("cardservice", set())
    assert "simulators" not in edges.get("drivers", set())


def test_no_module_over_600_lines() -> None:
    sources = itertools.chain.from_iterable((ROOT / package).rglob("*.py") for package in PACKAGES)
    too_long = {
        str(path.relative_to(ROOT)): length
        for path in sources
        if "migrations" not in path.parts
        and str(path.relative_to(ROOT)) not in DATA_TABLES
        and (length := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}


def test_the_import_contracts_are_kept() -> None:
    """pyproject.toml's [tool.importlinter] contracts, as ``lint-imports`` checks them."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout
