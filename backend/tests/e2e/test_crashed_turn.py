"""The page of a turn whose instance died: the reason and «Повторить», without a reload."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest
from playwright.async_api import expect

from app.services.turns import INTERRUPTED
from tests.e2e.conftest import UI, sqlite_only
from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import Database, create_candidate
from tests.utils.chat import ask
from tests.utils.processes import instance_env, start_instance

pytestmark = [sqlite_only, pytest.mark.usefixtures("database")]

LEASES = {"TURN_LEASE_SECONDS": 2.0, "TURN_SWEEP_INTERVAL": 0.5, "LLM_LEASE_SECONDS": 2.0}


async def test_a_turn_of_a_killed_instance_shows_its_reason_and_retry(
    open_ui: object, fake: FakeUpstream, database: Database, tmp_path: Path
) -> None:
    ui: UI = await open_ui(**LEASES)  # type: ignore[operator]
    await ui.log_in()
    assert database.admin_token is not None
    env = instance_env(
        fake,
        database,
        tmp_path / "doomed",
        LLM_FIRST_TOKEN_TIMEOUT=120.0,
        LLM_TOTAL_TIMEOUT=300.0,
        LLM_HEDGE_AFTER=0,
        LLM_HEDGE_FOREIGN_AFTER=0,
        **LEASES,
    )
    doomed = await start_instance(env, tmp_path / "doomed.log")
    try:
        client = doomed.client(database.admin_token)
        candidate = await create_candidate(ui.app.client)
        fake.gigachat.set_default(Fault.silent_stream(300.0))
        turn = asyncio.create_task(ask(client, candidate["id"], "Что с опытом в Kafka?", "stream"))

        await ui.goto(f"/candidate-view.html?id={candidate['id']}")
        question = ui.page.locator("#chat-log .msg").filter(has_text="Что с опытом в Kafka?")
        await expect(question).to_contain_text("Ответ готовится…")
        doomed.kill()
        with contextlib.suppress(httpx.HTTPError):
            await turn

        failed = ui.page.locator(".msg--failed")
        await expect(failed).to_contain_text(INTERRUPTED, timeout=60_000)
        retry = failed.get_by_role("button", name="Повторить")
        await expect(retry).to_be_visible()

        fake.gigachat.set_default(None)
        await retry.click()
        await expect(ui.page.locator("#chat-log .msg").last).to_contain_text(
            "GigaChat: ответ на «Что с опытом в Kafka?»", timeout=20_000
        )
    finally:
        await doomed.stop()
