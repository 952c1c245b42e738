"""The recruiter's pages in a real Chromium: login, list, card, chat with streaming, fallback, retry, XSS."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Route, expect

from tests.e2e.conftest import PHONE, UI, sqlite_only
from tests.fake_upstream import DEFAULT_OPENROUTER_MODEL, FakeUpstream, Fault
from tests.resume_files import make_docx, make_pdf
from tests.utils.app import ADMIN_EMAIL, ADMIN_PASSWORD, create_candidate

pytestmark = [sqlite_only, pytest.mark.usefixtures("database")]

XSS = "<img src=x onerror=window.__xss=1>"


async def card(ui: UI, **fields: Any) -> dict[str, Any]:
    candidate = await create_candidate(ui.app.client, **fields)
    await ui.goto(f"/candidate-view.html?id={candidate['id']}")
    await expect(ui.page.locator("#c-title")).to_have_text(candidate["full_name"])
    return candidate


def messages(ui: UI) -> Any:
    return ui.page.locator("#chat-log .msg")


# --- login ------------------------------------------------------------------------------------------


async def test_login_form_errors_inline_then_lands_on_the_list_and_logs_out(open_ui: Any) -> None:
    ui: UI = await open_ui()
    page = ui.page
    await ui.goto("/")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    await expect(page.get_by_role("heading", name="Вход")).to_be_visible()

    ui.expect_console_error(r"status of 401")
    await page.get_by_label("Email").fill(ADMIN_EMAIL)
    await page.get_by_label("Пароль").fill("wrong password")
    await page.get_by_role("button", name="Войти").click()
    await expect(page.get_by_role("alert")).to_have_text("Неверный email или пароль")

    await page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
    await page.get_by_label("Пароль").press("Enter")
    await expect(page).to_have_url(ui.url("/"))
    await expect(page.get_by_role("heading", name="Кандидаты")).to_be_visible()
    await expect(page.locator("#user-name")).to_have_text("admin")

    await page.get_by_role("button", name="Выйти").click()
    await expect(page).to_have_url(ui.url("/login"))
    await ui.goto("/candidate-view.html?id=1")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fcandidate-view\.html%3Fid%3D1$"))


async def test_login_keeps_the_next_page_but_never_leaves_the_site(open_ui: Any) -> None:
    ui: UI = await open_ui()
    candidate = await create_candidate(ui.app.client)
    await ui.goto("/login?next=//evil.example/")
    await ui.page.get_by_label("Email").fill(ADMIN_EMAIL)
    await ui.page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
    await ui.page.get_by_role("button", name="Войти").click()
    await expect(ui.page).to_have_url(ui.url("/"))

    await ui.goto(f"/login?next=/candidate-view.html%3Fid%3D{candidate['id']}")
    await ui.page.get_by_label("Email").fill(ADMIN_EMAIL)
    await ui.page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
    await ui.page.get_by_role("button", name="Войти").click()
    await expect(ui.page.locator("#c-title")).to_have_text("Иван Петров")


async def test_the_login_page_script_keeps_next_on_this_site(open_ui: Any) -> None:
    """The page's own rule, in the browser whose URL parser an attacker would exploit."""
    ui: UI = await open_ui()
    await ui.goto("/login")
    cases = [
        "/\t/example.com",
        "/\n/example.com",
        "//example.com",
        "/\\example.com",
        "https://example.com",
        "\t//example.com",
        "javascript:alert(1)",
        "",
        "/candidate-view.html?id=5",
        "/index.html#top",
    ]
    results = await ui.page.evaluate(
        "async (cases) => { const m = await import('/js/next.js'); return cases.map((c) => m.safeNext(c)); }", cases
    )
    assert results == ["/", "/", "/", "/", "/", "/", "/", "/", "/candidate-view.html?id=5", "/index.html#top"]

    # And the finding itself: a tab that the URL parser drops must not make "//example.com".
    await ui.goto("/login?next=/%09/example.com")
    await ui.page.get_by_label("Email").fill(ADMIN_EMAIL)
    await ui.page.get_by_label("Пароль").fill(ADMIN_PASSWORD)
    await ui.page.get_by_role("button", name="Войти").click()
    await expect(ui.page).to_have_url(ui.url("/"))


# --- list ---------------------------------------------------------------------------------------------


