"""Candidates and vacancies over real HTTP, on SQLite and PostgreSQL: CRUD, search, duplicates, resume files,
the pipeline with its history, and deletion of everything a candidate owns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.resume_files import make_docx, make_pdf
from tests.utils.app import Database, RunningApp, StartApp, create_candidate

pytestmark = pytest.mark.usefixtures("database")

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCX_RESUME = [
    "Мария Соколова — Python-разработчик",
    "Опыт 7 лет: FastAPI, PostgreSQL, Kafka, Kubernetes.",
    "Руководила командой из 5 человек в финтехе.",
]


async def create_vacancy(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "title": "Senior Python-разработчик",
        "description": "Бэкенд платёжной платформы",
        "requirements": "5+ лет Python, PostgreSQL, Kafka; опыт руководства командой",
        "key_skills": ["Python", "PostgreSQL", "Kafka"],
        **fields,
    }
    response = await client.post("/api/vacancies/", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def upload(
    client: httpx.AsyncClient, candidate_id: int, name: str, data: bytes, content_type: str
) -> httpx.Response:
    return await client.post(f"/api/candidates/{candidate_id}/resume", files={"file": (name, data, content_type)})


async def search(client: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await client.get("/api/candidates/", params=params)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["data"]]


def stored_files(api: RunningApp) -> list[Path]:
    directory = api.settings.resume_dir
    return sorted(directory.iterdir()) if directory.exists() else []


# --- the whole life of a candidate ------------------------------------------------------------------


async def test_candidate_with_docx_resume_lives_and_is_deleted_with_everything(
    api: RunningApp, database: Database
) -> None:
    vacancy = await create_vacancy(api.client)
    other = await create_candidate(api.client, email="other@example.com", phone="+7 911 000-00-00")
    candidate = await create_candidate(
        api.client,
        full_name="Мария Соколова",
        email="maria@example.com",
        phone="+7 999 111-22-33",
        city="Казань",
        source="hh.ru",
        vacancy_id=vacancy["id"],
        skills=["Python", "Kafka", "python"],
        resume_text=None,
    )
    assert candidate["stage"] == "new" and candidate["skills"] == ["Python", "Kafka"]
    assert candidate["city"] == "Казань" and candidate["vacancy_id"] == vacancy["id"]

    docx_bytes = make_docx(DOCX_RESUME, table=[["Навык", "Лет"], ["Python", "7"]])
    response = await upload(api.client, candidate["id"], "Соколова резюме.docx", docx_bytes, DOCX_TYPE)
    assert response.status_code == 200, response.text
    with_file = response.json()
    assert with_file["resume_filename"] == "Соколова резюме.docx"
    assert with_file["resume_content_type"] == DOCX_TYPE and with_file["resume_size"] == len(docx_bytes)
    assert "Руководила командой из 5 человек в финтехе." in with_file["resume_text"]
    assert "Python | 7" in with_file["resume_text"]
    [file] = stored_files(api)
    assert file.read_bytes() == docx_bytes

    download = await api.client.get(f"/api/candidates/{candidate['id']}/resume")
    assert download.status_code == 200
    assert download.content == docx_bytes
    assert download.headers["content-type"] == DOCX_TYPE
    assert "filename*=utf-8''" in download.headers["content-disposition"]

    # Search: name (any case, Cyrillic), skill, email, and filters; `count` is the total, not the page.
    assert await search(api.client, q="соколова") == [candidate["id"]]
    # The other candidate's resume mentions Kafka once; this one has it in skills and resume.
    assert await search(api.client, q="KAFKA") == [candidate["id"], other["id"]]
    assert await search(api.client, q="maria@example") == [candidate["id"]]
    assert await search(api.client, vacancy_id=vacancy["id"]) == [candidate["id"]]
    assert await search(api.client, stage="new") == [candidate["id"], other["id"]]
    page = (await api.client.get("/api/candidates/", params={"limit": 1, "offset": 1})).json()
    assert page["count"] == 2 and [c["id"] for c in page["data"]] == [other["id"]]

    # The pipeline, with every move kept.
    for stage in ("screening", "interview"):
        moved = await api.client.post(f"/api/candidates/{candidate['id']}/stage", json={"stage": stage})
        assert moved.status_code == 201, moved.text
    rejected = await api.client.post(
        f"/api/candidates/{candidate['id']}/stage", json={"stage": "rejected", "reason": "Выбрали другого"}
    )
    assert rejected.status_code == 201
    assert await search(api.client, stage="rejected") == [candidate["id"]]
    card = (await api.client.get(f"/api/candidates/{candidate['id']}")).json()
    assert card["stage"] == "rejected" and card["rejection_reason"] == "Выбрали другого"
    history = (await api.client.get(f"/api/candidates/{candidate['id']}/stages")).json()
    assert [(h["from_stage"], h["to_stage"], h["reason"]) for h in history] == [
        (None, "new", None),
        ("new", "screening", None),
        ("screening", "interview", None),
        ("interview", "rejected", "Выбрали другого"),
    ]

    # Things that belong to the candidate: a chat turn and an analysis.
    turn = await api.client.post(
        "/api/chat/", json={"candidate_id": candidate["id"], "role": "user", "content": "Кратко о кандидате"}
    )
    assert turn.status_code == 201
    assert (await api.client.post(f"/api/candidates/{candidate['id']}/analyses")).status_code == 201

    deleted = await api.client.delete(f"/api/candidates/{candidate['id']}")

    assert deleted.status_code == 204
    assert (await api.client.get(f"/api/candidates/{candidate['id']}")).status_code == 404
    for table in ("chat_messages", "stage_changes", "analyses"):
        count = await database.scalar(f"SELECT count(*) FROM {table} WHERE candidate_id = :id", id=candidate["id"])
        assert count == 0, table
    assert not file.exists() and stored_files(api) == []
    assert await database.scalar("SELECT count(*) FROM stage_changes WHERE candidate_id = :id", id=other["id"]) == 1
    assert await search(api.client) == [other["id"]]


async def test_pdf_resume_text_is_extracted(api: RunningApp) -> None:
    candidate = await create_candidate(api.client, resume_text=None)
    pdf = make_pdf(["Python developer, 6 years: FastAPI, PostgreSQL.", "Led a team of 4 (fintech)."])

    response = await upload(api.client, candidate["id"], "cv.pdf", pdf, "application/pdf")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resume_text"] == "Python developer, 6 years: FastAPI, PostgreSQL.\nLed a team of 4 (fintech)."
    assert body["resume_content_type"] == "application/pdf"
    download = await api.client.get(f"/api/candidates/{candidate['id']}/resume")
    assert download.content == pdf and download.headers["content-type"] == "application/pdf"


async def test_a_new_upload_replaces_the_old_file(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    await upload(api.client, candidate["id"], "old.pdf", make_pdf(["Old resume text"]), "application/pdf")
    [old] = stored_files(api)

    response = await upload(api.client, candidate["id"], "new.docx", make_docx(["Новое резюме"]), DOCX_TYPE)

    assert response.status_code == 200
    assert response.json()["resume_text"] == "Новое резюме"
    [new] = stored_files(api)
    assert new != old and not old.exists()


@pytest.mark.parametrize(
    ("name", "data", "status", "phrase"),
    [
        ("cv.txt", "Просто текст".encode(), 415, "только резюме в формате PDF или DOCX"),
        ("cv.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, 415, "сохраните резюме как DOCX или PDF"),
        ("fake.pdf", b"%PDF-1.4 not really a pdf", 422, "повреждён или защищён паролем"),
        ("scan.pdf", make_pdf([]), 422, "не найден текст"),
        ("empty.pdf", b"", 422, "Файл пустой"),
        ("big.pdf", b"%PDF-1.4\n" + b"0" * 3000, 413, "Файл слишком большой: допустимо не больше 2 КБ"),
    ],
    ids=["text", "old-word", "broken-pdf", "no-text", "empty", "too-big"],
)
async def test_bad_uploads_are_refused_clearly_and_store_nothing(
    start_app: StartApp, name: str, data: bytes, status: int, phrase: str
) -> None:
    api = await start_app(RESUME_MAX_BYTES=2048)
    candidate = await create_candidate(api.client)

    response = await upload(api.client, candidate["id"], name, data, "application/octet-stream")

    assert response.status_code == status, response.text
    assert phrase in response.json()["detail"]
    card = (await api.client.get(f"/api/candidates/{candidate['id']}")).json()
    assert card["resume_filename"] is None and card["resume_text"] == candidate["resume_text"]
    assert stored_files(api) == []
    missing = await api.client.get(f"/api/candidates/{candidate['id']}/resume")
    assert missing.status_code == 404 and missing.json()["detail"] == "У кандидата нет загруженного файла резюме"


async def test_upload_without_a_file_is_a_russian_422(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    response = await api.client.post(f"/api/candidates/{candidate['id']}/resume", data={"other": "x"})
    assert response.status_code == 422
    assert response.json()["detail"] == "Не заполнено обязательное поле «файл»"


# --- duplicates -----------------------------------------------------------------------------------------


async def test_duplicate_email_or_phone_is_reported_with_the_existing_id(api: RunningApp) -> None:
    first = await create_candidate(api.client, email="Ivan.Petrov@Example.com", phone="8 (900) 123-45-67")

    same_email = await api.client.post(
        "/api/candidates/", json={"full_name": "И. Петров", "email": " ivan.petrov@example.COM"}
    )
    same_phone = await api.client.post("/api/candidates/", json={"full_name": "Иван", "phone": "+79001234567"})

    assert same_email.status_code == 409
    assert same_email.json()["existing_candidate_id"] == first["id"]
    assert same_email.json()["matched"] == ["email"]
    assert "уже есть" in same_email.json()["detail"] and "allow_duplicate=true" in same_email.json()["detail"]
    assert same_phone.status_code == 409 and same_phone.json()["matched"] == ["phone"]
    assert await search(api.client) == [first["id"]]

    forced = await api.client.post(
        "/api/candidates/", params={"allow_duplicate": "true"}, json={"full_name": "Иван", "phone": "9001234567"}
    )
    assert forced.status_code == 201

    unrelated = await create_candidate(api.client, email="new@example.com", phone="+7 912 555-44-33")
    clash = await api.client.patch(f"/api/candidates/{unrelated['id']}", json={"email": "IVAN.PETROV@example.com"})
    assert clash.status_code == 409 and clash.json()["existing_candidate_id"] == first["id"]
    own = await api.client.patch(f"/api/candidates/{unrelated['id']}", json={"email": "NEW@example.com"})
    assert own.status_code == 200 and own.json()["email"] == "NEW@example.com"


# --- updates, stages, validation -------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_sent(api: RunningApp) -> None:
    vacancy = await create_vacancy(api.client)
    candidate = await create_candidate(api.client, skills=["Python"], notes="Звонить после 18:00")

    response = await api.client.patch(
        f"/api/candidates/{candidate['id']}", json={"city": "Пермь", "vacancy_id": vacancy["id"]}
    )

    assert response.status_code == 200
    updated = response.json()
    assert updated["city"] == "Пермь" and updated["vacancy_id"] == vacancy["id"]
    unchanged = {k: v for k, v in updated.items() if k not in ("city", "vacancy_id", "updated_at")}
    assert unchanged == {k: v for k, v in candidate.items() if k not in ("city", "vacancy_id", "updated_at")}

    missing = await api.client.patch(f"/api/candidates/{candidate['id']}", json={"vacancy_id": 999999})
    assert missing.status_code == 422 and missing.json()["detail"] == "Вакансия 999999 не найдена"
    stage = await api.client.patch(f"/api/candidates/{candidate['id']}", json={"stage": "hired"})
    assert stage.status_code == 200 and stage.json()["stage"] == "new"  # stages move only with history


async def test_stage_rules(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    url = f"/api/candidates/{candidate['id']}/stage"

    no_reason = await api.client.post(url, json={"stage": "rejected"})
    blank_reason = await api.client.post(url, json={"stage": "rejected", "reason": "   "})
    same = await api.client.post(url, json={"stage": "new"})
    unknown = await api.client.post(url, json={"stage": "fired"})

    assert no_reason.status_code == 422 and no_reason.json()["detail"] == "Для отказа укажите причину"
    assert blank_reason.status_code == 422
    assert same.status_code == 409 and same.json()["detail"] == "Кандидат уже на этапе «Новый»"
    assert unknown.status_code == 422
    assert unknown.json()["detail"].startswith("Поле «этап» должно быть одним из: new, screening")
    history = (await api.client.get(f"/api/candidates/{candidate['id']}/stages")).json()
    assert [h["to_stage"] for h in history] == ["new"]

    back = await api.client.post(url, json={"stage": "offer"})
    assert back.status_code == 201 and back.json()["from_stage"] == "new"
    assert (await api.client.get("/api/candidates/", params={"stage": "boss"})).status_code == 422


# --- vacancies -----------------------------------------------------------------------------------------


async def test_vacancy_crud_and_list(api: RunningApp, database: Database) -> None:
    backend = await create_vacancy(api.client)
    analyst = await create_vacancy(api.client, title="Аналитик данных", requirements="SQL", status="closed")
    candidate = await create_candidate(api.client, vacancy_id=backend["id"])
    assert backend["status"] == "open" and backend["key_skills"] == ["Python", "PostgreSQL", "Kafka"]

    listed = (await api.client.get("/api/vacancies/")).json()
    assert listed["count"] == 2 and [v["id"] for v in listed["data"]] == [analyst["id"], backend["id"]]
    opened = (await api.client.get("/api/vacancies/", params={"status": "open"})).json()
    assert [v["id"] for v in opened["data"]] == [backend["id"]]
    found = (await api.client.get("/api/vacancies/", params={"q": "аналитик"})).json()
    assert [v["id"] for v in found["data"]] == [analyst["id"]]

    patched = await api.client.patch(f"/api/vacancies/{analyst['id']}", json={"status": "open"})
    assert patched.status_code == 200 and patched.json()["status"] == "open"
    assert patched.json()["title"] == "Аналитик данных"
    read = (await api.client.get(f"/api/vacancies/{backend['id']}")).json()
    assert read == {**backend, "counts": {"candidates": 1, "in_progress": 1, "hired": 0, "rejected": 0}}
    invalid = await api.client.post("/api/vacancies/", json={"title": "  "})
    assert invalid.status_code == 422 and "не может быть пустым" in invalid.json()["detail"]

    assert (await api.client.delete(f"/api/vacancies/{backend['id']}")).status_code == 204

    assert (await api.client.get(f"/api/vacancies/{backend['id']}")).status_code == 404
    card = (await api.client.get(f"/api/candidates/{candidate['id']}")).json()
    assert card["vacancy_id"] is None


# --- basics and verbatim storage ---------------------------------------------------------------------


async def test_create_read_update_list_delete(api: RunningApp) -> None:
    created = await create_candidate(api.client, full_name="Мария Смирнова", email="Maria@Example.com")
    assert created["id"] > 0 and created["created_at"].endswith("Z")

    read = (await api.client.get(f"/api/candidates/{created['id']}")).json()
    assert read == created

    patched = await api.client.patch(f"/api/candidates/{created['id']}", json={"position": "Data Engineer"})
    assert patched.status_code == 200
    assert patched.json()["position"] == "Data Engineer" and patched.json()["full_name"] == "Мария Смирнова"

    await create_candidate(api.client, full_name="Пётр Иванов", email="petr@example.com", phone="+7 900 000-00-01")
    found = (await api.client.get("/api/candidates/", params={"q": "смирн"})).json()
    assert found["count"] == 1 and found["data"][0]["id"] == created["id"]
    everyone = (await api.client.get("/api/candidates/", params={"limit": 1})).json()
    assert everyone["count"] == 2 and len(everyone["data"]) == 1

    assert (await api.client.delete(f"/api/candidates/{created['id']}")).status_code == 204
    assert (await api.client.get(f"/api/candidates/{created['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"full_name": "  "}, "ФИО"),
        ({"full_name": "Ок", "email": "not-an-email"}, "email"),
        ({}, "Не заполнено обязательное поле «ФИО»"),
    ],
)
async def test_bad_candidate_is_a_clear_422(api: RunningApp, body: dict[str, str], phrase: str) -> None:
    response = await api.client.post("/api/candidates/", json=body)
    assert response.status_code == 422
    assert phrase in response.json()["detail"]


async def test_names_with_markup_and_sql_are_stored_verbatim(api: RunningApp) -> None:
    name = "<img src=x onerror=alert(1)> Robert'); DROP TABLE candidates;--"
    created = await create_candidate(api.client, full_name=name)
    assert (await api.client.get(f"/api/candidates/{created['id']}")).json()["full_name"] == name
    assert (await api.client.get("/api/candidates/")).json()["count"] == 1


async def test_percent_and_underscore_in_a_search_are_literal(api: RunningApp) -> None:
    plain = await create_candidate(api.client, full_name="Иван Петров", email="ivan@example.com", phone=None)
    odd = await create_candidate(
        api.client, full_name="Анна 100%_Python", email="anna@example.com", phone=None, position="QA"
    )
    assert await search(api.client, q="%") == [odd["id"]]
    assert await search(api.client, q="_") == [odd["id"]]
    assert await search(api.client, q="0%_p") == [odd["id"]]
    assert await search(api.client, q="и_ан") == []
    assert await search(api.client, q="ван") == [plain["id"]]
    vacancy = await create_vacancy(api.client, title="Аналитик 50%")
    await create_vacancy(api.client, title="Тестировщик")
    listed = (await api.client.get("/api/vacancies/", params={"q": "%"})).json()
    assert [v["id"] for v in listed["data"]] == [vacancy["id"]]


async def test_a_download_is_named_and_typed_after_its_content(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    pdf = make_pdf(["Ivan Petrov, Python developer"])
    response = await upload(api.client, candidate["id"], "evil.exe", pdf, "application/x-msdownload")
    assert response.status_code == 200, response.text
    assert response.json()["resume_filename"] == "evil.pdf"
    download = await api.client.get(f"/api/candidates/{candidate['id']}/resume")
    assert download.status_code == 200 and download.content == pdf
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"] == 'attachment; filename="evil.pdf"'

    docx_bytes = make_docx(["Иван Петров"])
    await upload(api.client, candidate["id"], "резюме.pdf", docx_bytes, "application/pdf")
    download = await api.client.get(f"/api/candidates/{candidate['id']}/resume")
    assert download.headers["content-type"] == DOCX_TYPE
    assert "filename*=utf-8''%D1%80%D0%B5%D0%B7%D1%8E%D0%BC%D0%B5.docx" in download.headers["content-disposition"]
