"""Building a small hiring history through the API, for the board, report and page tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.utils.app import create_candidate


async def new_vacancy(client: httpx.AsyncClient, title: str = "Senior Python-разработчик") -> dict[str, Any]:
    response = await client.post(
        "/api/vacancies/",
        json={"title": title, "requirements": "Python, FastAPI, PostgreSQL", "key_skills": ["Python"]},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def move(client: httpx.AsyncClient, candidate_id: int, *stages: str, reason: str | None = None) -> None:
    for stage in stages:
        body = {"stage": stage, "reason": reason if stage == "rejected" else None}
        response = await client.post(f"/api/candidates/{candidate_id}/stage", json=body)
        assert response.status_code == 201, response.text


async def hiring_history(client: httpx.AsyncClient) -> dict[str, Any]:
    """One vacancy, five candidates: hired, rejected after screening, rejected at once (same reason in another
    case), one in the interview, one new; and one candidate of another vacancy."""
    vacancy = await new_vacancy(client)
    other = await new_vacancy(client, "Аналитик данных")
    people: dict[str, dict[str, Any]] = {}
    for key, name, source in (
        ("hired", "Ольга Лебедева", "hh.ru"),
        ("late_reject", "Сергей Морозов", "hh.ru"),
        ("early_reject", "Пётр Сидоров", "Рекомендация"),
        ("interview", "Анна Смирнова", "Рекомендация"),
        ("new", "Алексей Козлов", None),
    ):
        people[key] = await create_candidate(
            client,
            full_name=name,
            email=f"{key}@example.com",
            phone=None,
            source=source,
            vacancy_id=vacancy["id"],
        )
    people["other"] = await create_candidate(
        client, full_name="Мария Кузнецова", email="other@example.com", phone=None, vacancy_id=other["id"]
    )
    await move(client, people["hired"]["id"], "screening", "interview", "offer", "hired")
    await move(client, people["late_reject"]["id"], "screening", "rejected", reason="Нет опыта с Kafka")
    await move(client, people["early_reject"]["id"], "rejected", reason="нет опыта с  kafka")
    await move(client, people["interview"]["id"], "screening", "interview")
    return {"vacancy": vacancy, "other": other, "people": people}