async def test_list_searches_and_pages(ui: UI) -> None:
    for i in range(23):
        await create_candidate(ui.app.client, full_name=f"Кандидат {i:02d}", email=f"c{i}@example.com", phone=None)
    await create_candidate(ui.app.client, full_name="Анна Смирнова", email="anna@example.com", position="Аналитик")
    page = ui.page
    await ui.goto("/")
    rows = page.locator("#candidates tr")
    await expect(rows).to_have_count(20)
    await expect(page.locator("#list-summary")).to_have_text("24 кандидата")
    await expect(page.locator("#page-info")).to_have_text("1–20 из 24")
    await page.get_by_role("button", name="Вперёд →").click()
    await expect(rows).to_have_count(4)
    await expect(page.locator("#page-info")).to_have_text("21–24 из 24")

    await page.get_by_role("searchbox", name="Поиск").fill("аналит")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Анна Смирнова")
    await expect(page).to_have_url(re.compile(r"\?q=%D0%B0%D0%BD"))
    await rows.first.get_by_role("link", name="Анна Смирнова").click()
    await expect(page.locator("#c-title")).to_have_text("Анна Смирнова")
    await page.get_by_role("link", name="← Все кандидаты").click()
    await expect(page.get_by_role("searchbox", name="Поиск")).to_have_value("аналит")
    await expect(rows).to_have_count(1)


async def test_new_candidate_form_opens_the_card(ui: UI) -> None:
    page = ui.page
    await ui.goto("/")
    await expect(page.get_by_text("Кандидатов пока нет")).to_be_visible()
    await page.get_by_role("button", name="Новый кандидат").click()
    dialog = page.get_by_role("dialog", name="Новый кандидат")
    await expect(dialog).to_be_visible()
    await dialog.get_by_role("button", name="Создать").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Укажите ФИО кандидата.")
    await dialog.get_by_label("ФИО").fill("Мария Кузнецова")
    await dialog.get_by_label("Желаемая должность").fill("Data Scientist")
    await dialog.get_by_label("Email").fill("maria@example.com")
    await dialog.get_by_label("Текст резюме").fill("Мария, 5 лет в ML: Python, PyTorch, SQL.")
    await dialog.get_by_role("button", name="Создать").click()
    await expect(page).to_have_url(re.compile(r"/candidate-view\.html\?id=\d+$"))
    await expect(page.locator("#c-title")).to_have_text("Мария Кузнецова")
    await expect(page.locator("#resume-text")).to_have_text("Мария, 5 лет в ML: Python, PyTorch, SQL.")


# --- card ---------------------------------------------------------------------------------------------


async def test_profile_inline_edit(ui: UI) -> None:
    candidate = await card(ui)
    page = ui.page
    await page.get_by_role("button", name="Изменить").click()
    await page.get_by_label("Желаемая должность").fill("Тимлид Python")
    await page.get_by_label("Телефон").fill("+7 900 000-00-01")
    await page.get_by_role("button", name="Сохранить").click()
    await expect(page.locator("#profile-view")).to_contain_text("Тимлид Python")
    await expect(page.locator("#c-meta")).to_contain_text("Тимлид Python")
    stored = (await ui.app.client.get(f"/api/candidates/{candidate['id']}")).json()
    assert stored["position"] == "Тимлид Python" and stored["phone"] == "+7 900 000-00-01"

    await page.get_by_role("button", name="Изменить").click()
    await page.get_by_label("ФИО").fill("  ")
    await page.get_by_role("button", name="Сохранить").click()
    await expect(page.locator("#profile-error")).to_have_text("ФИО не может быть пустым.")
    await page.get_by_label("ФИО").press("Escape")
    await expect(page.locator("#profile-view")).to_be_visible()


# --- chat -----------------------------------------------------------------------------------------------


async def test_history_loads_with_time_and_provider(ui: UI) -> None:
    candidate = await create_candidate(ui.app.client)
    turn = await ui.app.client.post(
        "/api/chat/", json={"candidate_id": candidate["id"], "role": "user", "content": "Какой у него опыт?"}
    )
    assert turn.status_code == 201, turn.text
    await ui.goto(f"/candidate-view.html?id={candidate['id']}")
    await expect(messages(ui)).to_have_count(2)
    user, reply = messages(ui).nth(0), messages(ui).nth(1)
    await expect(user).to_contain_text("Какой у него опыт?")
    await expect(user.locator("time")).to_have_text(re.compile(r"^\d{2}:\d{2}$"))
    await expect(reply).to_contain_text("GigaChat: ответ на «Какой у него опыт?»")
    await expect(reply.locator(".provider")).to_have_text("GigaChat · GigaChat-2:2.0.28.2")


