"""axe-core in the page under test: the pinned `axe-playwright-python` package ships axe.min.js.

The script goes in through Playwright's evaluate (the DevTools protocol), which the page's strict CSP does not
govern, so the pages are checked exactly as served.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from playwright.async_api import Page

BLOCKING = ("serious", "critical")
RUN = """async () => {
    const result = await axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " — " + (n.failureSummary || "").slice(0, 200)),
    }));
}"""


@cache
def axe_source() -> str:
    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


async def violations(page: Page) -> list[dict[str, Any]]:
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source())
    found: list[dict[str, Any]] = await page.evaluate(RUN)
    return found


async def assert_accessible(page: Page, where: str) -> None:
    """0 serious or critical violations on the page as it is now."""
    blocking = [v for v in await violations(page) if v["impact"] in BLOCKING]
    assert not blocking, f"{where}: " + "\n".join(
        f"{v['impact']} {v['id']}: {v['help']} {v['targets']}" for v in blocking
    )
