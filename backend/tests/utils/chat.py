"""Asking the chat one question through either endpoint, as the page would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tests.utils.app import read_sse

Mode = Literal["blocking", "stream"]
MODES: list[Mode] = ["blocking", "stream"]


@dataclass
class Answer:
    reply: dict[str, Any] | None
    """The stored assistant message, or None when every provider failed."""
    failure: dict[str, Any] | None = None
    events: list[str] = field(default_factory=list)
    streamed_text: str = ""


async def ask(client: httpx.AsyncClient, candidate_id: int, content: str, mode: Mode) -> Answer:
    body = {"candidate_id": candidate_id, "role": "user", "content": content}
    if mode == "blocking":
        response = await client.post("/api/chat/", json=body)
        if response.status_code == 503:
            return Answer(None, response.json())
        assert response.status_code == 201, response.text
        return Answer(response.json()["assistant_message"])
    async with client.stream("POST", "/api/chat/stream", json=body) as response:
        assert response.status_code == 200, await response.aread()
        events = await read_sse(response)
    names = [e.event for e in events]
    text = ""
    for event in events:
        if event.event == "delta":
            text += event.data["text"]
        elif event.event == "restart":
            text = ""
    last = events[-1]
    if last.event == "error":
        return Answer(None, last.data, names, text)
    assert last.event == "done", names
    return Answer(last.data["assistant_message"], None, names, text)


def attempts(message: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["provider"], a["error"]) for a in message["attempts"] or []]