async def test_message_streams_token_by_token_and_survives_reload(ui: UI, fake: FakeUpstream) -> None:
    candidate = await card(ui)
    page = ui.page
    await expect(page.get_by_text("Спросите ассистента о кандидате")).to_be_visible()
    # Slow chunks make the partial answer observable between the first delta and the last.
    fake.gigachat.push(Fault.slow(0.15, text="Первая часть ответа. Вторая часть ответа. Третья часть."))
    box = page.get_by_label("Сообщение ассистенту")
    await box.fill("Расскажи о кандидате")
    await box.press("Shift+Enter")
    await box.press_sequentially("кратко")
    await expect(box).to_have_value("Расскажи о кандидате\nкратко")
    await box.press("Enter")

    streaming = page.locator(".msg--streaming .msg__body")
    await expect(streaming).to_contain_text("Первая")
    assert "Третья" not in (await streaming.inner_text())
    await expect(page.get_by_role("button", name="Остановить")).to_be_visible()

    reply = messages(ui).last
    await expect(reply).to_contain_text("Первая часть ответа. Вторая часть ответа. Третья часть.")
    await expect(reply.locator(".provider")).to_have_text("GigaChat · GigaChat-2:2.0.28.2")
    await expect(page.get_by_role("button", name="Остановить")).to_be_hidden()
    await expect(messages(ui).first).to_have_text(re.compile("Расскажи о кандидате\nкратко"))

    await page.reload()
    await expect(messages(ui)).to_have_count(2)
    await expect(messages(ui).last).to_contain_text("Третья часть.")
    history = (await ui.app.client.get(f"/api/chat/{candidate['id']}")).json()
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert history[0]["content"] == "Расскажи о кандидате\nкратко"


async def test_a_message_sent_before_the_history_arrives_is_not_lost(ui: UI) -> None:
    candidate = await create_candidate(ui.app.client)
    await ui.app.client.post("/api/chat/", json={"candidate_id": candidate["id"], "content": "Старый вопрос"})
    release = asyncio.Event()

    async def hold_history(route: Route) -> None:
        await release.wait()
        await route.continue_()

    # The first history load is held back (a slow network) while the recruiter already sends a message.
    await ui.page.route(re.compile(rf"/api/chat/{candidate['id']}\?limit="), hold_history)
    await ui.goto(f"/candidate-view.html?id={candidate['id']}")
    await ui.page.get_by_label("Сообщение ассистенту").fill("Новый вопрос")
    await ui.page.get_by_label("Сообщение ассистенту").press("Enter")
    release.set()
    await expect(messages(ui)).to_have_count(4)
    await expect(messages(ui).nth(0)).to_contain_text("Старый вопрос")
    await expect(messages(ui).nth(2)).to_contain_text("Новый вопрос")
    await expect(messages(ui).last).to_contain_text("GigaChat: ответ на «Новый вопрос»")
    await ui.page.unroute_all()


async def test_fallback_answer_is_labelled_with_its_provider(ui: UI, fake: FakeUpstream) -> None:
    await card(ui)
    fake.gigachat.set_default(Fault.down())
    await ui.page.get_by_label("Сообщение ассистенту").fill("Сильные стороны?")
    await ui.page.get_by_role("button", name="Отправить").click()
    reply = messages(ui).last
    await expect(reply).to_contain_text("OpenRouter: ответ на «Сильные стороны?»")
    await expect(reply.locator(".provider")).to_have_text(f"OpenRouter · {DEFAULT_OPENROUTER_MODEL}")
    await expect(reply.locator(".msg__note")).to_have_text("GigaChat не ответил — ответ резервного провайдера.")


async def test_provider_switch_mid_answer_replaces_the_partial_text(ui: UI, fake: FakeUpstream) -> None:
    await card(ui)
    fake.gigachat.push(Fault.cut_after(2))
    await ui.page.get_by_label("Сообщение ассистенту").fill("Вопросы для интервью")
    await ui.page.get_by_label("Сообщение ассистенту").press("Enter")
    reply = messages(ui).last
    await expect(reply).to_contain_text("OpenRouter: ответ на «Вопросы для интервью»")
    assert "GigaChat" not in await reply.locator(".msg__body").inner_text()
    await expect(messages(ui)).to_have_count(2)


