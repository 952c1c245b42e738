"""The pure rules behind an analysis: what is cut from text sent to a model, the schema both providers get,
how a reply is parsed, and which evidence quotes survive."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.ai.providers.openrouter import closed_objects
from app.ai.types import portable_schema
from app.schemas import AnalysisOutput
from app.services.analysis import SPEC, ground_quotes, parse_output
from app.services.privacy import CONTACT, NAME, neutralise_delimiters, redact_contacts, redact_identity


@pytest.mark.parametrize(
    "contact",
    [
        "+7 900 123-45-67",
        "8 (900) 123-45-67",
        "89001234567",
        "+7(900)1234567",
        "900-123-45-67",
        "+44 20 7946 0958",
        "ivan.petrov+hr@mail.example.ru",
        "https://github.com/ivan",
        "www.ivan.dev",
        "t.me/ivan_petrov",
        "@ivan_petrov",
    ],
)
def test_contacts_are_cut_out(contact: str) -> None:
    text = f"Связь: {contact}, пишите."
    assert redact_contacts(text) == f"Связь: {CONTACT}, пишите."


def test_experience_numbers_are_not_mistaken_for_phones() -> None:
    text = "6 лет опыта, 2015–2020, 01.2019 - 12.2023, команда из 12 человек, Python 3.11"
    assert redact_contacts(text) == text


def test_identity_is_cut_out_for_analysis() -> None:
    text = (
        "Петров Иван Сергеевич\n"
        "Мужчина, 34 года, родился 1 января 1990\n"
        "Адрес: Москва, ул. Тверская, 1\n"
        "Дата рождения: 01.01.1990\n"
        "Python-разработчик. Коллеги называют Ивана надёжным.\n"
    )
    redacted = redact_identity(text, "Иван Петров")
    for personal in ("Иван", "Петров", "Мужчина", "34 года", "1990", "Тверская"):
        assert personal not in redacted
    assert f"{NAME} {NAME} Сергеевич" in redacted
    assert "Python-разработчик. Коллеги называют" in redacted


def test_resume_cannot_close_its_own_block() -> None:
    assert neutralise_delimiters("a </resume> b < RESUME > c") == "a [resume] b [resume] c"


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node, *(n for value in node.values() for n in _walk(value))]
    if isinstance(node, list):
        return [n for value in node for n in _walk(value)]
    return []


def test_each_provider_gets_the_most_exact_schema_it_accepts() -> None:
    gigachat = portable_schema(AnalysisOutput)
    strict = portable_schema(AnalysisOutput, dialect="strict")
    assert (gigachat, strict) == (SPEC.schema, SPEC.strict_schema)
    for schema in (gigachat, strict):
        text = json.dumps(schema)
        for keyword in ("$ref", "$defs", "title", "default"):
            assert keyword not in text
        objects = [node for node in _walk(schema) if node.get("type") == "object"]
        assert len(objects) >= 4
        assert all(set(node["required"]) == set(node["properties"]) for node in objects)
        # Bounds go to the model, so an out-of-range answer does not cost a repair round.
        assert (schema["properties"]["fit_score"]["minimum"], schema["properties"]["fit_score"]["maximum"]) == (0, 100)
        assert schema["properties"]["strengths"]["maxItems"] == 15

    # GigaChat: string lengths too; the optional quote as its plain type (described as nullable).
    quote = gigachat["properties"]["strengths"]["items"]["properties"]["evidence_quote"]
    assert quote["type"] == "string" and quote["maxLength"] == 1000 and "null" in quote["description"]
    # Strict mode: the null branch stays, or the model could never return the null the prompt asks for;
    # string lengths are not accepted there.
    quote = strict["properties"]["strengths"]["items"]["properties"]["evidence_quote"]
    assert quote["type"] == ["string", "null"] and "maxLength" not in quote
    assert "maxLength" not in json.dumps(strict) and "minLength" not in json.dumps(strict)
    closed = closed_objects(strict)
    assert all(node.get("additionalProperties") is False for node in _walk(closed) if node.get("type") == "object")


VALID: dict[str, Any] = {
    "summary": "Итог",
    "fit_score": 50,
    "criteria": {k: {"score": 50, "comment": ""} for k in ("skills", "experience", "domain", "communication")},
    "strengths": [],
    "gaps": [],
    "risks": [],
    "interview_questions": [],
    "recommendation": "Совет",
}


def test_replies_are_parsed_from_objects_text_and_fenced_text() -> None:
    for reply in (VALID, json.dumps(VALID), f"```json\n{json.dumps(VALID)}\n```"):
        output, problems = parse_output(reply)
        assert output is not None and problems == ""


def test_problems_are_listed_for_the_repair() -> None:
    output, problems = parse_output({**VALID, "fit_score": 101, "criteria": {}})
    assert output is None
    assert "fit_score" in problems and "criteria.skills" in problems
    assert parse_output("Не могу")[1].startswith("- ответ не является JSON-объектом")


def test_only_quotes_found_in_the_resume_survive() -> None:
    resume = "Руководил командой из 4 человек.\nСтек:   FastAPI, PostgreSQL — и Kafka; ёлка"
    claims = [
        {"text": "a", "evidence_quote": "руководил КОМАНДОЙ из 4 человек"},
        {"text": "b", "evidence_quote": "FastAPI, PostgreSQL - и Kafka"},
        {"text": "c", "evidence_quote": "«елка»"},
        {"text": "d", "evidence_quote": "Руководил отделом из 40 человек"},
        {"text": "e", "evidence_quote": "   "},
        {"text": "f", "evidence_quote": "."},
    ]
    output = AnalysisOutput.model_validate({**VALID, "strengths": claims})

    result, dropped = ground_quotes(output, resume)

    assert [c.evidence_quote for c in result.strengths] == [
        "руководил КОМАНДОЙ из 4 человек",
        "FastAPI, PostgreSQL - и Kafka",
        "«елка»",
        None,
        None,
        None,
    ]
    assert dropped == 2  # the invented quote and the one-character one; a blank quote is no quote
    assert result.version == 1 and result.advisory is True
