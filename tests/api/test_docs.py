"""The API docs work where the daemon runs: on a hospital intranet, with no internet. ``/docs`` (Swagger UI)
loads its script, style and icon from the daemon itself, never from a CDN; ``/redoc`` is not served.

The browser test renders ``/docs`` in Debian's Chromium (``scripts/setup.sh`` installs it) with every
host name but 127.0.0.1 unresolvable, as on a machine with the network unplugged: the page must show
the API's operations. It fails, never skips, where Chromium is missing."""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

import cardservice.api
from cardservice.api import create_app
from tests.api.conftest import StackFactory

SWAGGER_UI = Path(cardservice.api.__file__).parent / "_static" / "swagger-ui"

# Any absolute URL (a quoted attribute, a CSS url(), a script string), and the hosts the daemon is.
_URL = re.compile(r"""(?:https?:)?//[^\s"'<>)]+""", re.IGNORECASE)
_OWN_HOSTS = re.compile(r"^(?:https?:)?//(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?(?:/|$)", re.IGNORECASE)


# What a style sheet loads: url(...) and @import (an SVG's xmlns inside a data: URL loads nothing).
_CSS_LOAD = re.compile(r"""(?:url\(|@import)\s*['"]?\s*((?:https?:)?//[^\s'")]+)""", re.IGNORECASE)


def _foreign_urls(html: str) -> list[str]:
    return [url for url in _URL.findall(html) if not _OWN_HOSTS.match(url)]


def _foreign_loads_in_css(css: str) -> list[str]:
    return [url for url in _CSS_LOAD.findall(css) if not _OWN_HOSTS.match(url)]


def test_foreign_urls_are_found() -> None:
    """The check below would see a CDN, protocol-relative or not."""
    page = (
        '<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>'
        '<link href="//fonts.googleapis.com/css?family=Roboto">'
        '<a href="http://127.0.0.1:8765/openapi.json">'
    )
    assert _foreign_urls(page) == [
        "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js",
        "//fonts.googleapis.com/css?family=Roboto",
    ]


def test_foreign_loads_in_css_are_found() -> None:
    css = (
        '@import "https://fonts.googleapis.com/css"; a{background:url(//cdn.example/x.png)}'
        "b{background:url(\"data:image/svg+xml;charset=utf-8,<svg xmlns='http://www.w3.org/2000/svg'/>\")}"
    )
    assert _foreign_loads_in_css(css) == ["https://fonts.googleapis.com/css", "//cdn.example/x.png"]


def test_docs_page_loads_nothing_from_outside(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert _foreign_urls(response.text) == []
    assert "SwaggerUIBundle" in response.text


def test_docs_assets_are_served_by_the_daemon(client: TestClient) -> None:
    """Every script, style sheet and icon the page names comes from the daemon, without a key."""
    page = client.get("/docs").text
    assets = re.findall(r"""(?:src|href)="(/[^"]+)\"""", page)
    assert {Path(asset).suffix for asset in assets} >= {".js", ".css", ".png"}
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 0
        if asset.endswith(".css"):
            assert _foreign_loads_in_css(response.text) == [], asset


def test_the_vendored_files_are_the_recorded_ones() -> None:
    """VENDOR.md names each file with its sha256 (scripts/vendor-swagger-ui writes both): a file changed
    by hand, or one refreshed without the record, fails here."""
    record = (SWAGGER_UI / "VENDOR.md").read_text(encoding="utf-8")
    assert re.search(r"swagger-ui-dist 5\.\d+\.\d+", record)  # Swagger UI 5: renders OpenAPI 3.1
    recorded = dict(re.findall(r"^\| (\S+) \| ([0-9a-f]{64}) \|$", record, re.MULTILINE))
    assert {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"} <= set(recorded)
    present = {path.name for path in SWAGGER_UI.iterdir()} - {"VENDOR.md"}
    assert present == set(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256((SWAGGER_UI / name).read_bytes()).hexdigest() == digest, name


def test_redoc_is_not_served(client: TestClient) -> None:
    """ReDoc is a second 1 MB bundle for the same document: /docs alone is kept offline-ready."""
    assert client.get("/redoc").status_code == 404


# -- in a real browser, the network unplugged -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def daemon_url(make_stack: StackFactory) -> Iterator[str]:
    """The app of the in-process stack, served by uvicorn on a free loopback port."""
    stack = make_stack()
    port = _free_port()
    app = create_app(stack.services, port=port)  # its own port is an allowed Host
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped at start"
        assert time.monotonic() < deadline, "uvicorn did not start in 10 s"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _chromium() -> str:
    found = shutil.which("chromium")
    assert found, "chromium is not installed: scripts/setup.sh installs Debian's chromium (make test runs it)"
    return found


@pytest.mark.timeout(60)
def test_docs_render_in_chromium_with_the_network_unplugged(daemon_url: str, tmp_path: Path) -> None:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        # Every name unresolvable but the daemon's address: a CDN cannot be reached, as on an intranet.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=5000",
        "--dump-dom",
        f"{daemon_url}/docs",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=45, check=False)
    dom = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    # Swagger UI rendered the document: the operations, /v1/health among them.
    assert re.search(r'class="[^"]*\bopblock\b', dom), dom[-2000:]
    assert 'data-path="/v1/health"' in dom, dom[-2000:]
    assert "Failed to load API definition" not in dom
    assert "Unable to render this definition" not in dom
