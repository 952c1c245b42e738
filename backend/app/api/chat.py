"""The guide's chat endpoints: history, a turn (blocking or streamed as SSE), and regenerate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, status
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.ai.errors import AllProvidersFailed
from app.ai.telemetry import TurnUsage
from app.ai.types import LLMRequest
from app.api.deps import CandidateID, ChatServices, ChatServicesDep, CurrentCandidate, CurrentLogin, SessionDep
from app.api.responses import CANDIDATE, Responses, errors
from app.core.db import commit
from app.models import Role
from app.schemas import (
    DB_INT_MAX,
    ChatFailurePublic,
    ChatMessageCreate,
    ChatMessagePublic,
    ChatTurnPublic,
    ProviderAttempt,
)
from app.services import chat as chat_service

router = APIRouter(prefix="/chat", tags=["chat"])

KEEPALIVE_SECONDS = 15.0
"""An SSE comment this often keeps proxies from closing a stream while a model thinks."""

_FAILURE_RESPONSES: Responses = {
    503: {"model": ChatFailurePublic, "description": "Every provider failed; the user's message is stored."},
    **CANDIDATE,
    **errors(409, 422),
}


@router.get("/{candidate_id}", response_model=list[ChatMessagePublic], responses=CANDIDATE)
async def read_history(
    candidate_id: CandidateID,
    session: SessionDep,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=DB_INT_MAX)] = None,
) -> Response:
    """The candidate's chat, oldest first (ties by id); `limit`/`before_id` page back through it."""
    messages = await chat_service.history(session, candidate_id, limit=limit, before_id=before_id)
    return _json(messages)


def _json(content: Any, status_code: int = status.HTTP_200_OK) -> Response:
    # Serialised as is, not validated again into the documented model (`response_model`): the service hands
    # over its fields and types, and orjson writes times as pydantic does (UTC as `Z`).
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), status_code, media_type="application/json")


def _turn(question: chat_service.Message | None, reply: chat_service.StoredMessage) -> Response:
    """A stored turn as `ChatTurnPublic`, 201."""
    return _json(
        {
            "user_message": chat_service.public(question) if question is not None else None,
            "assistant_message": chat_service.public(reply),
        },
        status.HTTP_201_CREATED,
    )


async def _answer(
    session: SessionDep,
    services: ChatServices,
    question: chat_service.Message,
    request: LLMRequest,
    turn: TurnUsage,
    actor: tuple[int, str],
) -> Response:
    # Commit point: the user's message (owned by this process under a lease) and the turn's quota reservation
    # are durable before any provider is called, so nothing after this can lose it; if this process dies, a
    # sweeper fails it visibly. The outcome is stored with its usage in a transaction of its own.
    await commit(session)
    telemetry = services.telemetry
    try:
        with services.leases.working(question.id), telemetry.accounting(turn):
            result = await services.chain.complete(request)
    except AllProvidersFailed as failure:
        await chat_service.mark_failed(session, question, failure)
        await telemetry.end_turn(session, turn)
        body = ChatFailurePublic(
            detail=failure.user_message,
            user_message_id=question.id,
            attempts=[ProviderAttempt(**a.as_dict()) for a in failure.attempts],
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    reply = await chat_service.finish_turn(
        services.session_factory, question, result, actor=actor, telemetry=telemetry, turn=turn
    )
    return _turn(question, reply)


@router.post("/", status_code=status.HTTP_201_CREATED, response_model=ChatTurnPublic, responses=_FAILURE_RESPONSES)
async def post_message(
    body: ChatMessageCreate, login: CurrentLogin, session: SessionDep, services: ChatServicesDep
) -> Response:
    """Store a message; for a `user` message also generate, store and return the assistant's reply."""
    content = chat_service.validate_content(body.content, services.settings)
    if Role(body.role) == Role.ASSISTANT:
        candidate = await chat_service.load_candidate(session, body.candidate_id)
        message = await chat_service.add_message(session, candidate.id, Role.ASSISTANT, content)
        return _turn(None, message)
    question, request, turn = await chat_service.store_question(
        session, services.settings, services.chain, services.telemetry, services.leases, body.candidate_id, content
    )
    return await _answer(session, services, question, request, turn, login.actor)


@router.post(
    "/{candidate_id}/messages/{message_id}/regenerate",
    status_code=status.HTTP_201_CREATED,
    response_model=ChatTurnPublic,
    responses=_FAILURE_RESPONSES,
)
async def regenerate(
    candidate: CurrentCandidate,
    message_id: Annotated[int, Path(gt=0, le=DB_INT_MAX)],
    login: CurrentLogin,
    session: SessionDep,
    services: ChatServicesDep,
) -> Response:
    """Answer a stored user message again (after a failure, or for another version of the reply)."""
    question = await chat_service.get_user_message_or_404(session, candidate.id, message_id)
    services.leases.claim(question)  # flushed with the status change
    await chat_service.mark_pending(session, question)
    profile = await chat_service.load_candidate(session, candidate.id)
    request = await chat_service.build_request(session, services.settings, profile, question.id)
    turn = await chat_service.begin_turn(session, services.chain, services.telemetry)
    return await _answer(session, services, question, request, turn, login.actor)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data, option=orjson.OPT_UTC_Z) + b"\n\n"


@router.post(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "start, delta…, restart?, done | error"},
        **CANDIDATE,
        **errors(422),
    },
)
async def stream_message(
    body: ChatMessageCreate, login: CurrentLogin, session: SessionDep, services: ChatServicesDep
) -> StreamingResponse:
    """The same turn as `POST /api/chat/`, answered as Server-Sent Events while the model writes."""
    content = chat_service.validate_content(body.content, services.settings)
    if Role(body.role) == Role.ASSISTANT:
        candidate = await chat_service.load_candidate(session, body.candidate_id)
        message = await chat_service.add_message(session, candidate.id, Role.ASSISTANT, content)
        stored = chat_service.public(message)
        await session.commit()

        async def stored_only() -> AsyncIterator[bytes]:
            yield _sse("done", {"assistant_message": stored})

        return StreamingResponse(stored_only(), media_type="text/event-stream")

    message, llm_request, turn = await chat_service.store_question(
        session, services.settings, services.chain, services.telemetry, services.leases, body.candidate_id, content
    )
    stored = chat_service.public(message)
    # Commit point: the message (owned under a lease, with the turn's quota reservation) is durable before any
    # provider is called, and before the detached task touches the row.
    await commit(session)

    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

    def emit(event: str, data: dict[str, Any]) -> None:
        queue.put_nowait((event, data))

    async def run() -> None:
        try:
            with services.leases.working(message.id):
                await chat_service.run_streamed_turn(
                    services.session_factory,
                    services.chain,
                    message.id,
                    message.candidate_id,
                    llm_request,
                    emit,
                    actor=login.actor,
                    telemetry=services.telemetry,
                    turn=turn,
                )
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(run(), name=f"chat-turn-{message.id}")
    services.tasks.add(task)
    task.add_done_callback(services.tasks.discard)

    async def events() -> AsyncIterator[bytes]:
        yield _sse("start", {"user_message": stored})
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if item is None:
                return
            yield _sse(*item)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
