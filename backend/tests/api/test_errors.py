"""Bad input gets a Russian 4xx at a bounded cost; nothing reaches the log that should not."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.errors import DUPLICATE, INVALID_VALUE, REFERENCE_MISSING, integrity_answer
from app.core.errors import DATABASE_BUSY
from tests.utils.app import Database, RunningApp, StartApp, create_candidate

HUGE = 9223372036854775808  # 2**63: past SQLite's integers
PAST_INT4 = 2**31  # past PostgreSQL's `integer` columns


@pytest.mark.parametrize("number", [HUGE, PAST_INT4])
async def test_ids_and_offsets_past_the_database_range_are_a_russian_422(api: RunningApp, number: int) -> None:
    candidate = await create_candidate(api.client)
    cid = candidate["id"]
    probes = [
        ("GET", f"/api/candidates/{number}", None),
        ("GET", f"/api/candidates/?offset={number}", None),
        ("GET", f"/api/candidates/?vacancy_id={number}", None),
        ("GET", f"/api/vacancies/{number}", None),
        ("GET", f"/api/vacancies/?offset={number}", None),
        ("GET", f"/api/chat/{number}", None),
        ("GET", f"/api/chat/{cid}?before_id={number}", None),
        ("POST", "/api/chat/", {"candidate_id": number, "content": "Привет"}),
        ("POST", f"/api/chat/{cid}/messages/{number}/regenerate", None),
        ("POST", "/api/candidates/", {"full_name": "Анна", "vacancy_id": number}),
        ("PATCH", f"/api/candidates/{cid}", {"vacancy_id": number}),
        ("POST", f"/api/candidates/{cid}/analyses", {"vacancy_id": number}),
        (
            "POST",
            f"/api/candidates/{cid}/consents",
            {"scope": "vacancy", "text_version": "1", "channel": "email", "vacancy_id": number},
        ),
        ("POST", f"/api/candidates/{cid}/consents/{number}/withdraw", None),
        ("PATCH", f"/api/users/{number}", {"display_name": "x"}),
        ("GET", f"/api/audit/?entity_id={number}", None),
        ("GET", f"/api/audit/?offset={number}", None),
    ]
    for method, url, body in probes:
        response = await api.client.request(method, url, json=body)
        assert response.status_code == 422, (method, url, response.text)
        detail = response.json()["detail"]
        assert "не больше 2147483647" in detail, (url, detail)
        assert response.json()["errors"]


async def test_a_consent_for_an_unknown_vacancy_is_a_422_and_logs_no_personal_data(
    api: RunningApp, caplog: pytest.LogCaptureFixture
) -> None:
    candidate = await create_candidate(api.client)
    caplog.set_level(logging.INFO)
    response = await api.client.post(
        f"/api/candidates/{candidate['id']}/consents",
        json={"scope": "vacancy", "text_version": "v1", "channel": "email", "vacancy_id": 999},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "Вакансия 999 не найдена"
    assert "admin@example.com" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "INSERT INTO consents (candidate_id, scope, text_version, channel, given_at, recorded_at) "
            "VALUES (987654, 'vacancy', 'v1', 'email', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            (422, REFERENCE_MISSING),
        ),
        (
            "INSERT INTO users (email, display_name, role, password_hash, is_active, created_at) "
            "SELECT email, display_name, role, password_hash, is_active, created_at FROM users",
            (409, DUPLICATE),
        ),
        ("INSERT INTO vacancies (title) VALUES (NULL)", (422, INVALID_VALUE)),
    ],
)
async def test_database_integrity_errors_map_to_4xx_on_both_databases(
    api: RunningApp, database: Database, sql: str, expected: tuple[int, str]
) -> None:
    with pytest.raises(IntegrityError) as raised:
        async with database.engine.begin() as conn:
            await conn.execute(text(sql))
    assert integrity_answer(raised.value) == expected


async def test_a_request_that_gets_no_database_connection_is_a_russian_503_and_the_next_one_works(
    start_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    # No login cache: every request needs a connection of its own, from its first dependency on.
    api = await start_app(
        DATABASE_POOL_SIZE=1, DATABASE_MAX_OVERFLOW=0, DATABASE_POOL_TIMEOUT=0.5, AUTH_CACHE_SECONDS=0
    )
    candidate = await create_candidate(api.client)
    engine = api.state.session_factory.kw["bind"]
    held: list[AsyncConnection] = []
    try:
        while True:  # every connection the pool will give (SQLite keeps SQLAlchemy's own pool size)
            try:
                held.append(await engine.connect())
            except PoolTimeout:
                break
        caplog.clear()
        read = await api.client.get(f"/api/chat/{candidate['id']}")
        turn = await api.client.post(
            "/api/chat/", json={"candidate_id": candidate["id"], "role": "user", "content": "Вопрос"}
        )
    finally:
        for conn in held:
            await conn.close()

    for response in (read, turn):
        assert response.status_code == 503
        assert response.json() == {"detail": DATABASE_BUSY}
        assert response.headers["Retry-After"] == "5"
    assert not [r for r in caplog.records if r.exc_info]
    # The pool has connections again: the same requests go through, and the refused turn left nothing behind.
    assert (await api.client.get(f"/api/chat/{candidate['id']}")).json() == []
    again = await api.client.post(
        "/api/chat/", json={"candidate_id": candidate["id"], "role": "user", "content": "Вопрос"}
    )
    assert again.status_code == 201
    assert [m["role"] for m in (await api.client.get(f"/api/chat/{candidate['id']}")).json()] == ["user", "assistant"]


async def test_framework_errors_are_in_russian(api: RunningApp) -> None:
    cid = (await create_candidate(api.client))["id"]
    cases = [
        (
            "POST",
            f"/api/candidates/{cid}/resume",
            {"Content-Type": "multipart/form-data; boundary=xyz"},
            b"garbage",
            "Некорректные данные формы (multipart/form-data)",
        ),
        (
            "POST",
            "/api/candidates/",
            {"Content-Type": "application/json"},
            b'{"full_name": "\xff\xfe"}',
            "Не удалось разобрать тело запроса: проверьте формат данных",
        ),
        ("DELETE", "/api/auth/me", {}, b"", "Метод не поддерживается"),
        ("GET", "/api/no-such-thing", {}, b"", "Не найдено"),
    ]
    for method, url, headers, body, message in cases:
        response = await api.client.request(method, url, headers=headers, content=body)
        assert 400 <= response.status_code < 500, response.text
        assert response.json() == {"detail": message}, (url, response.text)


async def test_nul_characters_are_refused_the_same_on_both_databases(api: RunningApp) -> None:
    cid = (await create_candidate(api.client))["id"]
    probes = [
        ("POST", "/api/candidates/", {"full_name": "Анна\x00Смирнова"}, "ФИО"),
        ("PATCH", f"/api/candidates/{cid}", {"skills": ["Python", "S\x00QL"]}, "навыки"),
        ("POST", "/api/vacancies/", {"title": "Python\x00"}, "название"),
        ("POST", "/api/chat/", {"candidate_id": cid, "content": "При\x00вет"}, "текст сообщения"),
        ("GET", "/api/candidates/?q=%00", None, "поиск"),
    ]
    for method, url, body, field in probes:
        response = await api.client.request(method, url, json=body)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["detail"] == f"Поле «{field}» содержит недопустимый нулевой символ (U+0000)"
    login = await api.anon.post("/api/auth/login", data={"username": "a\x00@example.com", "password": "x"})
    assert login.status_code == 422 and "нулевой символ" in login.json()["detail"]
    # Nothing was stored: the chat has no message, the list has only the first candidate.
    assert (await api.client.get(f"/api/chat/{cid}")).json() == []
    assert (await api.client.get("/api/candidates/")).json()["count"] == 1


async def test_a_long_phone_is_stored_on_both_databases(api: RunningApp) -> None:
    """Found by the schema fuzzer: 49 digits overflowed the normalised-phone column on PostgreSQL (a 500)."""
    phone = "0" * 49
    created = await api.client.post("/api/candidates/", json={"full_name": "Анна", "phone": phone})
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == phone
    again = await api.client.post("/api/candidates/", json={"full_name": "Анна", "phone": phone})
    assert again.status_code == 201  # not a phone number to match duplicates by
