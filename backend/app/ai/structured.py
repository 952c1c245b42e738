"""A structured reply as the services use it: validated against its schema, and on failure asked for once more
with the problems listed (the analysis and the resume draft follow the same rule)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.ai.types import LLMRequest, StructuredRepair

REPAIR_PROMPT = """\
Ваш ответ не прошёл проверку по схеме:
{errors}
Исправьте ошибки и верните весь результат заново в том же формате. Правила и резюме прежние."""
"""The repair turn's request; `errors` is the list `validate` gives."""

MAX_REPORTED_ERRORS = 20
"""Problems listed to the model at most: enough to fix a document, short enough not to crowd the prompt."""

Document = TypeVar("Document", bound=BaseModel)


def _strip_fences(text: str) -> str:
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, flags=re.DOTALL)
    return match.group(1) if match else text


def validate(schema: type[Document], data: dict[str, Any] | str) -> tuple[Document | None, str]:
    """The validated document, or None and the problems listed for the model to fix. A provider that answered
    with text (in or out of a Markdown fence) is read as JSON first."""
    if isinstance(data, str):
        try:
            data = json.loads(_strip_fences(data))
        except ValueError as exc:
            return None, f"- ответ не является JSON-объектом ({exc.args[0] if exc.args else exc})"
    try:
        return schema.model_validate(data), ""
    except ValidationError as exc:
        return None, "\n".join(
            f"- {'.'.join(str(p) for p in error['loc']) or 'документ'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)[:MAX_REPORTED_ERRORS]
        )


def repair_request(request: LLMRequest, data: dict[str, Any] | str, problems: str) -> LLMRequest:
    """The same request plus the rejected document and its problems; each provider replays it its way."""
    repair = StructuredRepair(previous=data, problems=problems, prompt=REPAIR_PROMPT.format(errors=problems))
    return dataclasses.replace(request, repair=repair)
