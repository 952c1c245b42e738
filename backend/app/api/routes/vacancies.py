"""Vacancies: CRUD (audited) and a searchable, paged list with candidate counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from app.api.deps import CurrentUser, SessionDep, client_ip
from app.api.responses import errors
from app.models import Vacancy, VacancyStatus
from app.schemas import DB_INT_MAX, NoNul, VacanciesPublic, VacancyCreate, VacancyListItem, VacancyPublic, VacancyUpdate
from app.services import vacancies

router = APIRouter(prefix="/vacancies", tags=["vacancies"])


async def get_current_vacancy(
    vacancy_id: Annotated[int, Path(description="Vacancy id", gt=0, le=DB_INT_MAX)], session: SessionDep
) -> Vacancy:
    return await vacancies.get_or_404(session, vacancy_id)


CurrentVacancy = Annotated[Vacancy, Depends(get_current_vacancy)]


@router.get("/", response_model=VacanciesPublic)
async def list_vacancies(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200, description="Search in title and requirements"), NoNul] = None,
    status_: Annotated[VacancyStatus | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> VacanciesPublic:
    """Newest first, each with its candidate counts."""
    data, total = await vacancies.page(session, q=q, status_=status_, offset=offset, limit=limit)
    return VacanciesPublic(data=data, count=total)


@router.post("/", response_model=VacancyPublic, status_code=status.HTTP_201_CREATED)
async def create_vacancy(data: VacancyCreate, user: CurrentUser, session: SessionDep, request: Request) -> Vacancy:
    return await vacancies.create(session, data, actor=user, ip=client_ip(request))


@router.get("/{vacancy_id}", response_model=VacancyListItem, responses=errors(404))
async def read_vacancy(vacancy: CurrentVacancy, session: SessionDep) -> VacancyListItem:
    return await vacancies.with_counts(session, vacancy)


@router.patch("/{vacancy_id}", response_model=VacancyPublic, responses=errors(404))
async def update_vacancy(
    vacancy: CurrentVacancy, data: VacancyUpdate, user: CurrentUser, session: SessionDep, request: Request
) -> Vacancy:
    """Closing is `{"status": "closed"}`, reopening `{"status": "open"}`; both are recorded in the audit log."""
    return await vacancies.update(session, vacancy, data, actor=user, ip=client_ip(request))


@router.delete("/{vacancy_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def delete_vacancy(vacancy: CurrentVacancy, user: CurrentUser, session: SessionDep, request: Request) -> Response:
    """Candidates and analyses that referred to the vacancy are kept, without the link."""
    await vacancies.delete(session, vacancy, actor=user, ip=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
