"""Resume parsing is bounded: a zip bomb or a PDF with a huge compressed stream is refused with a Russian 413
before it is unpacked, and costs the server almost no memory."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.resume_files import make_docx, make_docx_bomb, make_pdf, make_pdf_bomb
from tests.utils.app import ADMIN_EMAIL, ADMIN_PASSWORD, Database, RunningApp, create_candidate
from tests.utils.server import run_server

MB = 1024 * 1024
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(
    ("name", "make", "phrase"),
    [
        ("bomb.docx", make_docx_bomb, "в распакованном виде больше 5 МБ"),
        ("bomb.pdf", make_pdf_bomb, "сжатые данные в PDF распаковываются больше чем в 10 МБ"),
    ],
)
async def test_a_bomb_is_refused_in_russian_and_nothing_is_stored(
    api: RunningApp, name: str, make: object, phrase: str
) -> None:
    candidate = await create_candidate(api.client)
    data = make()  # type: ignore[operator]
    assert len(data) < MB
    response = await api.client.post(f"/api/candidates/{candidate['id']}/resume", files={"file": (name, data)})
    assert response.status_code == 413, response.text
    detail = response.json()["detail"]
    assert detail.startswith("Файл не принят: ") and phrase in detail
    after = (await api.client.get(f"/api/candidates/{candidate['id']}")).json()
    assert after["resume_filename"] is None and after["resume_text"] == candidate["resume_text"]
    assert not list(api.settings.resume_dir.glob("*")) if api.settings.resume_dir.exists() else True


async def test_a_highly_compressed_docx_is_refused_by_its_ratio(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    response = await api.client.post(
        f"/api/candidates/{candidate['id']}/resume", files={"file": ("cv.docx", make_docx_bomb(4))}
    )
    assert response.status_code == 413
    assert "сжата в" in response.json()["detail"] and "не больше 100" in response.json()["detail"]


async def test_ordinary_resumes_still_pass_the_limits(api: RunningApp) -> None:
    candidate = await create_candidate(api.client)
    long_docx = make_docx([f"Проект {i}: FastAPI, PostgreSQL, Kafka, Redis" for i in range(3000)])
    response = await api.client.post(
        f"/api/candidates/{candidate['id']}/resume", files={"file": ("cv.docx", long_docx, DOCX)}
    )
    assert response.status_code == 200, response.text
    assert "Проект 2999" in response.json()["resume_text"]
    pdf = make_pdf(["Anna Smirnova", "Python developer"])
    response = await api.client.post(f"/api/candidates/{candidate['id']}/resume", files={"file": ("cv.pdf", pdf)})
    assert response.status_code == 200 and "Python developer" in response.json()["resume_text"]


def test_a_docx_bomb_costs_the_server_almost_no_memory(database: Database, tmp_path: Path) -> None:
    bomb = make_docx_bomb()
    pdf_bomb = make_pdf_bomb()
    env = {"FIRST_SUPERUSER": ADMIN_EMAIL, "FIRST_SUPERUSER_PASSWORD": ADMIN_PASSWORD}
    with run_server(database.url, tmp_path / "data", **env) as server:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            login = client.post("/api/auth/login", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
            assert login.status_code == 200, login.text
            client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
            created = client.post("/api/candidates/", json={"full_name": "Иван Петров"})
            assert created.status_code == 201, created.text
            url = f"/api/candidates/{created.json()['id']}/resume"
            ok = client.post(url, files={"file": ("cv.docx", make_docx(["Иван Петров, Python"]), DOCX)})
            assert ok.status_code == 200, ok.text  # warm up: the parsers are imported and used once
            ok = client.post(url, files={"file": ("cv.pdf", make_pdf(["Ivan Petrov, Python"]))})
            assert ok.status_code == 200, ok.text
            server.reset_peak()
            before = server.rss_bytes()
            for name, data in (("bomb.docx", bomb), ("bomb.pdf", pdf_bomb)):
                response = client.post(url, files={"file": (name, data)})
                assert response.status_code == 413, response.text
                assert response.json()["detail"].startswith("Файл не принят: ")
            growth = server.peak_rss_bytes() - before
            print(f"server memory: {before / MB:.0f} MB before, peak {server.peak_rss_bytes() / MB:.0f} MB")
            assert growth < 50 * MB, f"server memory grew by {growth / MB:.0f} MB"
            assert client.get("/health").status_code == 200
