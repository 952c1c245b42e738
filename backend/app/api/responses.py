"""The error responses of the API as the OpenAPI document describes them: what the handlers really send.

Every error body is `{"detail": "<Russian message>"}` (a few add fields, e.g. `existing_candidate_id`); a 422
from validation adds `errors: [{field, message}]`. Two sources of status codes:

- what the framework and the middleware do to any route is added to every operation by `install` (400 for an
  unreadable body, 413 past the body limit, 422 for bad parameters or body): new routes get it for free;
- what a route's dependencies and service raise is declared with one `responses=errors(...)` on the route or
  its router, e.g. `@router.get("/{id}", responses=errors(404))`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

Responses = dict[int | str, dict[str, Any]]


class ErrorPublic(BaseModel):
    detail: str
    """What went wrong and what to do, in Russian."""


class FieldErrorPublic(BaseModel):
    field: str
    """Where: `body.full_name`, `query.offset`, `path.candidate_id`."""
    message: str


class ValidationErrorPublic(BaseModel):
    detail: str
    """All the field messages in one line."""
    errors: list[FieldErrorPublic]


DESCRIPTIONS = {
    400: "The body could not be read (broken multipart, bytes that are not UTF-8)",
    401: "Not logged in, or the session has ended",
    403: "Not allowed: an admin-only route, or a cookie session's write without the CSRF token",
    404: "No such record",
    409: "Conflicts with the current state",
    410: "The candidate's personal data has been erased",
    413: "The request body, or a file once unpacked, is too large",
    415: "The file is not a PDF or DOCX",
    422: "Invalid parameters or body; `errors` says which field and why",
    429: "Too many failed logins from this address; see Retry-After",
    502: "The AI's answer was invalid",
    503: "No AI provider could answer",
}


def errors(*codes: int, **models: type[BaseModel]) -> Responses:
    """`responses=` for the given status codes, with the real error body; `models` overrides one code's body
    model by name, e.g. `errors(409, c409=DuplicateCandidatePublic)`."""
    out: Responses = {}
    for code in codes:
        model = models.get(f"c{code}") or (ValidationErrorPublic if code == 422 else ErrorPublic)
        out[code] = {"model": model, "description": DESCRIPTIONS.get(code, "Error")}
    return out


AUTHENTICATED = errors(401, 403)
"""For every router behind the login (403: a cookie session's write without CSRF, or admin-only)."""
CANDIDATE = errors(404, 410)
"""For every route that loads `{candidate_id}` (CurrentCandidate)."""

_BODY_ERRORS = (400, 413, 422)
_METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


def _ref(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add what every route can answer and replace FastAPI's default 422 body with the real one."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for public in (ErrorPublic, FieldErrorPublic, ValidationErrorPublic):
        components.setdefault(public.__name__, public.model_json_schema(ref_template="#/components/schemas/{model}"))
    for path_item in schema.get("paths", {}).values():
        for method in _METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            added: list[int] = []
            if "requestBody" in operation:
                added += _BODY_ERRORS
            if operation.get("parameters"):
                added.append(422)
            for number in added:
                responses.setdefault(str(number), {"description": DESCRIPTIONS[number]})
            for code, response in responses.items():
                if not code.isdigit() or int(code) < 400:
                    continue
                model = "ValidationErrorPublic" if code == "422" else "ErrorPublic"
                content = response.get("content", {}).get("application/json", {})
                ref = content.get("schema", {}).get("$ref", "")
                if not ref or ref.endswith("/HTTPValidationError"):
                    response.update(_ref(model))
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def install(app: FastAPI) -> None:
    """Complete the document FastAPI builds (it rebuilds it when routes are added) each time it is new."""
    completed: list[int] = []

    def openapi() -> dict[str, Any]:
        schema = FastAPI.openapi(app)
        if not completed or completed[-1] != id(schema):
            complete(schema)
            completed.append(id(schema))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
