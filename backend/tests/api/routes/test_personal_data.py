"""152-FZ: consent records, retention dates, access requests, and erasure that leaves nothing personal."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.models import Base
from tests.api.routes.test_candidates import create_vacancy, upload
from tests.resume_files import make_docx
from tests.utils.app import REPO_ROOT, Database, RunningApp, create_candidate

pytestmark = pytest.mark.usefixtures("database")

# Distinctive strings, so any leftover copy anywhere is found.
NAME = "Евлампия Зосимовна Перепелкина"
EMAIL = "perepelkina.evlampia@example.org"
PHONE = "+7 912 345-67-89"
RESUME_MARK = "Квазиуникальный-опыт-Перепелкиной"


def parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def reject(api: RunningApp, candidate_id: int, reason: str = "Не подходит по опыту") -> None:
    response = await api.client.post(
        f"/api/candidates/{candidate_id}/stage", json={"stage": "rejected", "reason": reason}
    )
    assert response.status_code == 201, response.text


async def consent(api: RunningApp, candidate_id: int, scope: str = "talent_pool") -> dict[str, Any]:
    response = await api.client.post(
        f"/api/candidates/{candidate_id}/consents",
        json={"scope": scope, "text_version": "2026-09", "channel": "email"},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def candidate_json(api: RunningApp, candidate_id: int) -> dict[str, Any]:
    return (await api.client.get(f"/api/candidates/{candidate_id}")).json()  # type: ignore[no-any-return]


async def test_rejection_starts_the_30_day_clock_unless_in_talent_pool(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    assert candidate["retention_until"] is None
    before = datetime.now(UTC)

    await reject(api, candidate["id"])

    deadline = parse((await candidate_json(api, candidate["id"]))["retention_until"])
    assert deadline is not None
    assert before + timedelta(days=30) <= deadline <= datetime.now(UTC) + timedelta(days=30)

    pool = await consent(api, candidate["id"], "talent_pool")
    assert (await candidate_json(api, candidate["id"]))["retention_until"] is None
    assert pool["recorded_by"] == "admin@example.com" and pool["withdrawn_at"] is None

    withdrawn = await api.client.post(f"/api/candidates/{candidate['id']}/consents/{pool['id']}/withdraw")
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"] is not None
    assert parse((await candidate_json(api, candidate["id"]))["retention_until"]) is not None
    again = await api.client.post(f"/api/candidates/{candidate['id']}/consents/{pool['id']}/withdraw")
    assert again.status_code == 409


async def test_withdrawing_the_only_consent_schedules_erasure(api: RunningApp) -> None:
    vacancy = await create_vacancy(api.client)
    candidate = await create_candidate(api.client, vacancy_id=vacancy["id"])
    given = await consent(api, candidate["id"], "vacancy")
    assert (await candidate_json(api, candidate["id"]))["retention_until"] is None

    await api.client.post(f"/api/candidates/{candidate['id']}/consents/{given['id']}/withdraw")

    deadline = parse((await candidate_json(api, candidate["id"]))["retention_until"])
    assert deadline is not None and deadline > datetime.now(UTC) + timedelta(days=29)
    listed = (await api.client.get(f"/api/candidates/{candidate['id']}/consents")).json()
    assert [c["scope"] for c in listed] == ["vacancy"] and listed[0]["withdrawn_at"] is not None


async def test_export_answers_an_access_request_with_everything(api: RunningApp) -> None:
    candidate = await create_candidate(api.client, full_name=NAME, email=EMAIL, phone=PHONE)
    await upload(api.client, candidate["id"], "cv.docx", make_docx([RESUME_MARK, "Python, 7 лет"]), "application/pdf")
    await consent(api, candidate["id"], "talent_pool")
    await api.client.post("/api/chat/", json={"candidate_id": candidate["id"], "role": "user", "content": "Вопрос"})
    await reject(api, candidate["id"])

    response = await api.client.get(f"/api/candidates/{candidate['id']}/export")

    assert response.status_code == 200
    data = response.json()
    assert data["candidate"]["full_name"] == NAME and data["candidate"]["email"] == EMAIL
    assert RESUME_MARK in data["resume_text"] and data["resume_file"]["filename"] == "cv.docx"
    assert [c["scope"] for c in data["consents"]] == ["talent_pool"]
    assert [m["role"] for m in data["chat_messages"]] == ["user", "assistant"]
    assert [s["to_stage"] for s in data["stage_history"]][-1] == "rejected"
    actions = [e["action"] for e in data["processing_log"]]
    assert "ai.chat" in actions and "consent.add" in actions
    log = (await api.client.get("/api/audit/", params={"action": "candidate.export"})).json()
    assert log["count"] == 1


async def dump_everything(database: Database) -> str:
    """Every row of every table as text: if a personal value survives anywhere, it is in here."""
    parts = []
    async with database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = (await conn.execute(sa.select(table))).all()
            parts.append(f"{table.name}: {rows!r}")
    return "\n".join(parts)


async def test_purge_erases_a_rejected_candidate_past_retention(api: RunningApp, database: Database) -> None:
    vacancy = await create_vacancy(api.client)
    candidate = await create_candidate(
        api.client, full_name=NAME, email=EMAIL, phone=PHONE, city="Тверь", vacancy_id=vacancy["id"], notes=NAME
    )
    cid = candidate["id"]
    uploaded = await upload(api.client, cid, "cv.docx", make_docx([NAME, EMAIL, RESUME_MARK]), "application/pdf")
    assert uploaded.status_code == 200, uploaded.text
    await api.client.post("/api/chat/", json={"candidate_id": cid, "role": "user", "content": f"Расскажи про {NAME}"})
    await api.client.post(f"/api/candidates/{cid}/analyses", json={"vacancy_id": vacancy["id"]})
    await consent(api, cid, "vacancy")
    await reject(api, cid, reason=f"{NAME} отказалась от оффера")
    keeper = await create_candidate(api.client, full_name="Оставшийся Кандидат", email="stays@example.com", phone="1")
    files = list(api.settings.resume_dir.iterdir())
    assert len(files) == 1
    everything = await dump_everything(database)
    assert NAME in everything and EMAIL in everything and RESUME_MARK in everything

    # Thirty-one days later.
    async with database.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE candidates SET retention_until = :past WHERE id = :id"),
            {"past": datetime.now(UTC) - timedelta(days=1), "id": cid},
        )
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "purge"],
        cwd=REPO_ROOT / "backend",
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "DATABASE_URL": database.url,
            "DATA_DIR": str(api.settings.DATA_DIR),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert f"[{cid}]" in result.stdout
    everything = await dump_everything(database)
    for personal in (NAME, "Перепелкин", EMAIL, "912 345", "9123456789", RESUME_MARK, "Тверь", "cv.docx"):
        assert personal not in everything, personal
    assert "Оставшийся Кандидат" in everything
    assert not any(api.settings.resume_dir.iterdir())
    assert (await api.client.get(f"/api/candidates/{cid}")).status_code == 410
    assert (await api.client.get(f"/api/chat/{cid}")).status_code == 410  # the chat route checks without the card
    assert (await api.client.get("/api/chat/999999")).status_code == 404
    listed = (await api.client.get("/api/candidates/")).json()
    assert [c["id"] for c in listed["data"]] == [keeper["id"]]
    erasure = (await api.client.get("/api/audit/", params={"action": "candidate.erase"})).json()
    assert erasure["count"] == 1
    assert erasure["data"][0]["entity_id"] == cid and erasure["data"][0]["details"] == {"reason": "retention"}


async def test_purge_leaves_candidates_before_their_date(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    await reject(api, candidate["id"])

    response = await api.client.post("/api/privacy/purge")

    assert response.json() == {"erased": [], "drafts_removed": 0}
    assert (await api.client.get(f"/api/candidates/{candidate['id']}")).status_code == 200


async def test_admin_can_erase_on_request_and_recruiter_cannot(api: RunningApp, database: Database) -> None:
    candidate = await create_candidate(api.client, full_name=NAME, email=EMAIL, phone=PHONE)
    recruiter = await api.recruiter()
    assert (await recruiter.post(f"/api/privacy/candidates/{candidate['id']}/erase")).status_code == 403

    response = await api.client.post(f"/api/privacy/candidates/{candidate['id']}/erase")

    assert response.status_code == 204
    everything = await dump_everything(database)
    assert NAME not in everything and EMAIL not in everything
    log = (await api.client.get("/api/audit/", params={"action": "candidate.erase"})).json()
    assert log["data"][0]["actor_email"] == "admin@example.com" and log["data"][0]["details"] == {"reason": "request"}


async def test_stage_decisions_are_recorded_as_the_users_and_ai_is_advisory(api: RunningApp) -> None:
    recruiter = await api.recruiter("decider@example.com")
    candidate = await create_candidate(recruiter)
    await recruiter.post(f"/api/candidates/{candidate['id']}/stage", json={"stage": "screening"})

    history = (await recruiter.get(f"/api/candidates/{candidate['id']}/stages")).json()

    assert history[-1]["to_stage"] == "screening" and history[-1]["changed_by"] == "decider@example.com"
    schema = api.app.openapi()["components"]["schemas"]["AnalysisResult"]
    assert "advisory" in schema["properties"] and "decision" not in schema["properties"]
