"""Resume intake over real HTTP against the fake GigaChat/OpenRouter, on SQLite and PostgreSQL: a DOCX becomes a
draft with contacts found locally, review and save, duplicates offered for merge, repair and manual entry,
bulk uploads with progress, a zip, unreadable files, and a restart in the middle."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.services import intake
from tests.fake_upstream import FakeUpstream, Fault
from tests.resume_files import make_pdf
from tests.utils.app import Database, RunningApp, StartApp, create_candidate, wait_until
from tests.utils.intake import (
    DOCX_TYPE,
    batch,
    draft,
    provider_requests,
    resume_docx,
    upload_batch,
    wait_for_batch,
)

pytestmark = pytest.mark.usefixtures("database")

EMAIL = "maria.sokolova@example.com"
PHONE = "8 (912) 345-67-89"
# Everything that must never reach a provider, in the spellings a request could carry it.
CONTACT_PIECES = ["maria.sokolova@example.com", "345-67-89", "9123456789", "maria_sokolova"]


async def draft_from_docx(api: RunningApp, data: bytes, name: str = "Соколова.docx") -> dict[str, Any]:
    response = await api.client.post("/api/intake/drafts", files={"file": (name, data, DOCX_TYPE)})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_docx_resume_becomes_a_draft_with_local_contacts_and_saving_creates_the_candidate(
    api: RunningApp, fake: FakeUpstream
) -> None:
    fake.gigachat.push(Fault.ok(json=draft()))
    job = await draft_from_docx(api, resume_docx("Мария Соколова", EMAIL, PHONE))

    assert job["state"] == "ready" and job["note"] is None and job["provider"] == "gigachat"
    assert job["contacts"]["emails"] == [EMAIL]
    assert job["contacts"]["phones"] == ["+7 912 345-67-89"]
    assert job["contacts"]["links"] == ["t.me/maria_sokolova"]
    assert job["draft"]["skills"] == ["Python", "FastAPI", "PostgreSQL"]
    card = job["proposed"]
    assert (card["full_name"], card["email"], card["phone"], card["city"]) == (
        "Мария Соколова",
        EMAIL,
        "+7 912 345-67-89",
        "Казань",
    )
    assert "ООО «Ромашка»" in card["notes"] and "английский — B2" in card["notes"]
    assert "Платёжный шлюз" in card["resume_text"] or "платёжный шлюз" in card["resume_text"]
    assert job["duplicates"] == []

    # The contacts were found here: the model got the rest of the resume without them.
    sent = provider_requests(fake)
    assert sent and any("Ромашка" in body for body in sent)
    for piece in CONTACT_PIECES:
        assert not any(piece in body for body in sent), piece

    # The recruiter corrects the position and saves.
    card["position"] = "Senior Python-разработчик"
    response = await api.client.post(f"/api/intake/jobs/{job['id']}/save", json={"candidate": card})
    assert response.status_code == 201, response.text
    candidate = response.json()
    assert candidate["email"] == EMAIL and candidate["phone"] == "+7 912 345-67-89"
    assert candidate["skills"] == ["Python", "FastAPI", "PostgreSQL"]
    assert candidate["position"] == "Senior Python-разработчик"
    assert candidate["resume_filename"] == "Соколова.docx"
    download = await api.client.get(f"/api/candidates/{candidate['id']}/resume")
    assert download.status_code == 200 and download.content.startswith(b"PK")

    saved = (await api.client.get(f"/api/intake/jobs/{job['id']}")).json()
    assert saved["state"] == "saved" and saved["candidate_id"] == candidate["id"]
    assert saved["text"] is None and saved["contacts"] is None  # the card holds the personal data now
    again = await api.client.post(f"/api/intake/jobs/{job['id']}/save", json={"candidate": card})
    assert again.status_code == 409 and "уже сохранён" in again.json()["detail"]


async def test_a_duplicate_is_offered_for_merge_instead_of_created_twice(api: RunningApp, fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.ok(json=draft(skills=["Python"])))
    first = await draft_from_docx(api, resume_docx("Мария Соколова", EMAIL, PHONE))
    created = await api.client.post(f"/api/intake/jobs/{first['id']}/save", json={"candidate": first["proposed"]})
    assert created.status_code == 201, created.text
    existing = created.json()

    # The same person sends a newer resume, with the phone written differently.
    fake.gigachat.push(Fault.ok(json=draft(skills=["Python", "Kafka"])))
    second = await draft_from_docx(api, resume_docx("Мария Соколова", EMAIL.upper(), "+7 912 345 67 89"))
    assert second["duplicates"] == [
        {"id": existing["id"], "full_name": "Мария Соколова", "matched": ["email", "phone"]}
    ]

    refused = await api.client.post(f"/api/intake/jobs/{second['id']}/save", json={"candidate": second["proposed"]})
    assert refused.status_code == 409 and refused.json()["existing_candidate_id"] == existing["id"]

    merged = await api.client.post(
        f"/api/intake/jobs/{second['id']}/save", json={"candidate": second["proposed"], "merge_into": existing["id"]}
    )
    assert merged.status_code == 201, merged.text
    assert merged.json()["id"] == existing["id"] and merged.json()["skills"] == ["Python", "Kafka"]
    listed = (await api.client.get("/api/candidates/")).json()
    assert listed["count"] == 1


async def test_a_reply_off_the_schema_gets_one_repair(api: RunningApp, fake: FakeUpstream) -> None:
    fake.gigachat.push(Fault.ok(json=draft(years_experience=500)))
    fake.gigachat.push(Fault.ok(json=draft()))
    job = await draft_from_docx(api, resume_docx("Мария Соколова", EMAIL, PHONE))
    assert job["state"] == "ready" and job["draft"]["years_experience"] == 6 and job["note"] is None
    repair = fake.gigachat.requests[-1]["json"]
    assert "years_experience" in repair["messages"][-1]["content"]  # the errors went back to the model


async def test_when_no_valid_draft_comes_back_it_is_left_for_manual_entry_with_the_text(
    api: RunningApp, fake: FakeUpstream
) -> None:
    fake.gigachat.set_default(Fault.ok(json=draft(years_experience=500)))
    fake.openrouter.set_default(Fault.ok(json=draft(years_experience=-1)))
    job = await draft_from_docx(api, resume_docx("Мария Соколова", EMAIL, PHONE))
    assert job["state"] == "ready" and job["draft"] is None
    assert job["note"] == intake.AI_INVALID
    assert job["proposed"]["email"] == EMAIL and "Ромашка" in job["proposed"]["resume_text"]
    assert fake.gigachat.request_count == 2  # the first answer and one repair, no more


async def test_without_any_provider_the_draft_is_left_for_manual_entry(start_app: StartApp) -> None:
    api = await start_app(GIGACHAT_API_KEY=None, OPENROUTER_API_KEY=None)
    response = await api.client.post(
        "/api/intake/drafts", data={"text": f"Пётр Иванов, бухгалтер. Почта {EMAIL}. Телефон {PHONE}. 1С, МСФО."}
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["state"] == "ready" and job["note"] == intake.NO_AI
    assert job["proposed"]["phone"] == "+7 912 345-67-89"


async def test_five_resumes_dropped_at_once_become_five_candidates_and_a_restart_loses_none(
    start_app: StartApp, fake: FakeUpstream
) -> None:
    # Each draft takes the fake a moment, so the restart lands in the middle of the batch.
    fake.gigachat.set_default(Fault(structured=draft(), chunk_delay=0.3))
    api = await start_app()
    files = [
        (f"cv{i}.docx", resume_docx(f"Кандидат Номер{i}", f"person{i}@example.com", f"+7 913 000-00-0{i}"), DOCX_TYPE)
        for i in range(5)
    ]
    started = await upload_batch(api.client, files)
    assert started["total"] == 5 and started["counts"]["queued"] + started["counts"]["parsing"] == 5

    progress: list[dict[str, Any]] = []

    async def first_one_ready() -> bool:
        progress.append(await batch(api.client, started["id"]))
        return bool(progress[-1]["counts"]["ready"] >= 1)

    await wait_until(first_one_ready)
    middle = progress[-1]
    assert 1 <= middle["done"] < 5  # progress is visible while the others wait
    assert middle["eta_seconds"] is not None and middle["eta_seconds"] > 0
    assert api.stop is not None
    await api.stop()

    restarted = await start_app()
    finished = await wait_for_batch(restarted.client, started["id"])
    assert finished["counts"]["ready"] == 5 and finished["eta_seconds"] == 0
    for brief in finished["jobs"]:
        job = (await restarted.client.get(f"/api/intake/jobs/{brief['id']}")).json()
        response = await restarted.client.post(
            f"/api/intake/jobs/{job['id']}/save", json={"candidate": job["proposed"]}
        )
        assert response.status_code == 201, response.text
    listed = (await restarted.client.get("/api/candidates/", params={"limit": 10})).json()
    assert sorted(c["email"] for c in listed["data"]) == [f"person{i}@example.com" for i in range(5)]


async def test_a_zip_of_resumes_and_unreadable_files_fail_only_their_own_jobs(
    api: RunningApp, fake: FakeUpstream
) -> None:
    fake.gigachat.set_default(Fault.ok(json=draft()))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("резюме/first.docx", resume_docx("Первый Кандидат", "first@example.com", "+7 914 000-00-01"))
        zf.writestr("second.pdf", make_pdf(["Ivan Petrov, Python developer", "Skills: Python, Django"]))
        zf.writestr("notes.txt", "not a resume")
        zf.writestr("broken.docx", b"PK\x03\x04 this is not really a docx")
    started = await upload_batch(
        api.client,
        [("all.zip", archive.getvalue(), "application/zip"), ("scan.pdf", make_pdf([]), "application/pdf")],
    )
    assert started["total"] == 5
    finished = await wait_for_batch(api.client, started["id"])
    by_name = {j["filename"]: j for j in finished["jobs"]}
    assert by_name["first.docx"]["state"] == "ready" and by_name["second.pdf"]["state"] == "ready"
    assert by_name["notes.txt"]["state"] == "failed" and "PDF или DOCX" in by_name["notes.txt"]["error"]
    assert by_name["broken.docx"]["state"] == "failed" and by_name["broken.docx"]["error"]
    assert by_name["scan.pdf"]["state"] == "failed" and "скан" in by_name["scan.pdf"]["error"]
    assert finished["counts"] == {"queued": 0, "parsing": 0, "ready": 2, "saved": 0, "failed": 3}


async def test_too_many_files_are_refused_with_a_reason(start_app: StartApp) -> None:
    api = await start_app(INTAKE_MAX_FILES=2)
    files = [("files", (f"{i}.pdf", make_pdf(["x"]), "application/pdf")) for i in range(3)]
    response = await api.client.post("/api/intake/batches", files=files)
    assert response.status_code == 422 and "не больше 2 файлов" in response.json()["detail"]


async def test_erasing_a_candidate_erases_the_intake_job_that_made_the_card(
    api: RunningApp, fake: FakeUpstream
) -> None:
    fake.gigachat.push(Fault.ok(json=draft()))
    job = await draft_from_docx(api, resume_docx("Мария Соколова", EMAIL, PHONE))
    saved = await api.client.post(f"/api/intake/jobs/{job['id']}/save", json={"candidate": job["proposed"]})
    assert saved.status_code == 201
    erased = await api.client.post(f"/api/privacy/candidates/{saved.json()['id']}/erase")
    assert erased.status_code == 204
    assert (await api.client.get(f"/api/intake/jobs/{job['id']}")).status_code == 404


async def test_the_retention_purge_removes_drafts_nobody_saved_with_their_files(
    api: RunningApp, fake: FakeUpstream, database: Database
) -> None:
    fake.gigachat.set_default(Fault.ok(json=draft()))
    old = await draft_from_docx(api, resume_docx("Мария Соколова", EMAIL, PHONE))
    fresh = await draft_from_docx(api, resume_docx("Пётр Новиков", "petr@example.com", "+7 913 111-22-33"))
    intake_files = api.settings.resume_dir / intake.INTAKE_SUBDIR
    assert len(list(intake_files.iterdir())) == 2
    # The first was parsed 31 days ago and left unsaved.
    async with database.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE intake_jobs SET finished_at = :past WHERE id = :id"),
            {"past": datetime.now(UTC) - timedelta(days=31), "id": old["id"]},
        )

    response = await api.client.post("/api/privacy/purge")

    assert response.status_code == 200 and response.json() == {"erased": [], "drafts_removed": 1}
    assert (await api.client.get(f"/api/intake/jobs/{old['id']}")).status_code == 404
    assert (await api.client.get(f"/api/intake/jobs/{fresh['id']}")).status_code == 200
    assert len(list(intake_files.iterdir())) == 1
    assert await database.scalar("SELECT count(*) FROM intake_jobs WHERE text LIKE :mark", mark="%Соколова%") == 0


async def test_a_chat_gets_the_next_provider_slot_before_the_next_resume(
    start_app: StartApp, fake: FakeUpstream
) -> None:
    """One GigaChat slot; two resumes parse at once, so one holds the slot and the other waits for it. A
    recruiter's chat that comes meanwhile is answered before that second resume is sent."""
    api = await start_app(GIGACHAT_MAX_CONCURRENCY=1, INTAKE_CONCURRENCY=2, LLM_QUEUE_TIMEOUT=20.0)
    candidate = await create_candidate(api.client)
    fake.gigachat.push(Fault(structured=draft(), chunk_delay=1.5))  # the first resume keeps the slot a while
    files = [
        (f"cv{i}.docx", resume_docx(f"Кандидат Номер{i}", f"q{i}@example.com", f"+7 913 000-00-1{i}"), DOCX_TYPE)
        for i in range(3)
    ]
    started = await upload_batch(api.client, files)

    async def one_sent_one_waiting() -> bool:
        parsing = (await batch(api.client, started["id"]))["counts"]["parsing"]
        return bool(parsing == 2 and fake.gigachat_in_flight == 1)

    await wait_until(one_sent_one_waiting)
    reply = await api.client.post("/api/chat/", json={"candidate_id": candidate["id"], "content": "Сильные стороны?"})

    assert reply.status_code == 201, reply.text
    assert reply.json()["assistant_message"]["provider"] == "gigachat"
    finished = await wait_for_batch(api.client, started["id"])
    assert finished["counts"]["ready"] == 3
    sent = [
        "resume" if "functions" in r["json"] else "chat"
        for r in fake.gigachat.requests
        if r["path"].endswith("/chat/completions")
    ]
    assert sent == ["resume", "chat", "resume", "resume"]
