"""The pages are served by the app itself: login redirect, CSP, revalidated assets, no data without a login."""

from __future__ import annotations

import re

import pytest

from app.core.config import DEFAULT_FRONTEND_DIR, REPO_ROOT
from tests.utils.app import RunningApp, StartApp

uses_database = pytest.mark.usefixtures("database")


@uses_database
async def test_pages_without_a_session_go_to_the_login_form(api: RunningApp) -> None:
    for path, target in (
        ("/", "/login?next=%2F"),
        ("/candidate-view.html?id=5", "/login?next=%2Fcandidate-view.html%3Fid%3D5"),
        ("/vacancies.html", "/login?next=%2Fvacancies.html"),
        ("/vacancy.html?id=2", "/login?next=%2Fvacancy.html%3Fid%3D2"),
        ("/board.html", "/login?next=%2Fboard.html"),
        ("/reports.html", "/login?next=%2Freports.html"),
        ("/admin.html", "/login?next=%2Fadmin.html"),
    ):
        response = await api.anon.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == target

    login = await api.anon.get("/login")
    assert login.status_code == 200
    assert login.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="ru">' in login.text and "/js/login.js" in login.text


@uses_database
async def test_pages_and_assets_carry_the_csp_and_are_revalidated(api: RunningApp) -> None:
    # The page itself holds no data, so any session cookie gets it; the API checks the session.
    browser = api.new_client(cookies={"nexus_session": "anything"})
    for path in ("/", "/candidate-view.html", "/css/app.css", "/js/chat.js", "/favicon.svg"):
        response = await browser.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp and "unsafe-inline" not in csp
        assert response.headers["cache-control"] == "no-cache"
    script = await api.anon.get("/js/chat.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert (await api.anon.get("/js/missing.js")).status_code == 404
    assert (await api.anon.get("/js/../../README.md")).status_code == 404


def test_no_page_has_inline_script_or_style() -> None:
    """The CSP would block them; this keeps them from being written in the first place."""
    assert DEFAULT_FRONTEND_DIR == REPO_ROOT / "frontend"
    for page in DEFAULT_FRONTEND_DIR.glob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "style=" not in html, page.name
        assert "<style" not in html, page.name
        for chunk in html.split("<script")[1:]:
            assert 'type="module" src="/js/' in chunk.split(">", 1)[0], page.name
        assert not re.search(r"\son[a-z]+\s*=", html), f"inline event handler in {page.name}"
    for script in (DEFAULT_FRONTEND_DIR / "js").glob("*.js"):
        assert "innerHTML" not in script.read_text(encoding="utf-8"), script.name


@uses_database
async def test_without_a_frontend_the_api_still_runs(start_app: StartApp, tmp_path: object) -> None:
    app = await start_app(FRONTEND_DIR=str(tmp_path))
    response = await app.anon.get("/")
    assert response.status_code == 307 and response.headers["location"] == "/docs"
    assert (await app.anon.get("/health")).status_code == 200


@uses_database
async def test_a_login_link_that_would_leave_the_site_loses_its_next(api: RunningApp) -> None:
    for bad in (
        "/%09/example.com",
        "//example.com",
        "/%5Cexample.com",
        "https://example.com",
        "%20//example.com",
        "/%0A/example.com",
        "javascript:alert(1)",
    ):
        response = await api.anon.get(f"/login?next={bad}")
        assert response.status_code == 303, bad
        assert response.headers["location"] == "/login"
    for good in ("/", "/candidate-view.html%3Fid%3D5", "/index.html?q=%D0%90"):
        assert (await api.anon.get(f"/login?next={good}")).status_code == 200, good
