"""Bulk resume intake on the list page in a real Chromium: drop files, watch the progress, review and save."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import PHONE, UI, sqlite_only
from tests.fake_upstream import FakeUpstream, Fault
from tests.services.test_shortlist import ANALYSIS
from tests.utils.app import create_candidate
from tests.utils.intake import DOCX_TYPE, draft, resume_docx

pytestmark = [sqlite_only, pytest.mark.usefixtures("database")]


async def test_dropped_resumes_show_progress_and_become_candidates_after_review(ui: UI, fake: FakeUpstream) -> None:
    fake.gigachat.set_default(Fault(structured=draft(full_name="Анна Резюмешная"), chunk_delay=0.3))
    page = ui.page
    await ui.goto("/")
    await page.get_by_role("button", name="Загрузить резюме").click()
    files = [
        {
            "name": f"cv{i}.docx",
            "mimeType": DOCX_TYPE,
            "buffer": resume_docx(f"Кандидат Номер{i}", f"p{i}@example.com", f"+7 915 000-00-0{i}"),
        }
        for i in range(3)
    ]
    await page.locator("#intake-files").set_input_files(files)  # type: ignore[arg-type]

    status = page.locator("#intake-status")
    await expect(status).to_contain_text(re.compile(r"Обработано [0-2] из 3"))
    await expect(status).to_have_text("Обработано 3 из 3 файлов", timeout=20_000)
    await expect(page.locator("#intake-bar")).to_have_attribute("value", "3")
    await ui.screenshot("intake-progress")

    await page.locator("#intake-jobs li").first.get_by_role("button", name="Проверить").click()
    dialog = page.locator("#review-dialog")
    await expect(dialog.get_by_label("Email")).to_have_value("p0@example.com")
    await expect(dialog.get_by_label("Телефон")).to_have_value("+7 915 000-00-00")
    await dialog.get_by_label("ФИО").fill("Кандидат Номер Ноль")
    await dialog.get_by_role("button", name="Сохранить кандидата").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#intake-jobs li").first).to_contain_text("сохранён")
    await expect(page.locator("#candidates")).to_contain_text("Кандидат Номер Ноль")


async def test_the_shortlist_page_ranks_the_pool_for_a_vacancy(ui: UI, fake: FakeUpstream) -> None:
    fake.gigachat.set_default(Fault.ok(json=ANALYSIS))
    client = ui.app.client
    vacancy = (
        await client.post(
            "/api/vacancies/", json={"title": "Python-разработчик", "key_skills": ["Python", "PostgreSQL"]}
        )
    ).json()
    fit = await create_candidate(client, full_name="Подходящий Кандидат", resume_text="Python, PostgreSQL, FastAPI.")
    await create_candidate(
        client,
        full_name="Другой Кандидат",
        email="cook@example.com",
        phone="+7 917 000-00-00",
        position="Повар",
        resume_text="Шеф-повар, кухня.",
    )
    page = ui.page
    await ui.goto(f"/shortlist.html?vacancy={vacancy['id']}")
    await expect(page.get_by_label("Вакансия", exact=True)).to_have_value(str(vacancy["id"]))
    await page.get_by_label("Анализировать лучших").fill("1")
    await page.get_by_role("button", name="Составить шорт-лист").click()
    rows = page.locator("#entries tr")
    await expect(rows).to_have_count(2)
    await expect(rows.first).to_contain_text("Подходящий Кандидат")
    await expect(rows.first).to_contain_text("81/100")
    await expect(rows.first).to_have_attribute("data-candidate", str(fit["id"]))
    await expect(page.get_by_role("link", name="Вакансии")).to_have_attribute("aria-current", "page")
    await ui.screenshot("shortlist")
    # On a phone: the same list, and nothing wider than the screen.
    await page.set_viewport_size(PHONE)
    await expect(rows.first).to_contain_text("Подходящий Кандидат")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    await ui.screenshot("shortlist-phone")
