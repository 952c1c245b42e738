"""The pipeline board, for one vacancy or all of them. Cards move through `POST /candidates/{id}/stage`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import SessionDep
from app.schemas import DB_INT_MAX, BoardPublic, NoNul
from app.services import board

router = APIRouter(prefix="/board", tags=["board"])


@router.get("/", response_model=BoardPublic)
async def read_board(
    session: SessionDep,
    vacancy_id: Annotated[int | None, Query(gt=0, le=DB_INT_MAX)] = None,
    source: Annotated[str | None, Query(max_length=100), NoNul] = None,
    owner_id: Annotated[int | None, Query(gt=0, le=DB_INT_MAX, description="The owning recruiter")] = None,
) -> BoardPublic:
    """A column per stage with counts; each card with days in the stage and the latest AI fit score."""
    return await board.board(session, vacancy_id=vacancy_id, source=source, owner_id=owner_id)
