"""Search that reads resumes, over real HTTP on SQLite and PostgreSQL: Russian word forms, ranking, updates,
uploaded files and erasure."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.services import search
from tests.resume_files import make_docx
from tests.utils.app import Database, RunningApp, create_candidate

pytestmark = pytest.mark.usefixtures("database")

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


async def found(client: httpx.AsyncClient, q: str) -> list[int]:
    response = await client.get("/api/candidates/", params={"q": q})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["count"] == len(body["data"])
    return [c["id"] for c in body["data"]]


def test_stems_fold_word_forms_and_case() -> None:
    assert search.terms("Разработчика РАЗРАБОТЧИКАМИ разработчик") == ["разработчик"] * 3
    assert search.terms("Ёлка ёлки") == search.terms("елка елки")
    assert search.terms("Developers developer") == ["develop", "develop"]
    assert search.query_terms("  ,,, ") == []


async def test_a_word_only_inside_one_resume_finds_that_candidate_in_its_word_forms(api: RunningApp) -> None:
    target = await create_candidate(
        api.client,
        full_name="Ольга Кузнецова",
        email="olga@example.com",
        phone="+7 901 111-11-11",
        position="Аналитик",
        resume_text="Пять лет работала ведущим разработчиком платёжных шлюзов в банке.",
    )
    await create_candidate(
        api.client,
        full_name="Пётр Смирнов",
        email="petr@example.com",
        phone="+7 901 222-22-22",
        position="Дизайнер",
        resume_text="Рисую интерфейсы мобильных приложений.",
    )
    for q in ("разработчик", "разработчика", "Разработчики", "платежный шлюз", "шлюзами"):
        assert await found(api.client, q) == [target["id"]], q
    assert await found(api.client, "бухгалтер") == []
    # The last word may still be being typed: it also matches as a prefix.
    assert await found(api.client, "платёж") == [target["id"]]


async def test_better_matches_rank_first(api: RunningApp) -> None:
    once = await create_candidate(
        api.client,
        full_name="Анна Один",
        email="a1@example.com",
        phone="+7 902 000-00-01",
        position="Тестировщик",
        resume_text="Писала автотесты. Немного Kafka.",
    )
    often = await create_candidate(
        api.client,
        full_name="Борис Много",
        email="a2@example.com",
        phone="+7 902 000-00-02",
        position="Инженер данных",
        resume_text="Kafka в проде: кластеры Kafka, коннекторы Kafka, мониторинг Kafka-топиков.",
    )
    assert await found(api.client, "kafka") == [often["id"], once["id"]]


async def test_edited_and_uploaded_resumes_are_searched_and_erased_ones_are_not(api: RunningApp) -> None:
    candidate = await create_candidate(api.client, resume_text="Пишу на Go.")
    assert await found(api.client, "кубернетес") == []

    response = await api.client.patch(
        f"/api/candidates/{candidate['id']}", json={"resume_text": "Администрировал кластеры кубернетеса."}
    )
    assert response.status_code == 200, response.text
    assert await found(api.client, "кубернетес") == [candidate["id"]]
    assert await found(api.client, "go") == []

    docx_bytes = make_docx(["Настраивала репликацию в PostgreSQL", "Опыт с гипервизорами"])
    response = await api.client.post(
        f"/api/candidates/{candidate['id']}/resume", files={"file": ("cv.docx", docx_bytes, DOCX_TYPE)}
    )
    assert response.status_code == 200, response.text
    assert await found(api.client, "гипервизор") == [candidate["id"]]
    assert await found(api.client, "кубернетес") == []

    response = await api.client.post(f"/api/privacy/candidates/{candidate['id']}/erase")
    assert response.status_code in (200, 204), response.text
    assert await found(api.client, "гипервизор") == []


async def test_pages_of_a_search_carry_the_total_and_name_matches_lead(api: RunningApp) -> None:
    by_resume = [
        await create_candidate(
            api.client,
            full_name=f"Кандидат {i}",
            email=f"k{i}@example.com",
            phone=f"+7 903 000-00-0{i}",
            resume_text="Строил платформу на Kafka.",
        )
        for i in range(3)
    ]
    by_name = await create_candidate(
        api.client, full_name="Ольга KAFKAева", email="o@example.com", phone="+7 903 000-00-09", resume_text="—"
    )
    first = (await api.client.get("/api/candidates/", params={"q": "kafka", "limit": 2})).json()
    assert first["count"] == 4
    assert first["data"][0]["id"] == by_name["id"]
    rest = (await api.client.get("/api/candidates/", params={"q": "kafka", "limit": 2, "offset": 2})).json()
    ids = [c["id"] for c in first["data"] + rest["data"]]
    assert sorted(ids) == sorted([by_name["id"], *(c["id"] for c in by_resume)])
    past = (await api.client.get("/api/candidates/", params={"q": "kafka", "offset": 10})).json()
    assert past == {**past, "count": 4, "data": []}


async def test_the_full_text_index_follows_edits_and_drops_erased_candidates(
    api: RunningApp, database: Database
) -> None:
    """The index table is kept by triggers (PostgreSQL: the `candidate_fts` side table of migration 0012): an
    edit replaces the candidate's entry and erasure replaces it too, so no stem of an erased resume stays stored."""
    candidate = await create_candidate(api.client, resume_text="Администрировал кластеры кубернетеса.")
    response = await api.client.patch(f"/api/candidates/{candidate['id']}", json={"resume_text": "Верстал лендинги."})
    assert response.status_code == 200, response.text
    assert await found(api.client, "лендинг") == [candidate["id"]]
    assert await found(api.client, "кубернетес") == []

    response = await api.client.post(f"/api/privacy/candidates/{candidate['id']}/erase")
    assert response.status_code in (200, 204), response.text
    stem = search.terms("лендинги")[0]
    if database.backend == "postgres":
        stored = await database.scalar(
            "SELECT count(*) FROM candidate_fts WHERE search_vector @@ to_tsquery('simple', :stem)", stem=stem
        )
    else:
        # An FTS5 external-content table: its index itself must hold the stem no more.
        stored = await database.scalar("SELECT count(*) FROM candidate_fts WHERE candidate_fts MATCH :stem", stem=stem)
    assert stored == 0
    assert await found(api.client, "лендинг") == []
