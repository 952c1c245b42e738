"""The hiring flow in a real Chromium: vacancies, the board (mouse and keyboard), consents, export and erasure,
users, the audit log, AI usage and reports; axe-core on every page, screenshots at laptop and phone width."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.async_api import Page, expect

from tests.e2e.conftest import PHONE, UI, sqlite_only
from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import ADMIN_EMAIL, create_candidate
from tests.utils.axe import assert_accessible
from tests.utils.hiring import hiring_history, move, new_vacancy

pytestmark = [sqlite_only, pytest.mark.usefixtures("database")]

RECRUITER = "olga@example.com"
RECRUITER_PASSWORD = "long enough secret"


def column(page: Page, stage: str) -> Any:
    return page.locator(f'.board-col[data-stage="{stage}"]')


def board_card(page: Page, name: str) -> Any:
    return page.locator(".board-card").filter(has=page.get_by_role("link", name=name, exact=True))


# --- vacancies -------------------------------------------------------------------------------------------


async def test_create_edit_close_and_reopen_a_vacancy(ui: UI) -> None:
    page = ui.page
    await ui.goto("/vacancies.html")
    await expect(page.get_by_text("Вакансий пока нет")).to_be_visible()
    await assert_accessible(page, "vacancies (empty)")
    await page.get_by_role("button", name="Новая вакансия").click()
    dialog = page.get_by_role("dialog", name="Новая вакансия")
    await dialog.get_by_role("button", name="Создать").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Укажите название вакансии.")
    await dialog.get_by_label("Название").fill("Senior Python-разработчик")
    await dialog.get_by_label("Ключевые навыки").fill("Python, FastAPI")
    await dialog.get_by_label("Требования").fill("5+ лет Python, PostgreSQL")
    await dialog.get_by_role("button", name="Создать").click()

    await expect(page.get_by_role("heading", level=1)).to_have_text("Senior Python-разработчик")
    await expect(page.locator("#v-meta")).to_contain_text("Открыта")
    await expect(page.locator("#v-facts")).to_contain_text("5+ лет Python, PostgreSQL")
    shortlist = page.get_by_role("link", name="Шорт-лист")
    await expect(shortlist).to_have_attribute("href", re.compile(r"/shortlist\.html\?vacancy=\d+$"))
    await page.get_by_role("button", name="Закрыть вакансию").click()
    await expect(page.get_by_role("alert").filter(has_text="Вакансия закрыта.")).to_be_visible()
    await expect(page.locator("#v-meta")).to_contain_text("Закрыта")
    await page.get_by_role("button", name="Изменить").click()
    edit = page.get_by_role("dialog", name="Изменить вакансию")
    await expect(edit.get_by_label("Название")).to_have_value("Senior Python-разработчик")
    await edit.get_by_label("Название").fill("Python-разработчик")
    await edit.get_by_role("button", name="Сохранить").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Python-разработчик")
    await assert_accessible(page, "vacancy")

    await page.get_by_role("link", name="← Все вакансии").click()
    row = page.locator("#vacancies tr").filter(has_text="Python-разработчик")
    await expect(row).to_contain_text("Закрыта")
    await page.get_by_label("Статус").select_option("open")
    await expect(page.get_by_text("Ничего не нашлось")).to_be_visible()
    await page.get_by_label("Статус").select_option("")
    await row.get_by_role("link").click()
    await page.get_by_role("button", name="Открыть снова").click()
    await expect(page.locator("#v-meta")).to_contain_text("Открыта")
    await assert_accessible(page, "vacancies")

    events = (await ui.app.client.get("/api/audit/", params={"entity_type": "vacancy"})).json()["data"]
    assert [e["action"] for e in reversed(events)] == [
        "vacancy.create",
        "vacancy.close",
        "vacancy.update",
        "vacancy.reopen",
    ]


# --- board -----------------------------------------------------------------------------------------------


async def test_board_moves_by_mouse_and_keyboard_and_the_history_shows_who(ui: UI, fake: FakeUpstream) -> None:
    client = ui.app.client
    vacancy = await new_vacancy(client)
    anna = await create_candidate(
        client,
        full_name="Анна Смирнова",
        email="anna@example.com",
        phone=None,
        position="Аналитик",
        source="hh.ru",
        vacancy_id=vacancy["id"],
    )
    ivan = await create_candidate(client, full_name="Иван Петров", vacancy_id=vacancy["id"], source="Рекомендация")
    fake.gigachat.push(Fault.ok(json=analysis(82)))
    assert (await client.post(f"/api/candidates/{ivan['id']}/analyses", json={})).status_code == 201
    page = ui.page
    await ui.goto(f"/vacancy.html?id={vacancy['id']}")
    new = column(page, "new")
    await expect(new.locator(".board-col__count")).to_have_text("2")
    await expect(board_card(page, "Иван Петров")).to_contain_text("ИИ: 82")
    await expect(board_card(page, "Иван Петров")).to_contain_text("сегодня на этапе")
    await expect(board_card(page, "Анна Смирнова")).to_contain_text("Аналитик")
    await assert_accessible(page, "vacancy board")

    # Mouse: drag Анна to «Скрининг».
    await board_card(page, "Анна Смирнова").drag_to(column(page, "screening"))
    await expect(column(page, "screening").get_by_role("link", name="Анна Смирнова")).to_be_visible()
    await expect(column(page, "screening").locator(".board-col__count")).to_have_text("1")
    await expect(page.locator("#v-meta")).to_contain_text("в работе 2")

    # Keyboard: focus Иван's name, → twice, the focus follows the card.
    await column(page, "new").get_by_role("link", name="Иван Петров").focus()
    await page.keyboard.press("ArrowRight")
    await expect(column(page, "screening").get_by_role("link", name="Иван Петров")).to_be_focused()
    await page.keyboard.press("ArrowRight")
    await expect(column(page, "interview").get_by_role("link", name="Иван Петров")).to_be_focused()
    await expect(page.get_by_role("status").filter(has_text="Иван Петров: этап «Интервью»")).to_be_attached()

    # «Отказ» asks for the reason; cancelling leaves the card where it was.
    await board_card(page, "Анна Смирнова").drag_to(column(page, "rejected"))
    reason = page.get_by_role("dialog", name="Причина отказа")
    await expect(reason).to_contain_text("Анна Смирнова")
    await reason.get_by_role("button", name="Отмена").click()
    await expect(column(page, "screening").get_by_role("link", name="Анна Смирнова")).to_be_visible()
    await board_card(page, "Анна Смирнова").drag_to(column(page, "rejected"))
    await reason.get_by_role("button", name="Отказать").click()
    await expect(reason.get_by_role("alert")).to_have_text("Укажите причину отказа.")
    await reason.get_by_label("Причина").fill("Нет опыта с Kafka")
    await reason.get_by_role("button", name="Отказать").click()
    await expect(board_card(page, "Анна Смирнова")).to_contain_text("Нет опыта с Kafka")
    await expect(column(page, "rejected").locator(".board-col__count")).to_have_text("1")

    # Filters: by source.
    await page.get_by_label("Источник").select_option("hh.ru")
    await expect(page.locator(".board-card")).to_have_count(1)
    await page.get_by_label("Источник").select_option("")
    await expect(page.locator(".board-card")).to_have_count(2)

    # The history on the card: who moved whom and when.
    await column(page, "interview").get_by_role("link", name="Иван Петров").click()
    history = page.locator("#stage-history .timeline__item")
    await expect(history).to_have_count(3)
    await expect(history.first).to_contain_text("Скрининг")
    await expect(history.first).to_contain_text("Интервью")
    await expect(history.first).to_contain_text(ADMIN_EMAIL)
    stages = (await client.get(f"/api/candidates/{anna['id']}/stages")).json()
    assert [(s["to_stage"], s["reason"], s["changed_by"]) for s in stages] == [
        ("new", None, None),
        ("screening", None, ADMIN_EMAIL),
        ("rejected", "Нет опыта с Kafka", ADMIN_EMAIL),
    ]


async def test_the_board_for_all_vacancies_filters_by_vacancy_and_recruiter(ui: UI) -> None:
    client = ui.app.client
    history = await hiring_history(client)
    recruiter = await ui.app.recruiter()
    await create_candidate(recruiter, full_name="Кандидат Ольги", email="own@example.com", phone=None)
    page = ui.page
    await ui.goto("/board.html")
    await expect(page.locator(".board-card")).to_have_count(7)
    await expect(board_card(page, "Мария Кузнецова")).to_contain_text("Аналитик данных")
    await page.get_by_label("Вакансия").select_option(str(history["other"]["id"]))
    await expect(page.locator(".board-card")).to_have_count(1)
    await expect(page).to_have_url(re.compile(rf"\?vacancy={history['other']['id']}$"))
    await page.get_by_label("Вакансия").select_option("")
    await page.get_by_label("Рекрутер").select_option(label="recruiter")
    await expect(page.locator(".board-card")).to_have_count(1)
    await expect(page.locator(".board-card")).to_contain_text("Кандидат Ольги")
    await assert_accessible(page, "board")


async def test_on_a_touch_screen_the_card_has_a_stage_picker(open_ui: Any) -> None:
    phone: UI = await open_ui(viewport=PHONE, touch=True)
    await phone.log_in()
    candidate = await create_candidate(phone.app.client, full_name="Анна Смирнова")
    page = phone.page
    await phone.goto("/board.html")
    picker = page.get_by_label("Перенести «Анна Смирнова» на этап")
    await expect(picker).to_have_value("new")
    await picker.select_option("interview")
    await expect(column(page, "interview").get_by_role("link", name="Анна Смирнова")).to_be_attached()
    await assert_accessible(page, "board on a touch screen")
    stages = (await phone.app.client.get(f"/api/candidates/{candidate['id']}/stages")).json()
    assert [s["to_stage"] for s in stages] == ["new", "interview"]

    laptop: UI = await open_ui()
    await laptop.log_in()
    await laptop.goto("/board.html")
    await expect(board_card(laptop.page, "Анна Смирнова")).to_be_visible()
    await expect(laptop.page.get_by_label("Перенести «Анна Смирнова» на этап")).to_be_hidden()


# --- consents, export and erasure --------------------------------------------------------------------------


async def test_record_and_withdraw_a_consent_and_see_the_retention_date(ui: UI) -> None:
    vacancy = await new_vacancy(ui.app.client)
    candidate = await create_candidate(ui.app.client, vacancy_id=vacancy["id"])
    page = ui.page
    await ui.goto(f"/candidate-view.html?id={candidate['id']}")
    panel = page.locator("#consents")
    await expect(panel.locator("#consents-active")).to_have_text("Действующих согласий нет.")
    await expect(panel.locator("#retention")).to_contain_text("Срок хранения не установлен")
    await expect(panel.get_by_label("Вакансия")).to_have_value(str(vacancy["id"]))
    await panel.get_by_label("Версия текста согласия").fill("2.1")
    await panel.get_by_label("Как получено").select_option("email")
    await panel.get_by_role("button", name="Записать согласие").click()
    active = panel.locator("#consents-active .consent")
    await expect(active).to_have_count(1)
    await expect(active).to_contain_text("Подбор на вакансию «Senior Python-разработчик»")
    await expect(active).to_contain_text("версия 2.1 · по электронной почте")
    await expect(active).to_contain_text(f"записал {ADMIN_EMAIL}")
    await assert_accessible(page, "card with consents")

    await active.get_by_role("button", name=re.compile("^Отозвать")).click()
    await expect(panel.get_by_role("alert")).to_have_text("Согласие отозвано.")
    withdrawn = panel.locator("#consents-withdrawn .consent")
    await expect(withdrawn).to_have_count(1)
    await expect(withdrawn).to_contain_text("Отозвано")
    await expect(panel.locator("#consents-active")).to_have_text("Действующих согласий нет.")
    await expect(panel.locator("#retention")).to_contain_text("Хранить до")
    await expect(panel.locator("#retention")).to_contain_text("кандидат отозвал все согласия")
    stored = (await ui.app.client.get(f"/api/candidates/{candidate['id']}/consents")).json()
    assert [(c["text_version"], c["channel"], c["withdrawn_by"]) for c in stored] == [("2.1", "email", ADMIN_EMAIL)]


async def test_admin_exports_and_erases_while_a_recruiter_sees_neither(open_ui: Any) -> None:
    admin: UI = await open_ui()
    await admin.log_in()
    candidate = await create_candidate(admin.app.client, full_name="Иван Петров")
    page = admin.page
    await admin.goto(f"/candidate-view.html?id={candidate['id']}")
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Выгрузить данные").click()
    download = await info.value
    assert download.suggested_filename == f"candidate-{candidate['id']}-export.json"
    exported = json.loads((await download.path()).read_text("utf-8"))
    assert exported["candidate"]["full_name"] == "Иван Петров" and exported["stage_history"][0]["to_stage"] == "new"

    await page.get_by_role("button", name="Удалить персональные данные").click()
    dialog = page.get_by_role("dialog", name="Удалить персональные данные")
    await expect(dialog).to_contain_text("Удалить персональные данные кандидата «Иван Петров»?")
    await assert_accessible(page, "erase dialog")
    await dialog.get_by_role("button", name="Отмена").click()
    await expect(dialog).to_be_hidden()
    await page.get_by_role("button", name="Удалить персональные данные").click()
    await dialog.get_by_role("button", name="Удалить данные: Иван Петров").click()
    await expect(page.get_by_role("alert")).to_contain_text("Персональные данные кандидата удалены")
    await expect(page.locator("#card")).to_be_hidden()
    erased = await admin.app.client.get(f"/api/candidates/{candidate['id']}")
    assert erased.status_code == 410

    other = await create_candidate(admin.app.client, full_name="Анна Смирнова", email="anna@example.com", phone=None)
    recruiter_client = await admin.app.recruiter()
    recruiter: UI = await open_ui()
    await recruiter.log_in("recruiter@example.com")
    await recruiter.goto(f"/candidate-view.html?id={other['id']}")
    await expect(recruiter.page.locator("#c-title")).to_have_text("Анна Смирнова")
    await expect(recruiter.page.get_by_role("button", name="Записать согласие")).to_be_visible()
    await expect(recruiter.page.get_by_role("button", name="Выгрузить данные")).to_be_hidden()
    await expect(recruiter.page.get_by_role("button", name="Удалить персональные данные")).to_be_hidden()
    await expect(recruiter.page.get_by_role("link", name="Администрирование")).to_be_hidden()
    assert (await recruiter_client.get(f"/api/candidates/{other['id']}/export")).status_code == 403
    assert (await recruiter_client.post(f"/api/privacy/candidates/{other['id']}/erase")).status_code == 403
    await recruiter.goto("/admin.html")
    await expect(recruiter.page.get_by_role("alert")).to_have_text("Раздел доступен только администратору.")


# --- administration ------------------------------------------------------------------------------------------


async def test_admin_creates_a_recruiter_who_logs_in_and_the_audit_and_ai_pages_show_it(
    open_ui: Any, fake: FakeUpstream
) -> None:
    admin: UI = await open_ui(GIGACHAT_DAILY_LIMIT=100)
    await admin.log_in()
    fake.gigachat_balance = [{"usage": "GigaChat", "value": 950000}]
    candidate = await create_candidate(admin.app.client)
    await admin.app.client.post("/api/chat/", json={"candidate_id": candidate["id"], "content": "Опыт?"})
    page = admin.page
    await admin.goto("/admin.html")
    await expect(page.get_by_role("tab", name="Пользователи")).to_have_attribute("aria-selected", "true")
    await page.get_by_role("button", name="Новый пользователь").click()
    dialog = page.get_by_role("dialog", name="Новый пользователь")
    await dialog.get_by_label("Имя").fill("Ольга Рекрутер")
    await dialog.get_by_label("Email").fill(RECRUITER)
    await dialog.get_by_label("Пароль").fill("short")
    await dialog.get_by_role("button", name="Создать").click()
    await expect(dialog.get_by_role("alert")).to_have_text("Пароль должен быть не короче 10 символов.")
    await dialog.get_by_label("Пароль").fill("first password")
    await dialog.get_by_role("button", name="Создать").click()
    row = page.locator(f'#users tr[data-user="{RECRUITER}"]')
    await expect(row).to_contain_text("Ольга Рекрутер")
    await expect(row.get_by_role("combobox")).to_have_value("recruiter")
    await expect(row).to_contain_text("Активен")
    await row.get_by_role("button", name="Сбросить пароль").click()
    reset = page.get_by_role("dialog", name="Новый пароль")
    await reset.get_by_label("Новый пароль").fill(RECRUITER_PASSWORD)
    await reset.get_by_role("button", name="Сохранить пароль").click()
    await expect(page.locator("#users-error")).to_contain_text("Пароль для Ольга Рекрутер изменён")
    await assert_accessible(page, "admin users")

    # The new recruiter logs in with the password the admin set, in their own browser on the same server.
    recruiter: UI = await open_ui(app=admin.app)
    await recruiter.goto("/login")
    await recruiter.page.get_by_label("Email").fill(RECRUITER)
    await recruiter.page.get_by_label("Пароль").fill(RECRUITER_PASSWORD)
    await recruiter.page.get_by_role("button", name="Войти").click()
    await expect(recruiter.page.get_by_role("heading", name="Кандидаты")).to_be_visible()
    await expect(recruiter.page.locator("#user-name")).to_have_text("Ольга Рекрутер")
    await expect(recruiter.page.get_by_role("link", name="Вакансии")).to_be_visible()
    await expect(recruiter.page.get_by_role("link", name="Администрирование")).to_be_hidden()

    # «Журнал»: the creation, the reset and the recruiter's login, filtered by person and action.
    await page.get_by_role("tab", name="Журнал").click()
    audit = page.locator("#audit tr")
    await expect(audit.filter(has_text="Пользователь создан")).to_have_count(1)
    await expect(audit.filter(has_text="Ответ ИИ в чате")).to_have_count(1)
    await page.get_by_label("Сотрудник").select_option(label=f"Ольга Рекрутер ({RECRUITER})")
    await expect(audit).to_have_count(1)
    await expect(audit).to_contain_text("Вход")
    await page.get_by_label("Сотрудник").select_option("")
    await page.get_by_label("Действие").select_option(label="Пользователь изменён")
    await expect(audit).to_have_count(1)
    await expect(audit).to_contain_text("Пользователь Ольга Рекрутер")
    await page.get_by_label("С", exact=True).fill("2000-01-01")
    await page.get_by_label("По", exact=True).fill("2000-01-02")
    await expect(page.get_by_text("Записей с такими фильтрами нет.")).to_be_visible()
    await assert_accessible(page, "admin audit")

    # «ИИ»: today's request against the limit, the prepaid package, breakers and the charts.
    await page.get_by_role("tab", name="ИИ").click()
    await expect(page.locator("#ai-stats")).to_contain_text("1 из 100")
    await expect(page.locator("#ai-balance")).to_contain_text("950 000")
    await expect(page.locator("#ai-breakers")).to_contain_text("GigaChat")
    await expect(page.locator("#ai-breakers")).to_contain_text("Работает")
    await expect(page.locator("#ai-charts figure")).to_have_count(3)
    await expect(page.get_by_role("img", name=re.compile(r"^Запросы: всего 1 "))).to_be_visible()
    await assert_accessible(page, "admin AI")

    # Deactivating ends the recruiter's sessions: their next click lands on the login form.
    await page.get_by_role("tab", name="Пользователи").click()
    await row.get_by_role("combobox").select_option("admin")
    await expect(page.locator("#users-error")).to_have_text("Ольга Рекрутер — роль: Администратор.")
    users = (await admin.app.client.get("/api/users/")).json()
    assert {u["email"]: u["role"] for u in users}[RECRUITER] == "admin"
    await row.get_by_role("button", name="Отключить").click()
    await expect(row).to_contain_text("Отключён")
    await expect(page.locator("#users-error")).to_contain_text("Ольга Рекрутер — отключён, его сеансы завершены.")
    recruiter.expect_console_error(r"status of 401")
    await recruiter.page.get_by_role("link", name="Вакансии").click()
    await expect(recruiter.page).to_have_url(re.compile(r"/login\?next="))


# --- reports -------------------------------------------------------------------------------------------------


async def test_report_numbers_and_downloads_match_the_data(ui: UI) -> None:
    history = await hiring_history(ui.app.client)
    page = ui.page
    await ui.goto("/reports.html")
    await expect(page.locator("#report-stats .stat__value").first).to_have_text("6")
    await page.get_by_label("Вакансия", exact=True).select_option(str(history["vacancy"]["id"]))
    funnel = page.locator("#funnel .hbar")
    await expect(funnel).to_have_count(5)
    await expect(funnel.nth(0)).to_contain_text("Новый")
    await expect(funnel.nth(0)).to_contain_text("5")
    await expect(funnel.nth(1)).to_contain_text("3 · 60 % от предыдущего")
    await expect(funnel.nth(2)).to_contain_text("2 · 66,7 % от предыдущего")
    await expect(funnel.nth(4)).to_contain_text("1 · 100 % от предыдущего")
    await expect(page.locator("#sources-table tbody tr").first).to_have_text(re.compile(r"hh\.ru\s*2\s*0\s*1\s*1"))
    await expect(page.locator("#reasons .hbar")).to_have_count(1)
    await expect(page.locator("#reasons .hbar")).to_contain_text("Нет опыта с Kafka")
    await assert_accessible(page, "reports")

    report = (await ui.app.client.get("/api/reports/", params={"vacancy_id": history["vacancy"]["id"]})).json()
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Скачать CSV").click()
    path = await (await info.value).path()
    rows = list(csv.reader(io.StringIO(path.read_text("utf-8-sig")), delimiter=";"))
    assert rows[0][1] == "Senior Python-разработчик" and rows[1] == ["Кандидатов в периоде", "5"]
    start = rows.index(["Воронка"])
    assert [r[:2] for r in rows[start + 2 : start + 7]] == [[s["title"], str(s["reached"])] for s in report["funnel"]]

    async with page.expect_download() as info:
        await page.get_by_role("button", name="Скачать XLSX").click()
    book = load_workbook(io.BytesIO((await (await info.value).path()).read_bytes()), read_only=True)
    reasons = list(book["Причины отказа"].iter_rows(min_row=2, values_only=True))
    assert reasons == [(r["reason"], r["count"]) for r in report["rejection_reasons"]]
    sources = list(book["Источники"].iter_rows(min_row=2, values_only=True))
    assert sources == [tuple(r.values()) for r in report["sources"]]

    await page.get_by_label("С", exact=True).fill("2100-01-01")
    await expect(page.locator("#funnel")).to_have_text("За этот период кандидатов нет.")
    await expect(page.locator("#reasons")).to_have_text("Отказов за период нет.")


# --- the whole flow, pages only --------------------------------------------------------------------------------


async def test_a_new_team_runs_the_whole_flow_in_the_browser(ui: UI, fake: FakeUpstream) -> None:
    """Vacancy → candidate → board → consent → analysis → chat → rejection with a reason → export → erasure."""
    page = ui.page
    await ui.goto("/vacancies.html")
    await page.get_by_role("button", name="Новая вакансия").click()
    await page.get_by_role("dialog").get_by_label("Название").fill("Аналитик данных")
    await page.get_by_role("dialog").get_by_role("button", name="Создать").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Аналитик данных")

    await page.get_by_role("link", name="Кандидаты", exact=True).click()
    await page.get_by_role("button", name="Новый кандидат").click()
    dialog = page.get_by_role("dialog", name="Новый кандидат")
    await dialog.get_by_label("ФИО").fill("Мария Кузнецова")
    await dialog.get_by_label("Вакансия").select_option(label="Аналитик данных")
    await dialog.get_by_label("Источник").fill("hh.ru")
    await dialog.get_by_label("Текст резюме").fill("Мария, 5 лет в аналитике: SQL, Python, Tableau.")
    await dialog.get_by_role("button", name="Создать").click()
    await expect(page.locator("#c-title")).to_have_text("Мария Кузнецова")

    await page.get_by_role("link", name="Доска").click()
    await column(page, "new").get_by_role("link", name="Мария Кузнецова").focus()
    await page.keyboard.press("ArrowRight")
    await expect(column(page, "screening").get_by_role("link", name="Мария Кузнецова")).to_be_focused()
    await page.keyboard.press("Enter")

    await expect(page.locator("#c-title")).to_have_text("Мария Кузнецова")
    await page.get_by_role("button", name="Записать согласие").click()
    await expect(page.locator("#consents-active .consent")).to_contain_text("Подбор на вакансию «Аналитик данных»")
    fake.gigachat.push(Fault.ok(json=analysis(67)))
    await page.get_by_role("button", name="Запустить анализ").click()
    await expect(page.get_by_role("img", name="Соответствие вакансии: 67 из 100")).to_be_visible()
    await page.get_by_label("Сообщение ассистенту").fill("Какие вопросы задать?")
    await page.get_by_role("button", name="Отправить").click()
    await expect(page.locator("#chat-log .msg").last).to_contain_text("GigaChat: ответ на «Какие вопросы задать?»")

    await page.get_by_role("link", name="Доска").click()
    await expect(board_card(page, "Мария Кузнецова")).to_contain_text("ИИ: 67")
    await board_card(page, "Мария Кузнецова").drag_to(column(page, "rejected"))
    await page.get_by_role("dialog", name="Причина отказа").get_by_label("Причина").fill("Выбрала другую компанию")
    await page.get_by_role("dialog", name="Причина отказа").get_by_role("button", name="Отказать").click()
    await expect(board_card(page, "Мария Кузнецова")).to_contain_text("Выбрала другую компанию")

    await board_card(page, "Мария Кузнецова").get_by_role("link").click()
    await expect(page.locator("#retention")).to_contain_text("Хранить до")
    async with page.expect_download() as info:
        await page.get_by_role("button", name="Выгрузить данные").click()
    exported = json.loads((await (await info.value).path()).read_text("utf-8"))
    assert [s["to_stage"] for s in exported["stage_history"]] == ["new", "screening", "rejected"]
    assert len(exported["chat_messages"]) == 2 and len(exported["analyses"]) == 1
    await page.get_by_role("button", name="Удалить персональные данные").click()
    await page.get_by_role("button", name="Удалить данные: Мария Кузнецова").click()
    await expect(page.get_by_role("alert")).to_contain_text("Персональные данные кандидата удалены")
    # Erased data leaves the reports too.
    await page.get_by_role("link", name="Отчёты").click()
    await expect(page.locator("#report-stats .stat__value").first).to_have_text("0")


# --- every page: accessibility and screenshots ---------------------------------------------------------------

WIDEST = """() => [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 12).map((el) => el.tagName + "." + el.className + " " + Math.round(el.getBoundingClientRect().right))"""
PAGES = (
    ("login", "/login", "#login-form"),
    ("list", "/", "#candidates tr"),
    ("card", "/candidate-view.html?id={card}", "#consents-active .consent"),
    ("vacancies", "/vacancies.html", "#vacancies tr"),
    ("vacancy", "/vacancy.html?id={vacancy}", ".board-card"),
    ("board", "/board.html", ".board-card"),
    ("reports", "/reports.html", "#funnel .hbar"),
    ("admin-users", "/admin.html#users", "#users tr"),
    ("admin-audit", "/admin.html#audit", "#audit tr"),
    ("admin-ai", "/admin.html#ai", "#ai-charts figure"),
)


async def test_every_page_is_accessible_and_photographed(open_ui: Any, fake: FakeUpstream) -> None:
    laptop: UI = await open_ui()
    client = laptop.app.client
    history = await hiring_history(client)
    card = history["people"]["interview"]["id"]
    await client.post(
        f"/api/candidates/{card}/consents", json={"scope": "talent_pool", "text_version": "1.0", "channel": "paper"}
    )
    fake.gigachat.push(Fault.ok(json=analysis(74)))
    assert (await client.post(f"/api/candidates/{card}/analyses", json={})).status_code == 201
    await client.post("/api/chat/", json={"candidate_id": card, "content": "Кратко об опыте?"})
    fake.gigachat.push(Fault.status(503))
    await client.post("/api/chat/", json={"candidate_id": card, "content": "Вопросы к интервью?"})
    await move(client, history["people"]["new"]["id"], "screening")
    phone: UI = await open_ui(viewport=PHONE)
    for width, ui in (("laptop", laptop), ("phone", phone)):
        await ui.log_in()
        for name, path, ready in PAGES:
            await ui.goto(path.format(card=card, vacancy=history["vacancy"]["id"]))
            await expect(ui.page.locator(ready).first).to_be_visible()
            await assert_accessible(ui.page, f"{name} at {width} width")
            await ui.screenshot(f"{name}-{width}")
            scroll = await ui.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert scroll <= 0, f"{name} scrolls sideways at {width} width: " + str(await ui.page.evaluate(WIDEST))


def analysis(score: int) -> dict[str, Any]:
    criterion = {"score": score, "comment": "Оценка по резюме"}
    return {
        "summary": "Кандидат подходит по основному стеку.",
        "fit_score": score,
        "criteria": dict.fromkeys(("skills", "experience", "domain", "communication"), criterion),
        "strengths": [{"text": "Нужный стек", "evidence_quote": None}],
        "gaps": [],
        "risks": [],
        "interview_questions": [{"question": "Как вы работали с Kafka?", "gap": "Глубина Kafka"}],
        "recommendation": "Пригласить на техническое интервью.",
    }
