"""The recruiter's pages in a real Chromium: login, list, card, chat with streaming, fallback, retry, XSS."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, create_candidate
from tests.e2e.conftest import PHONE, UI, sqlite_only
from tests.fake_upstream import DEFAULT_OPENROUTER_MODEL, FakeUpstream, Fault

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


async def test_fallback_answer_is_labelled_with_its_provider(ui: UI, fake: FakeUpstream) -> None:
    await card(ui)
    fake.gigachat.push(Fault.status(503))
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


PEOPLE = [
    ("Иван Петров", "Python-разработчик", "Москва"),
    ("Анна Смирнова", "Аналитик данных", "Санкт-Петербург"),
    ("Дмитрий Соколов", "DevOps-инженер", "Казань"),
    ("Екатерина Волкова", "Product manager", "Москва"),
    ("Сергей Морозов", "Java-разработчик", "Новосибирск"),
    ("Ольга Лебедева", "QA-инженер", "Екатеринбург"),
    ("Алексей Козлов", "Frontend-разработчик", "Удалённо"),
]
MARKDOWN_REPLY = (
    "Кратко о кандидате:\n\n"
    "- **6 лет** коммерческой разработки на Python (FastAPI, PostgreSQL, Kafka);\n"
    "- руководил командой из 4 человек в финтехе;\n"
    "- нет опыта с Kubernetes — стоит уточнить на интервью.\n\n"
    "Рекомендую пригласить на техническое интервью."
)


async def test_screenshots_of_the_list_and_the_card(open_ui: Any, fake: FakeUpstream) -> None:
    laptop: UI = await open_ui()
    ids = []
    for i, (name, position, city) in enumerate(PEOPLE):
        created = await create_candidate(
            laptop.app.client, full_name=name, position=position, email=f"p{i}@example.com", phone=None, city=city
        )
        ids.append(created["id"])
    first = ids[0]
    fake.gigachat.push(Fault.ok(text=MARKDOWN_REPLY))
    await laptop.app.client.post(
        "/api/chat/", json={"candidate_id": first, "role": "user", "content": "Кратко: опыт и риски кандидата?"}
    )
    fake.gigachat.push(Fault.status(503))
    await laptop.app.client.post(
        "/api/chat/", json={"candidate_id": first, "role": "user", "content": "Подготовь 3 вопроса про Kafka"}
    )
    phone: UI = await open_ui(viewport=PHONE)
    for width_name, ui in (("laptop", laptop), ("phone", phone)):
        await ui.log_in()
        await ui.goto("/")
        await expect(ui.page.locator("#candidates tr")).to_have_count(len(PEOPLE))
        await ui.screenshot(f"list-{width_name}")
        await ui.goto(f"/candidate-view.html?id={first}")
        await expect(messages(ui)).to_have_count(4)
        await ui.screenshot(f"card-{width_name}")