async def test_all_providers_down_keeps_the_message_and_retry_answers_it(ui: UI, fake: FakeUpstream) -> None:
    candidate = await card(ui)
    page = ui.page
    fake.gigachat.set_default(Fault.down())
    fake.openrouter.set_default(Fault.down())
    await page.get_by_label("Сообщение ассистенту").fill("Что с опытом в Kafka?")
    await page.get_by_label("Сообщение ассистенту").press("Enter")
    failed = page.locator(".msg--failed")
    await expect(failed).to_contain_text("Что с опытом в Kafka?")
    await expect(failed.get_by_role("button", name="Повторить")).to_be_visible()
    await expect(messages(ui)).to_have_count(1)

    await page.reload()
    await expect(failed.get_by_role("button", name="Повторить")).to_be_visible()

    fake.gigachat.set_default(None)
    fake.openrouter.set_default(None)
    await failed.get_by_role("button", name="Повторить").click()
    await expect(messages(ui)).to_have_count(2)
    await expect(messages(ui).last).to_contain_text("GigaChat: ответ на «Что с опытом в Kafka?»")
    await expect(page.locator(".msg--failed")).to_have_count(0)
    history = (await ui.app.client.get(f"/api/chat/{candidate['id']}")).json()
    assert [(m["role"], m["status"]) for m in history] == [("user", "ok"), ("assistant", "ok")]


async def test_stop_ends_the_stream_and_the_stored_answer_appears(ui: UI, fake: FakeUpstream) -> None:
    await card(ui)
    page = ui.page
    fake.gigachat.push(Fault.slow(0.1, text="Длинный ответ, который пишется медленно и всё равно сохранится."))
    await page.get_by_label("Сообщение ассистенту").fill("Подробно, пожалуйста")
    await page.get_by_label("Сообщение ассистенту").press("Enter")
    await expect(page.locator(".msg--streaming .msg__body")).to_contain_text("Длинный")
    await page.get_by_role("button", name="Остановить").click()
    await expect(page.locator("#chat-error")).to_contain_text("Остановлено")
    await expect(messages(ui).last).to_contain_text("всё равно сохранится.", timeout=15_000)
    await expect(messages(ui)).to_have_count(2)


async def test_ai_not_configured_notice_names_the_settings(open_ui: Any) -> None:
    ui: UI = await open_ui(GIGACHAT_API_KEY=None, OPENROUTER_API_KEY=None)
    await ui.log_in()
    await card(ui)
    notice = ui.page.locator("#ai-notice")
    await expect(notice).to_contain_text("ИИ не настроен")
    await expect(notice).to_contain_text("GIGACHAT_API_KEY")
    await expect(notice).to_contain_text("OPENROUTER_API_KEY")


# --- safety ---------------------------------------------------------------------------------------------


async def test_markup_in_names_and_replies_is_shown_as_text(ui: UI, fake: FakeUpstream) -> None:
    candidate = await create_candidate(ui.app.client, full_name=f"Иван {XSS}", position=XSS, resume_text=XSS)
    page = ui.page
    await ui.goto("/")
    await expect(page.locator("#candidates")).to_contain_text(f"Иван {XSS}")
    await ui.goto(f"/candidate-view.html?id={candidate['id']}")
    await expect(page.locator("#c-title")).to_have_text(f"Иван {XSS}")
    await expect(page.locator("#resume-text")).to_have_text(XSS)

    fake.gigachat.push(Fault.ok(text=f"Вот **так**: {XSS} и `{XSS}`"))
    await page.get_by_label("Сообщение ассистенту").fill(XSS)
    await page.get_by_label("Сообщение ассистенту").press("Enter")
    await expect(messages(ui).last).to_contain_text(f"Вот так: {XSS} и {XSS}")
    await expect(messages(ui).first).to_contain_text(XSS)
    await page.reload()
    await expect(messages(ui).last).to_contain_text(f"Вот так: {XSS} и {XSS}")

    assert await page.evaluate("window.__xss") is None
    assert await page.locator("img").count() == 0


# --- screenshots ---------------------------------------------------------------------------------------


async def test_phone_width_card_has_no_horizontal_scroll(open_ui: Any) -> None:
    ui: UI = await open_ui(viewport=PHONE)
    await ui.log_in()
    await card(ui, full_name="Константин Длиннофамильный-Очень-Длинный")
    width = await ui.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]


# --- stages, vacancies, resume files, analysis -------------------------------------------------------------

