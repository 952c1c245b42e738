"""Browser fixtures: Debian's Chromium driven by Playwright (async API, inside the suite's event loop).

Playwright cannot download browsers here; it drives the system Chromium. Without it the browser tests are
skipped locally with the reason, and fail in CI (`CI=true`), where `.ci/run` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Error, Page, async_playwright

from app.api.deps import CSRF_COOKIE, SESSION_COOKIE
from app.services import auth, users
from tests.utils.app import ADMIN_EMAIL, IN_CI, RunningApp, StartApp

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CALM_FIXED_ELEMENTS = """(position) => {
    for (const el of document.querySelectorAll(".topbar, .chat-jump")) el.style.position = position;
}"""
LAPTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}

# The browser tests run on SQLite only: the pages sit on the same API that the rest of the suite checks
# on both databases, and one backend keeps the browser run short.
sqlite_only = pytest.mark.parametrize("database_session", ["sqlite"], indirect=True)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).is_file():
        reason = f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)"
        if IN_CI:
            pytest.fail(f"{reason}: CI must run the browser tests")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class UI:
    """The app on a real port and a browser page logged in (or not) to it."""

    app: RunningApp
    context: BrowserContext
    page: Page
    problems: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.app.base_url + path

    async def goto(self, path: str) -> None:
        await self.page.goto(self.url(path))

    async def log_in(self, email: str = ADMIN_EMAIL) -> None:
        """Put a fresh session in the browser's cookies, as the login form would (without argon2's cost)."""
        async with self.app.state.session_factory() as session, session.begin():
            user = await users.by_email(session, email)
            assert user is not None
            issued = await auth.issue(session, self.app.settings, user)
        url = self.app.base_url
        await self.context.add_cookies(
            [
                {"name": SESSION_COOKIE, "value": issued.token, "url": url, "httpOnly": True, "sameSite": "Lax"},
                {"name": CSRF_COOKIE, "value": issued.csrf_token, "url": url, "sameSite": "Strict"},
            ]
        )

    def expect_console_error(self, pattern: str) -> None:
        """An error the test provokes on purpose (a wrong password's 401) is not a finding."""
        self.expected.append(re.compile(pattern))

    def unexpected_problems(self) -> list[str]:
        return [p for p in self.problems if not any(e.search(p) for e in self.expected)]

    async def screenshot(self, name: str, *, full_page: bool = True, selector: str | None = None) -> Path:
        """Save backend/tests/artifacts/<name>.png: the page, or one element of it."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        if selector:
            # A tall element is captured in slices: keep the sticky bar and the floating button out of them.
            # (Through the CSSOM: the page's CSP rightly refuses an injected stylesheet.)
            await self.page.evaluate(CALM_FIXED_ELEMENTS, "static")
            await self.page.locator(selector).screenshot(path=str(path))
            await self.page.evaluate(CALM_FIXED_ELEMENTS, "")
        else:
            await self.page.screenshot(path=str(path), full_page=full_page)
        return path


def _watch(page: Page, problems: list[str]) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning") and not message.text.startswith("[DOM]"):
            location = message.location.get("url", "")
            problems.append(f"console.{message.type}: {message.text} ({location})")

    def on_page_error(error: Error) -> None:
        problems.append(f"pageerror: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)


@pytest.fixture
async def open_ui(browser: Browser, start_app: StartApp) -> AsyncIterator[Any]:
    """`await open_ui(viewport=…, touch=…, app=…, **settings)` → a UI; every page must finish without console errors.

    `touch=True` is a phone: a touch screen and no fine pointer."""
    opened: list[UI] = []

    async def open_(
        viewport: dict[str, int] | None = None,
        *,
        touch: bool = False,
        app: RunningApp | None = None,
        **settings: Any,
    ) -> UI:
        # `app=`: another browser on the same server (as a second person in the team would be).
        app = app or await start_app(**settings)
        context = await browser.new_context(
            viewport=viewport or LAPTOP,
            locale="ru-RU",
            timezone_id="Europe/Moscow",
            base_url=app.base_url,
            has_touch=touch,
            is_mobile=touch,
        )
        context.set_default_timeout(10_000)
        page = await context.new_page()
        ui = UI(app, context, page)
        _watch(page, ui.problems)
        opened.append(ui)
        return ui

    yield open_
    for ui in opened:
        await ui.context.close()
    problems = [p for ui in opened for p in ui.unexpected_problems()]
    assert not problems, "the browser reported errors:\n" + "\n".join(problems)


@pytest.fixture
async def ui(open_ui: Any) -> UI:
    """A laptop-sized page, logged in as the seeded admin, with both providers on the fake."""
    opened: UI = await open_ui()
    await opened.log_in()
    return opened
