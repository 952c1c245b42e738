"""The floor under a chat turn: the same streamed GigaChat call as a Nexus turn's, behind a bare FastAPI endpoint.

chat_bench.py serves it with uvicorn as `nexus-ai serve` serves Nexus (uvloop, httptools), against the same
fake, and reports its server CPU per turn and its latency beside Nexus's. It is what FastAPI, uvicorn and the
SDK cost on the machine before anything of Nexus's own: no login, database, quota, lease, failover, audit or
log line. Its SDK client is the one Nexus builds (`GigaChatService`, aiohttp under the SDK), from the same
GIGACHAT_* environment; the system prompt comes from FLOOR_SYSTEM_PROMPT.

    uvicorn floor_app:create_app --factory --app-dir bench
"""

from __future__ import annotations

import os

import orjson
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

from app.ai.providers.gigachat import GigaChatService
from app.core.config import Settings


class Turn(BaseModel):
    """The body of `POST /api/chat/`, as Nexus takes it."""

    candidate_id: int
    role: str
    content: str


def create_app() -> FastAPI:
    service = GigaChatService(Settings())
    system = os.environ["FLOOR_SYSTEM_PROMPT"]
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/chat/")
    async def turn(body: Turn) -> Response:
        payload = {
            "model": service.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": body.content}],
            "temperature": 0.7,
            "max_tokens": 2000,
        }
        parts: list[str] = []
        async for chunk in service.client.astream(payload):
            parts.extend(choice.delta.content for choice in chunk.choices if choice.delta.content)
        reply = {"content": "".join(parts), "provider": service.name}
        return Response(orjson.dumps({"assistant_message": reply}), 201, media_type="application/json")

    return app
