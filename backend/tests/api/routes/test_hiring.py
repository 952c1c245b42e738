"""The API behind the hiring pages: vacancy counts and audit, the board, reports and their files, the team
list, the administrators' AI overview with the GigaChat balance, and who may export personal data."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import RunningApp, create_candidate
from tests.utils.hiring import hiring_history, move, new_vacancy

pytestmark = pytest.mark.usefixtures("database")


async def test_vacancy_counts_and_closing_are_audited(api: RunningApp) -> None:
    history = await hiring_history(api.client)
    vacancy = history["vacancy"]
    listed = (await api.client.get("/api/vacancies/")).json()
    counts = {v["title"]: v["counts"] for v in listed["data"]}
    assert counts["Senior Python-разработчик"] == {"candidates": 5, "in_progress": 2, "hired": 1, "rejected": 2}
    assert counts["Аналитик данных"] == {"candidates": 1, "in_progress": 1, "hired": 0, "rejected": 0}

    assert (await api.client.patch(f"/api/vacancies/{vacancy['id']}", json={"status": "closed"})).status_code == 200
    assert (await api.client.patch(f"/api/vacancies/{vacancy['id']}", json={"status": "open"})).status_code == 200
    await api.client.patch(f"/api/vacancies/{vacancy['id']}", json={"title": "Python-разработчик"})
    events = (await api.client.get("/api/audit/", params={"entity_type": "vacancy"})).json()["data"]
    mine = [e["action"] for e in reversed(events) if e["entity_id"] == vacancy["id"]]
    assert mine == ["vacancy.create", "vacancy.close", "vacancy.reopen", "vacancy.update"]
    assert all(e["actor_email"] == "admin@example.com" for e in events)


async def test_board_columns_cards_and_filters(api: RunningApp, fake: FakeUpstream) -> None:
    history = await hiring_history(api.client)
    vacancy, people = history["vacancy"], history["people"]
    analysed = people["interview"]["id"]
    fake.gigachat.push(Fault.ok(json=analysis(61)))
    assert (await api.client.post(f"/api/candidates/{analysed}/analyses", json={})).status_code == 201
    fake.gigachat.push(Fault.ok(json=analysis(84)))
    assert (await api.client.post(f"/api/candidates/{analysed}/analyses", json={})).status_code == 201

    board = (await api.client.get("/api/board/", params={"vacancy_id": vacancy["id"]})).json()
    columns = {c["stage"]: c for c in board["columns"]}
    assert [c["stage"] for c in board["columns"]] == ["new", "screening", "interview", "offer", "hired", "rejected"]
    assert {s: c["count"] for s, c in columns.items()} == {
        "new": 1,
        "screening": 0,
        "interview": 1,
        "offer": 0,
        "hired": 1,
        "rejected": 2,
    }
    card = columns["interview"]["cards"][0]
    assert card["full_name"] == "Анна Смирнова" and card["fit_score"] == 84  # the latest analysis
    assert card["days_in_stage"] == 0 and card["vacancy_title"] == vacancy["title"]
    assert {c["rejection_reason"] for c in columns["rejected"]["cards"]} == {"Нет опыта с Kafka", "нет опыта с  kafka"}
    assert board["sources"] == ["hh.ru", "Рекомендация"] and board["truncated"] is False

    everyone = (await api.client.get("/api/board/")).json()
    assert sum(c["count"] for c in everyone["columns"]) == 6
    by_source = (await api.client.get("/api/board/", params={"source": "hh.ru"})).json()
    assert sorted(card["full_name"] for c in by_source["columns"] for card in c["cards"]) == [
        "Ольга Лебедева",
        "Сергей Морозов",
    ]


async def test_candidates_belong_to_their_creator_and_the_owner_filters(api: RunningApp) -> None:
    recruiter = await api.recruiter()
    mine = await create_candidate(recruiter, full_name="Кандидат рекрутера", email="r@example.com", phone=None)
    await create_candidate(api.client, full_name="Кандидат админа", email="a@example.com", phone=None)
    team = (await recruiter.get("/api/team/")).json()
    ids = {m["display_name"]: m["id"] for m in team}
    assert set(ids) == {"admin", "recruiter"} and all(set(m) == {"id", "display_name", "role"} for m in team)
    assert mine["owner_id"] == ids["recruiter"]

    owned = (await api.client.get("/api/candidates/", params={"owner_id": ids["recruiter"]})).json()
    assert [c["full_name"] for c in owned["data"]] == ["Кандидат рекрутера"]
    board = (await api.client.get("/api/board/", params={"owner_id": ids["admin"]})).json()
    assert [card["full_name"] for c in board["columns"] for card in c["cards"]] == ["Кандидат админа"]

    moved = await api.client.patch(f"/api/candidates/{mine['id']}", json={"owner_id": ids["admin"]})
    assert moved.status_code == 200 and moved.json()["owner_id"] == ids["admin"]
    missing = await api.client.patch(f"/api/candidates/{mine['id']}", json={"owner_id": 999})
    assert missing.status_code == 422 and missing.json()["detail"] == "Пользователь 999 не найден"


async def test_report_numbers_follow_the_history(api: RunningApp) -> None:
    history = await hiring_history(api.client)
    vacancy = history["vacancy"]
    report = (await api.client.get("/api/reports/", params={"vacancy_id": vacancy["id"]})).json()
    assert report["candidates"] == 5
    assert [(s["stage"], s["reached"], s["conversion"]) for s in report["funnel"]] == [
        ("new", 5, None),
        ("screening", 3, 0.6),
        ("interview", 2, round(2 / 3, 4)),
        ("offer", 1, 0.5),
        ("hired", 1, 1.0),
    ]
    assert report["time_to_hire"]["hired"] == 1 and report["time_to_hire"]["average_days"] == 0.0
    stays = {s["stage"]: s["stays"] for s in report["time_in_stage"]}
    assert stays == {"new": 4, "screening": 3, "interview": 1, "offer": 1}
    assert report["sources"] == [
        {"source": "hh.ru", "candidates": 2, "in_progress": 0, "hired": 1, "rejected": 1},
        {"source": "Рекомендация", "candidates": 2, "in_progress": 1, "hired": 0, "rejected": 1},
        {"source": "Не указан", "candidates": 1, "in_progress": 1, "hired": 0, "rejected": 0},
    ]
    assert report["rejection_reasons"] == [{"reason": "Нет опыта с Kafka", "count": 2}]

    everyone = (await api.client.get("/api/reports/")).json()
    assert everyone["candidates"] == 6 and everyone["funnel"][0]["reached"] == 6
    future = (await api.client.get("/api/reports/", params={"since": "2100-01-01"})).json()
    assert future["candidates"] == 0 and future["funnel"][1]["conversion"] == 0.0
    assert future["time_to_hire"] == {"hired": 0, "average_days": None, "median_days": None}


async def test_report_files_hold_the_same_numbers(api: RunningApp) -> None:
    history = await hiring_history(api.client)
    params = {"vacancy_id": history["vacancy"]["id"]}
    report = (await api.client.get("/api/reports/", params=params)).json()

    response = await api.client.get("/api/reports/export", params={**params, "format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="report-')
    sections = csv_sections(response.content.decode("utf-8-sig"))
    assert sections["Воронка"][1:] == [
        [s["title"], str(s["reached"]), "" if s["conversion"] is None else str(round(s["conversion"] * 100, 1))]
        for s in report["funnel"]
    ]
    assert sections["Источники"][1:] == [
        [r["source"], *(str(r[k]) for k in ("candidates", "in_progress", "hired", "rejected"))]
        for r in report["sources"]
    ]
    assert sections["Причины отказа"][1:] == [["Нет опыта с Kafka", "2"]]

    response = await api.client.get("/api/reports/export", params={**params, "format": "xlsx"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    funnel = list(book["Воронка"].iter_rows(min_row=2, values_only=True))
    assert [(title, reached) for title, reached, _ in funnel] == [(s["title"], s["reached"]) for s in report["funnel"]]
    sources = list(book["Источники"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in sources] == [r["source"] for r in report["sources"]]
    assert [row[3] for row in sources] == [r["hired"] for r in report["sources"]]
    assert list(book["Сводка"].iter_rows(values_only=True))[3] == ("Кандидатов в периоде", 5)

    missing = await api.client.get("/api/reports/export", params={"vacancy_id": 999, "format": "xlsx"})
    assert missing.status_code == 404 and missing.json()["detail"] == "Вакансия не найдена"
    wrong = await api.client.get("/api/reports/export", params={"format": "pdf"})
    assert wrong.status_code == 422


async def test_ai_overview_for_admins_with_quota_breakers_and_balance(start_app: Any, fake: FakeUpstream) -> None:
    app: RunningApp = await start_app(GIGACHAT_DAILY_LIMIT=50)
    candidate = await create_candidate(app.client)
    sent = await app.client.post("/api/chat/", json={"candidate_id": candidate["id"], "content": "Опыт?"})
    assert sent.status_code == 201, sent.text

    overview = (await app.client.get("/api/usage/overview")).json()
    assert overview["quota"]["used"] == 1 and overview["quota"]["limit"] == 50
    assert [(r["provider"], r["requests"]) for r in overview["usage"]] == [("gigachat", 1)]
    assert overview["breakers"] == [
        {"provider": "gigachat", "state": "closed"},
        {"provider": "openrouter", "state": "closed"},
    ]
    assert overview["balance"]["available"] is False and "403" in overview["balance"]["detail"]

    fake.gigachat_balance = [{"usage": "GigaChat", "value": 987654}, {"usage": "embeddings", "value": 1000}]
    balance = (await app.client.get("/api/usage/overview")).json()["balance"]
    assert balance == {
        "available": True,
        "items": [{"usage": "GigaChat", "value": 987654.0}, {"usage": "embeddings", "value": 1000.0}],
        "detail": None,
    }
    assert any(r["path"].endswith("/api/v1/balance") for r in fake.gigachat.requests)

    recruiter = await app.recruiter()
    assert (await recruiter.get("/api/usage/overview")).status_code == 403


async def test_only_admins_export_and_erase(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    recruiter = await api.recruiter()
    export = await recruiter.get(f"/api/candidates/{candidate['id']}/export")
    assert export.status_code == 403 and export.json()["detail"] == "Доступно только администратору"
    assert (await recruiter.post(f"/api/privacy/candidates/{candidate['id']}/erase")).status_code == 403
    assert (await api.client.get(f"/api/candidates/{candidate['id']}/export")).json()["candidate"]["id"] == candidate[
        "id"
    ]


async def test_retention_reason_is_stored_with_the_date(api: RunningApp) -> None:
    vacancy = await new_vacancy(api.client)
    candidate = await create_candidate(api.client, vacancy_id=vacancy["id"])
    url = f"/api/candidates/{candidate['id']}"
    consent = await api.client.post(
        f"{url}/consents",
        json={"scope": "vacancy", "vacancy_id": vacancy["id"], "text_version": "1.0", "channel": "paper"},
    )
    assert (await api.client.get(url)).json()["retention_reason"] is None
    await api.client.post(f"{url}/consents/{consent.json()['id']}/withdraw")
    withdrawn = (await api.client.get(url)).json()
    assert withdrawn["retention_reason"] == "consent_withdrawn" and withdrawn["retention_until"]
    await move(api.client, candidate["id"], "rejected", reason="Не подошёл")
    assert (await api.client.get(url)).json()["retention_reason"] in ("consent_withdrawn", "rejected")


# --- helpers -------------------------------------------------------------------------------------------


def analysis(score: int) -> dict[str, Any]:
    criterion = {"score": score, "comment": "Оценка"}
    return {
        "summary": "Кандидат подходит частично.",
        "fit_score": score,
        "criteria": dict.fromkeys(("skills", "experience", "domain", "communication"), criterion),
        "strengths": [],
        "gaps": [],
        "risks": [],
        "interview_questions": [],
        "recommendation": "Пригласить на интервью.",
    }


def csv_sections(text: str) -> dict[str, list[list[str]]]:
    """Title → [header, rows…] from the report CSV (sections separated by empty lines)."""
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    sections: dict[str, list[list[str]]] = {}
    index = 0
    while index < len(rows):
        if not rows[index] and index + 1 < len(rows):
            title = rows[index + 1][0]
            index += 2
            body = []
            while index < len(rows) and rows[index]:
                body.append(rows[index])
                index += 1
            sections[title] = body
        else:
            index += 1
    return sections
