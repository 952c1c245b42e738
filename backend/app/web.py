"""The recruiter's pages: static HTML, CSS and JS modules from FRONTEND_DIR, served by the API's own server."""

from __future__ import annotations

import logging
import os
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

from app.api.deps import SESSION_COOKIE
from app.core.config import Settings

logger = logging.getLogger("app.web")

# Pages that show candidate data; without a session cookie they go straight to the login form instead of
# flashing an empty page first. Whether the cookie is still valid is the API's business (the page follows a 401).
PROTECTED_PAGES = {
    "/": "index.html",
    "/index.html": "index.html",
    "/candidate-view.html": "candidate-view.html",
    "/vacancies.html": "vacancies.html",
    "/vacancy.html": "vacancy.html",
    "/board.html": "board.html",
    "/reports.html": "reports.html",
    "/admin.html": "admin.html",
    "/shortlist.html": "shortlist.html",
}
PUBLIC_PAGES = {"/login": "login.html", "/login.html": "login.html"}
ASSET_DIRS = ("css", "js")
# Revalidate on every load (cheap with ETag/Last-Modified): a deploy must never leave a stale script behind.
NO_CACHE = {"Cache-Control": "no-cache"}


class RevalidatedStaticFiles(StaticFiles):
    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(NO_CACHE)
        return response


_URL_SPACE = "".join(chr(c) for c in range(0x21))


def is_safe_next(value: str) -> bool:
    """A `next` that stays on this site, read the way a browser's URL parser reads it (WHATWG): leading and
    trailing controls and spaces dropped, tabs and newlines removed anywhere, a backslash taken as a slash."""
    cleaned = value.strip(_URL_SPACE).replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return False
    parts = urlsplit(cleaned)
    return not parts.scheme and not parts.netloc


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def install(app: FastAPI, settings: Settings) -> None:
    root = settings.FRONTEND_DIR
    if not (root / "index.html").is_file():
        # An installed wheel has no frontend/; the API still works, so this is a warning, not a failure.
        logger.warning("no pages at FRONTEND_DIR=%s: only the API is served", root)

        @app.get("/", include_in_schema=False)
        async def api_only() -> RedirectResponse:
            return RedirectResponse("/docs")

        return

    for directory in ASSET_DIRS:
        app.mount(f"/{directory}", RevalidatedStaticFiles(directory=root / directory), name=directory)

    def page(path: str, filename: str, protected: bool) -> None:
        file = root / filename

        async def serve(request: Request) -> Response:
            if protected and not request.cookies.get(SESSION_COOKIE):
                return _login_redirect(request)
            target = request.query_params.get("next")
            if not protected and target is not None and not is_safe_next(target):
                return RedirectResponse("/login", status_code=303)  # a link made to send people elsewhere
            return FileResponse(file, media_type="text/html; charset=utf-8", headers=NO_CACHE)

        app.add_api_route(path, serve, methods=["GET"], include_in_schema=False, name=f"page:{path}")

    for path, filename in PROTECTED_PAGES.items():
        page(path, filename, protected=True)
    for path, filename in PUBLIC_PAGES.items():
        page(path, filename, protected=False)

    icon = root / "favicon.svg"

    @app.get("/favicon.svg", include_in_schema=False)
    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(icon, media_type="image/svg+xml", headers=NO_CACHE)
