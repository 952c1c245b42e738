"""A vacancy's shortlist over real HTTP, on SQLite and PostgreSQL, with GigaChat Embeddings from the fake (word
overlap makes vectors close): the matching candidates rank above the unrelated ones, the top N are analysed,
vectors are recomputed only when a profile changes, the local fallback ranks without a provider, and erasure
removes a candidate from the list and their vectors."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import delete, event

from app.core.db import create_session_factory
from app.models import Candidate, Embedding
from app.services.shortlist import LOCAL_MODEL, VectorCache
from tests.fake_upstream import FakeUpstream, Fault
from tests.utils.app import Database, RunningApp, StartApp, create_candidate

pytestmark = pytest.mark.usefixtures("database")

ANALYSIS: dict[str, Any] = {
    "summary": "Сильный бэкенд-разработчик на Python.",
    "fit_score": 81,
    "criteria": {k: {"score": 80, "comment": "ок"} for k in ("skills", "experience", "domain", "communication")},
    "strengths": [],
    "gaps": [],
    "risks": [],
    "interview_questions": [],
    "recommendation": "Пригласить на техническое интервью.",
}
MATCHING = [
    ("Python-разработчик", ["Python", "PostgreSQL", "Kafka"], "Python: FastAPI, PostgreSQL, Kafka, Docker."),
    ("Backend-разработчик", ["Python", "Django"], "Писал бэкенд на Python и Django, PostgreSQL, очереди Kafka."),
    ("Разработчик", ["Python"], "Разработка сервисов на Python, немного PostgreSQL."),
]
UNRELATED = [
    ("Бухгалтер", ["1С", "МСФО"], "Главный бухгалтер: отчётность, 1С, МСФО, налоги."),
    ("Повар", ["Кухня"], "Шеф-повар итальянского ресторана, меню и закупки."),
    ("Дизайнер", ["Figma"], "Дизайн интерфейсов мобильных приложений в Figma."),
]


async def pool(client: httpx.AsyncClient) -> tuple[int, list[int], list[int]]:
    response = await client.post(
        "/api/vacancies/",
        json={
            "title": "Python-разработчик",
            "requirements": "Python, PostgreSQL, Kafka; бэкенд-сервисы",
            "key_skills": ["Python", "PostgreSQL", "Kafka", "Kubernetes"],
        },
    )
    assert response.status_code == 201, response.text
    ids: list[list[int]] = [[], []]
    for group, rows in enumerate((MATCHING, UNRELATED)):
        for n, (position, skills, resume) in enumerate(rows):
            candidate = await create_candidate(
                client,
                full_name=f"Кандидат {group}{n}",
                email=f"c{group}{n}@example.com",
                phone=f"+7 916 000-0{group}-0{n}",
                position=position,
                skills=skills,
                resume_text=resume,
            )
            ids[group].append(candidate["id"])
    return response.json()["id"], ids[0], ids[1]


def embedded_texts(fake: FakeUpstream) -> list[str]:
    return [text for r in fake.embeddings.requests for text in r["json"]["input"]]


async def test_the_shortlist_ranks_matching_candidates_first_and_analyses_the_top(
    api: RunningApp, fake: FakeUpstream, database: Database
) -> None:
    vacancy_id, matching, unrelated = await pool(api.client)
    fake.gigachat.set_default(Fault.ok(json=ANALYSIS))

    response = await api.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 2})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "Embeddings" and body["fallback_reason"] is None
    order = [e["candidate_id"] for e in body["entries"]]
    assert set(order[:3]) == set(matching) and set(order[3:]) == set(unrelated)
    scores = [e["score"] for e in body["entries"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
    top = body["entries"][0]
    assert top["candidate_id"] == matching[0]
    assert top["matched_skills"] == ["Python", "PostgreSQL", "Kafka"] and top["missing_skills"] == ["Kubernetes"]
    assert [e["analysis"] is not None for e in body["entries"]] == [True, True, False, False, False, False]
    assert top["analysis"]["fit_score"] == 81 and "Python" in top["analysis"]["summary"]
    # Profiles are embedded without contacts or names.
    sent = " ".join(embedded_texts(fake))
    assert "@example.com" not in sent and "Кандидат" not in sent and "916" not in sent

    stored = (await api.client.get(f"/api/vacancies/{vacancy_id}/shortlist")).json()
    assert [e["candidate_id"] for e in stored["entries"]] == order
    count = await database.scalar("SELECT count(*) FROM embeddings WHERE candidate_id IS NOT NULL")
    assert count == 6
    # The audit trail says who ranked the pool, with which model, and how many analyses it ran.
    log = (await api.client.get("/api/audit/", params={"action": "ai.shortlist"})).json()
    assert [(e["entity_id"], e["details"]) for e in log["data"]] == [
        (vacancy_id, {"model": "Embeddings", "ranked": 6, "analysed": 2})
    ]


async def test_vectors_are_recomputed_only_when_the_profile_changes(api: RunningApp, fake: FakeUpstream) -> None:
    vacancy_id, matching, _ = await pool(api.client)
    fake.gigachat.set_default(Fault.ok(json=ANALYSIS))
    assert (await api.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 1})).status_code == 200
    assert len(embedded_texts(fake)) == 7  # the vacancy and six profiles

    before = len(embedded_texts(fake))
    assert (await api.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 1})).status_code == 200
    assert len(embedded_texts(fake)) - before == 1  # only the vacancy, to learn which model answers

    # A change that leaves the embedded text alone keeps the vector; a new resume does not.
    await api.client.patch(f"/api/candidates/{matching[1]}", json={"notes": "Позвонить в пятницу"})
    await api.client.patch(f"/api/candidates/{matching[2]}", json={"resume_text": "Теперь пишу на Go и Rust."})
    before = len(embedded_texts(fake))
    assert (await api.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 1})).status_code == 200
    texts = embedded_texts(fake)[before:]
    assert len(texts) == 2 and any("Go и Rust" in t for t in texts)


async def test_without_embeddings_the_local_fallback_still_ranks(api: RunningApp, fake: FakeUpstream) -> None:
    vacancy_id, matching, unrelated = await pool(api.client)
    fake.gigachat.set_default(Fault.ok(json=ANALYSIS))
    fake.embeddings.set_default(Fault.status(503))

    body = (await api.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 1})).json()

    assert body["model"] == LOCAL_MODEL and body["fallback_reason"]
    order = [e["candidate_id"] for e in body["entries"]]
    assert set(order[:3]) == set(matching) and set(order[3:]) == set(unrelated)


async def test_erasing_a_candidate_removes_them_from_the_shortlist_and_their_vectors(
    api: RunningApp, fake: FakeUpstream, database: Database
) -> None:
    vacancy_id, _, _ = await pool(api.client)
    fake.gigachat.set_default(Fault.ok(json=ANALYSIS))
    first = (await api.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 1})).json()
    top = first["entries"][0]["candidate_id"]

    assert (await api.client.post(f"/api/privacy/candidates/{top}/erase")).status_code == 204

    after = (await api.client.get(f"/api/vacancies/{vacancy_id}/shortlist")).json()
    assert top not in [e["candidate_id"] for e in after["entries"]] and len(after["entries"]) == 5
    assert await database.scalar(f"SELECT count(*) FROM embeddings WHERE candidate_id = {top}") == 0
    assert await database.scalar(f"SELECT count(*) FROM shortlist_entries WHERE candidate_id = {top}") == 0
    again = (await api.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 1})).json()
    assert top not in [e["candidate_id"] for e in again["entries"]]


async def test_a_restarted_app_loads_the_stored_vectors_before_the_first_shortlist(
    api: RunningApp, start_app: StartApp, fake: FakeUpstream
) -> None:
    vacancy_id, _, _ = await pool(api.client)
    fake.gigachat.set_default(Fault.ok(json=ANALYSIS))
    first = (await api.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 1})).json()

    restarted = await start_app()
    cache: VectorCache = restarted.state.vector_cache
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while "Embeddings" not in cache.matrices and loop.time() < deadline:
        await asyncio.sleep(0.02)
    loaded = cache.matrices.get("Embeddings")
    assert loaded is not None and loaded.ids.size == 6  # by the start-up warm-up: no shortlist was asked yet

    again = (await restarted.client.post(f"/api/vacancies/{vacancy_id}/shortlist", json={"top_n": 1})).json()
    assert [e["candidate_id"] for e in again["entries"]] == [e["candidate_id"] for e in first["entries"]]
    assert cache.matrices["Embeddings"] is loaded  # nothing changed: the warm matrix served the request


async def test_a_stored_vector_of_another_dimension_is_left_out_of_the_matrix(database: Database) -> None:
    rng = np.random.default_rng(5)
    factory = create_session_factory(database.engine)
    async with factory() as session, session.begin():
        people = [Candidate(full_name=f"Кандидат {i}", skills=[]) for i in range(3)]
        session.add_all(people)
        await session.flush()
        for person, dim in zip(people, (8, 8, 4), strict=True):
            vector = rng.standard_normal(dim).astype("<f4")
            session.add(
                Embedding(candidate_id=person.id, model="m", text_hash="x" * 64, dim=dim, vector=vector.tobytes())
            )
    async with factory() as session:
        matrix = await VectorCache().matrix(session, "m")
    assert matrix.ids.tolist() == [people[0].id, people[1].id] and matrix.vectors.shape == (2, 8)


async def test_an_updated_matrix_holds_exactly_the_stored_vectors(database: Database) -> None:
    """After vectors are added and deleted (an erasure), the cached matrix is brought up to date in place by
    reading only the new rows, and holds what a fresh load from the database holds: no erased vector stays in
    memory. Then more vectors than its spare rows, and fewer than it held."""
    rng = np.random.default_rng(7)
    factory = create_session_factory(database.engine)

    async def add(count: int, dim: int = 8) -> list[int]:
        async with factory() as session, session.begin():
            people = [Candidate(full_name="Кандидат", skills=[]) for _ in range(count)]
            session.add_all(people)
            await session.flush()
            for person in people:
                vector = rng.standard_normal(dim).astype("<f4").tobytes()
                session.add(Embedding(candidate_id=person.id, model="m", text_hash="x" * 64, dim=dim, vector=vector))
            return [p.id for p in people]

    def as_dict(matrix: Any) -> dict[int, list[float]]:
        return {int(i): row.tolist() for i, row in zip(matrix.ids, matrix.vectors, strict=True)}

    first = await add(4)
    cache = VectorCache()
    async with factory() as session:
        loaded = await cache.matrix(session, "m")
    assert sorted(loaded.ids.tolist()) == first

    async with factory() as session, session.begin():
        await session.execute(delete(Embedding).where(Embedding.candidate_id == first[1]))
    second = await add(2)
    await add(1, dim=4)
    reads: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "embeddings.vector" in statement:
            reads.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with factory() as session:
            updated = await cache.matrix(session, "m")
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    assert len(reads) == 1 and " IN (" in reads[0]  # only the rows the matrix did not hold were read
    async with factory() as session:
        fresh = await VectorCache().matrix(session, "m")
    assert updated is loaded and updated.signature == fresh.signature  # updated in place
    assert as_dict(updated) == as_dict(fresh)
    assert sorted(as_dict(updated)) == sorted([first[0], *first[2:], *second])

    many = await add(40)  # beyond the spare rows: the matrix grows
    async with factory() as session, session.begin():
        await session.execute(delete(Embedding).where(Embedding.candidate_id.in_([first[0], *many[:10]])))
    async with factory() as session:
        updated = await cache.matrix(session, "m")
        fresh = await VectorCache().matrix(session, "m")
    assert as_dict(updated) == as_dict(fresh) and len(as_dict(updated)) == 2 + 2 + 30
    async with factory() as session, session.begin():
        await session.execute(delete(Embedding).where(Embedding.candidate_id.in_([*first[2:], *many[10:15]])))
    async with factory() as session:
        updated = await cache.matrix(session, "m")
        fresh = await VectorCache().matrix(session, "m")
    assert as_dict(updated) == as_dict(fresh) and sorted(as_dict(updated)) == sorted([*second, *many[15:]])
