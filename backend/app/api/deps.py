"""`Annotated` dependency aliases, defined once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.models import Candidate
from app.services import candidates
from app.services.llm import ProviderChain


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request owns the transaction: commit when the handler returns, roll back if it raises."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def get_session_factory(request: Request) -> async_sessionmaker[AsyncSession]:
    return request.app.state.session_factory  # type: ignore[no-any-return]


def get_chain(request: Request) -> ProviderChain:
    return request.app.state.chain  # type: ignore[no-any-return]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


# scope="function": the commit happens before the response is sent, so a client that reads right after
# a write always sees it.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SessionFactoryDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_session_factory)]
ChainDep = Annotated[ProviderChain, Depends(get_chain)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

CandidateID = Annotated[int, Path(description="Candidate id", gt=0)]


async def get_current_candidate(candidate_id: CandidateID, session: SessionDep) -> Candidate:
    return await candidates.get_or_404(session, candidate_id)


CurrentCandidate = Annotated[Candidate, Depends(get_current_candidate)]
