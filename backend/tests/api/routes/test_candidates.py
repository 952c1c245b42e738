"""Minimal candidate CRUD."""

from __future__ import annotations

import pytest

from tests.conftest import RunningApp, create_candidate

pytestmark = pytest.mark.usefixtures("database")


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