ANALYSIS_RESUME = (
    "Иван Петров\n"
    "Python-разработчик, 6 лет опыта: FastAPI, PostgreSQL, Kafka.\n"
    "Руководил командой из 4 человек в финтехе.\n"
    "Писал документацию к API и проводил код-ревью."
)


def analysis_document(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "summary": "Опытный бэкенд-разработчик с нужным стеком и опытом руководства; нет опыта с Kubernetes.",
        "fit_score": 78,
        "criteria": {
            "skills": {"score": 85, "comment": "FastAPI, PostgreSQL и Kafka — ровно стек вакансии."},
            "experience": {"score": 80, "comment": "6 лет коммерческой разработки, руководство командой."},
            "domain": {"score": 62, "comment": "Финтех близок, но опыта в e-commerce нет."},
            "communication": {"score": 45, "comment": "Резюме короткое, достижения не описаны."},
        },
        "strengths": [
            {"text": "Нужный стек", "evidence_quote": "FastAPI, PostgreSQL, Kafka"},
            {"text": "Опыт руководства", "evidence_quote": "Руководил командой из 4 человек в финтехе"},
        ],
        "gaps": [{"text": "Нет опыта с Kubernetes", "evidence_quote": None}],
        "risks": [{"text": "Мало конкретики о результатах", "evidence_quote": "проводил код-ревью"}],
        "interview_questions": [
            {"question": "Как вы разворачивали сервисы в продакшене?", "gap": "Нет опыта с Kubernetes"},
            {"question": "Какой результат команды за последний год вы считаете главным?", "gap": "Мало конкретики"},
        ],
        "recommendation": "Рекомендую пригласить на техническое интервью и проверить опыт эксплуатации.",
    }
    doc.update(overrides)
    return doc


