"""The kiosk's pages at ``/kiosk/``: static files shipped with the package (the ``kiosk`` folder), the
same origin as /v1 (no CORS), and the launch URL that turns a one-time token into the page's session
cookie (:mod:`cardservice.api._kiosk`).

``index.html`` is served with a Content-Security-Policy that allows only our own files and the page's
one inline script, its import map, by hash: a HIS string that slipped past the page's escaping still
could not run. No page is cached by the browser (a kiosk must show the version that is installed).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cardservice.api._kiosk import SESSION_COOKIE

__all__ = ["kiosk_folder", "mount_kiosk"]

_IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.S)
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
_EXPIRED = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>自助机未启动</title>
<link rel="stylesheet" href="/kiosk/kiosk.css"><script type="module" src="/kiosk/js/closing.js"></script>
<body data-closing="1" class="expired"><h1>本机暂停服务</h1>
<p>启动链接已失效。请到人工窗口办理，或请工作人员重新启动自助机。</p></body></html>"""


def kiosk_folder() -> Path | None:
    """Where the shipped kiosk files are (the ``kiosk`` package's folder), or None if not installed."""
    spec = importlib.util.find_spec("kiosk")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    return folder if (folder / "index.html").is_file() else None


def _policy(index: str) -> str:
    scripts = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _IMPORT_MAP.findall(index)
    ]
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {' '.join(scripts)}",
            "style-src 'self'",
            "img-src 'self' data:",
            "media-src 'self'",
            "font-src 'self'",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


class _KioskFiles(StaticFiles):
    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        return response


def mount_kiosk(app: FastAPI, folder: Path) -> None:
    index = (folder / "index.html").read_text(encoding="utf-8")
    page_headers = {**_HEADERS, "Content-Security-Policy": _policy(index)}

    @app.get("/kiosk", include_in_schema=False)
    async def kiosk_bare() -> RedirectResponse:
        return RedirectResponse("/kiosk/", status_code=308)

    @app.get("/kiosk/", include_in_schema=False)
    async def kiosk_page() -> HTMLResponse:
        return HTMLResponse(index, headers=page_headers)

    @app.get("/kiosk/launch", include_in_schema=False)
    async def kiosk_launch(request: Request, token: str = Query("", max_length=64)) -> Response:
        sessions = request.app.state.services.kiosk_sessions
        session_id = sessions.open(token) if token else None
        if session_id is None:
            # A reload of a spent launch URL by the page that already has its session: carry on.
            held = request.cookies.get(SESSION_COOKIE)
            if held and sessions.find(held) is not None:
                return RedirectResponse("/kiosk/", status_code=303, headers={"Cache-Control": "no-store"})
            refused = {**page_headers, "Cache-Control": "no-store"}
            return HTMLResponse(_EXPIRED, status_code=403, headers=refused)
        response = RedirectResponse("/kiosk/", status_code=303, headers={"Cache-Control": "no-store"})
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    app.mount("/kiosk", _KioskFiles(directory=folder), name="kiosk")