async def vacancy(ui: UI, title: str = "Senior Python-разработчик") -> dict[str, Any]:
    response = await ui.app.client.post(
        "/api/vacancies/",
        json={"title": title, "requirements": "Python, FastAPI, PostgreSQL, Kubernetes", "key_skills": ["Python"]},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_new_candidate_with_a_resume_file_and_a_vacancy(ui: UI) -> None:
    await vacancy(ui)
    page = ui.page
    await ui.goto("/")
    await page.get_by_role("button", name="Новый кандидат").click()
    dialog = page.get_by_role("dialog", name="Новый кандидат")
    await dialog.get_by_label("ФИО").fill("Павел Орлов")
    await dialog.get_by_label("Вакансия").select_option(label="Senior Python-разработчик")
    await dialog.get_by_label("Город").fill("Казань")
    await dialog.get_by_label("Навыки").fill("Python, FastAPI, SQL")
    await dialog.get_by_label("Резюме (PDF или DOCX)").set_input_files(
        {
            "name": "orlov.docx",
            "mimeType": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "buffer": make_docx(["Павел Орлов", "Python-разработчик, 5 лет: FastAPI, SQL."]),
        }
    )
    await expect(dialog.locator("#c-resume-name")).to_contain_text("orlov.docx")
    await dialog.get_by_role("button", name="Создать").click()

    await expect(page.locator("#c-title")).to_have_text("Павел Орлов")
    await expect(page.locator("#resume-text")).to_contain_text("Python-разработчик, 5 лет: FastAPI, SQL.")
    await expect(page.locator("#c-badges")).to_contain_text("Senior Python-разработчик")
    await expect(page.locator("#profile-view")).to_contain_text("Казань")
    await expect(page.locator("#profile-view .chip")).to_have_text(["Python", "FastAPI", "SQL"])
    link = page.get_by_role("link", name="orlov.docx")
    await expect(link).to_be_visible()
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename == "orlov.docx"
    assert Path(await download.path()).read_bytes()[:2] == b"PK"

    # Replacing the file from the card updates the text in place.
    await page.locator("#resume-input").set_input_files(
        {"name": "orlov.pdf", "mimeType": "application/pdf", "buffer": make_pdf(["Pavel Orlov, Go developer"])}
    )
    await expect(page.locator("#resume-error")).to_have_text("Резюме загружено, текст обновлён.")
    await expect(page.locator("#resume-text")).to_contain_text("Pavel Orlov, Go developer")
    await expect(page.get_by_role("link", name="orlov.pdf")).to_be_visible()


async def test_duplicate_candidate_is_reported_with_a_link(ui: UI) -> None:
    existing = await create_candidate(ui.app.client, email="dup@example.com")
    page = ui.page
    await ui.goto("/")
    await page.get_by_role("button", name="Новый кандидат").click()
    dialog = page.get_by_role("dialog", name="Новый кандидат")
    await dialog.get_by_label("ФИО").fill("Иван Петров")
    await dialog.get_by_label("Email").fill("DUP@example.com")
    ui.expect_console_error(r"status of 409")
    await dialog.get_by_role("button", name="Создать").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("уже есть")
    await expect(dialog.get_by_role("link", name="Открыть его карточку")).to_have_attribute(
        "href", f"/candidate-view.html?id={existing['id']}"
    )
    await dialog.get_by_role("button", name="Всё равно создать").click()
    await expect(page.locator("#c-title")).to_have_text("Иван Петров")
    assert (await ui.app.client.get("/api/candidates/")).json()["count"] == 2


async def test_stage_switcher_keeps_history_and_the_list_filters_by_stage(ui: UI) -> None:
    target = await vacancy(ui)
    candidate = await card(ui, vacancy_id=target["id"])
    await create_candidate(ui.app.client, full_name="Другой кандидат", email="other@example.com", phone=None)
    page = ui.page
    await expect(page.locator("#stepper [aria-current=step]")).to_contain_text("Новый")

    await page.get_by_label("Перевести на этап").select_option(label="Интервью")
    await page.get_by_label("Комментарий").fill("Хорошее резюме")
    await page.get_by_role("button", name="Перевести").click()
    await expect(page.locator("#stepper [aria-current=step]")).to_contain_text("Интервью")
    await expect(page.locator("#c-badges .badge")).to_have_text("Интервью")
    history = page.locator("#stage-history li")
    await expect(history).to_have_count(2)
    await expect(history.first).to_contain_text("Новый→Интервью")
    await expect(history.first).to_contain_text(ADMIN_EMAIL)
    await expect(history.first).to_contain_text("Хорошее резюме")

    await page.get_by_label("Перевести на этап").select_option(label="Отказ")
    await page.get_by_role("button", name="Перевести").click()
    await expect(page.locator("#stage-error")).to_contain_text("укажите причину")
    await page.get_by_label("Комментарий").fill("Выбрал другую компанию")
    await page.get_by_role("button", name="Перевести").click()
    await expect(page.locator("#stepper .is-rejected")).to_contain_text("Отказ: Выбрал другую компанию")
    await expect(history).to_have_count(3)

    await ui.goto("/")
    filters = page.get_by_role("search", name="Поиск и фильтры")
    await expect(page.locator("#candidates tr")).to_have_count(2)
    await page.get_by_role("button", name="Отказ: 1").click()
    await expect(page.locator("#candidates tr")).to_have_count(1)
    await expect(page.locator("#candidates tr .badge")).to_have_text("Отказ")
    await filters.get_by_label("Этап").select_option(label="Новый")
    await expect(page.locator("#candidates tr")).to_contain_text(["Другой кандидат"])
    await filters.get_by_label("Этап").select_option(label="Все этапы")
    await filters.get_by_label("Вакансия").select_option(label="Senior Python-разработчик")
    await expect(page.locator("#candidates tr")).to_have_count(1)
    await expect(page.locator("#candidates tr")).to_contain_text(candidate["full_name"])
    await expect(page.locator("#candidates tr")).to_contain_text("Senior Python-разработчик")


async def test_analysis_runs_with_progress_and_shows_its_chart(ui: UI, fake: FakeUpstream) -> None:
    target = await vacancy(ui)
    candidate = await card(ui, vacancy_id=target["id"], resume_text=ANALYSIS_RESUME)
    page = ui.page
    await expect(page.get_by_text("Анализа ещё не было")).to_be_visible()
    # A second's delay keeps the progress on screen long enough to be seen.
    fake.gigachat.push(dataclasses.replace(Fault.ok(json=analysis_document()), chunk_delay=1.0))
    await page.get_by_role("button", name="Запустить анализ").click()
    await expect(page.locator("#analysis-progress")).to_be_visible()
    await expect(page.get_by_role("button", name="Анализ идёт…")).to_be_disabled()

    result = page.locator("#analysis-result .analysis")
    await expect(result).to_be_visible()
    await expect(page.locator("#analysis-progress")).to_be_hidden()
    await expect(page.get_by_role("img", name="Соответствие вакансии: 78 из 100")).to_be_visible()
    await expect(result.locator(".criterion")).to_have_count(4)
    await expect(result.locator(".criterion__value")).to_have_text(["85", "80", "62", "45"])
    widths = [await bar.get_attribute("width") for bar in await result.locator(".bar__value").all()]
    assert widths == ["85", "80", "62", "45"]
    await expect(result.locator(".claims--good .claim__quote").first).to_contain_text("FastAPI, PostgreSQL, Kafka")
    await expect(result.locator(".claims--gap")).to_contain_text("Нет опыта с Kubernetes")
    await expect(result.locator(".questions li")).to_have_count(2)
    await expect(result).to_contain_text("Рекомендация ИИ носит справочный характер — решение принимает рекрутер")
    await expect(result.locator(".analysis__meta")).to_contain_text("GigaChat · GigaChat-2:2.0.28.2")
    await expect(result.locator(".analysis__meta")).to_contain_text("Senior Python-разработчик")

    # A second run against no vacancy (by position), then the first one picked from the history.
    fake.gigachat.push(Fault.status(503), times=2)  # and its one quick retry
    fake.openrouter.push(Fault.ok(json=analysis_document(fit_score=41, summary="Второй анализ")))
    await page.get_by_role("button", name="Запустить анализ").click()
    await expect(page.get_by_role("img", name="Соответствие вакансии: 41 из 100")).to_be_visible()
    await expect(result.locator(".analysis__meta")).to_contain_text(f"OpenRouter · {DEFAULT_OPENROUTER_MODEL}")
    picker = page.get_by_label("Анализ от")
    await expect(picker.locator("option")).to_have_count(2)
    await picker.select_option(index=1)
    await expect(page.get_by_role("img", name="Соответствие вакансии: 78 из 100")).to_be_visible()

    await page.reload()
    await expect(page.get_by_role("img", name="Соответствие вакансии: 41 из 100")).to_be_visible()
    stored = (await ui.app.client.get(f"/api/candidates/{candidate['id']}/analyses")).json()
    assert [a["result"]["fit_score"] for a in stored] == [41, 78]


async def test_analysis_failure_is_explained(ui: UI, fake: FakeUpstream) -> None:
    await card(ui, resume_text=ANALYSIS_RESUME)
    fake.gigachat.set_default(Fault.down())
    fake.openrouter.set_default(Fault.down())
    ui.expect_console_error(r"status of 503")
    await ui.page.get_by_role("button", name="Запустить анализ").click()
    await expect(ui.page.locator("#analysis-error")).to_have_class(re.compile("notice--error"))
    await expect(ui.page.locator("#analysis-error")).not_to_be_empty()
    await expect(ui.page.get_by_role("button", name="Запустить анализ")).to_be_enabled()


# --- screenshots ---------------------------------------------------------------------------------------

PEOPLE = [
    ("Иван Петров", "Python-разработчик", "Москва", "interview"),
    ("Анна Смирнова", "Аналитик данных", "Санкт-Петербург", "screening"),
    ("Дмитрий Соколов", "DevOps-инженер", "Казань", "offer"),
    ("Екатерина Волкова", "Product manager", "Москва", "new"),
    ("Сергей Морозов", "Java-разработчик", "Новосибирск", "rejected"),
    ("Ольга Лебедева", "QA-инженер", "Екатеринбург", "hired"),
    ("Алексей Козлов", "Frontend-разработчик", None, "new"),
]
MARKDOWN_REPLY = (
    "Кратко о кандидате:\n\n"
    "- **6 лет** коммерческой разработки на Python (FastAPI, PostgreSQL, Kafka);\n"
    "- руководил командой из 4 человек в финтехе;\n"
    "- нет опыта с Kubernetes — стоит уточнить на интервью.\n\n"
    "Рекомендую пригласить на техническое интервью."
)


async def populate(ui: UI, fake: FakeUpstream) -> int:
    """A small team's week: vacancies, candidates at every stage, and one card with a resume, analysis and chat."""
    python = await vacancy(ui)
    analyst = await vacancy(ui, "Аналитик данных")
    client = ui.app.client
    first = 0
    for i, (name, position, city, stage) in reversed(list(enumerate(PEOPLE))):
        created = await create_candidate(
            client,
            full_name=name,
            position=position,
            email=f"p{i}@example.com",
            phone=f"+7 900 000-00-{i:02d}",
            city=city,
            vacancy_id=analyst["id"] if "Аналитик" in position else python["id"] if "Python" in position else None,
            skills=["Python", "FastAPI", "PostgreSQL", "Kafka"] if i == 0 else [],
            source="hh.ru" if i % 2 else "Рекомендация",
            resume_text=ANALYSIS_RESUME if i == 0 else None,
        )
        if stage != "new":
            reason = "Выбрал другое предложение" if stage == "rejected" else "Сильное резюме"
            body = {"stage": stage, "reason": reason}
            response = await client.post(f"/api/candidates/{created['id']}/stage", json=body)
            assert response.status_code == 201, response.text
        first = created["id"]
    upload = await client.post(
        f"/api/candidates/{first}/resume",
        files={"file": ("petrov.docx", make_docx(ANALYSIS_RESUME.splitlines()), "application/octet-stream")},
    )
    assert upload.status_code == 200, upload.text
    fake.gigachat.push(Fault.ok(json=analysis_document()))
    assert (await client.post(f"/api/candidates/{first}/analyses", json={})).status_code == 201
    fake.gigachat.push(Fault.ok(text=MARKDOWN_REPLY))
    await client.post("/api/chat/", json={"candidate_id": first, "role": "user", "content": "Кратко: опыт и риски?"})
    fake.gigachat.push(Fault.status(503), times=2)  # and its one quick retry
    await client.post("/api/chat/", json={"candidate_id": first, "role": "user", "content": "3 вопроса про Kafka"})
    fake.gigachat.push(Fault.status(503), times=2)
    fake.openrouter.push(Fault.status(503), times=2)
    await client.post("/api/chat/", json={"candidate_id": first, "role": "user", "content": "А про PostgreSQL?"})
    return first


async def test_screenshots_of_the_list_and_the_card(open_ui: Any, fake: FakeUpstream) -> None:
    """Artifacts for people to look at (backend/tests/artifacts/); the test checks only that the pages render."""
    laptop: UI = await open_ui()
    first = await populate(laptop, fake)
    phone: UI = await open_ui(viewport=PHONE)
    for width_name, ui in (("laptop", laptop), ("phone", phone)):
        await ui.log_in()
        await ui.goto("/")
        await expect(ui.page.locator("#candidates tr")).to_have_count(len(PEOPLE))
        await expect(ui.page.locator("#pipeline .pipeline__count").first).to_have_text("2")
        await ui.screenshot(f"list-{width_name}")
        await ui.goto(f"/candidate-view.html?id={first}")
        await expect(messages(ui)).to_have_count(5)
        await expect(ui.page.locator("#analysis-result .score-ring")).to_be_visible()
        await ui.screenshot(f"card-{width_name}")
        await ui.screenshot(f"card-{width_name}-top", full_page=False)
        await ui.screenshot(f"card-{width_name}-analysis", selector="#analysis")
        await ui.screenshot(f"card-{width_name}-chat", selector="#chat")
    await laptop.goto("/")
    await laptop.page.get_by_role("button", name="Новый кандидат").click()
    await expect(laptop.page.get_by_role("dialog")).to_be_visible()
    await laptop.screenshot("new-candidate-laptop", full_page=False)


# --- keyboard and labels ----------------------------------------------------------------------------------

UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
    .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
        && !el.getAttribute("aria-labelledby") && !(el.tagName === "BUTTON" && el.textContent.trim()))
    .map((el) => el.outerHTML.slice(0, 120))"""
FOCUS_RING = "() => getComputedStyle(document.activeElement).outlineStyle"


async def test_every_control_is_labelled_and_the_keyboard_reaches_the_chat(ui: UI) -> None:
    await vacancy(ui)
    candidate = await create_candidate(ui.app.client, resume_text=ANALYSIS_RESUME)
    page = ui.page
    for path in ("/", f"/candidate-view.html?id={candidate['id']}"):
        await ui.goto(path)
        await expect(page.locator("#user-name")).to_have_text("admin")
        await expect(page.locator("#candidates tr, #chat-log .chat__empty")).to_have_count(1)
        assert await page.evaluate(UNLABELLED) == [], path

    # The first Tab lands on the skip links; the second one on the card leads straight to the chat box.
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Перейти к чату")).to_be_focused()
    assert await page.evaluate(FOCUS_RING) == "solid"
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Сообщение ассистенту")).to_be_focused()
    await page.keyboard.type("Вопрос с клавиатуры")
    await page.keyboard.press("Enter")
    await expect(messages(ui).last).to_contain_text("GigaChat: ответ на «Вопрос с клавиатуры»")

    await ui.goto("/login")
    assert await page.evaluate(UNLABELLED) == []
