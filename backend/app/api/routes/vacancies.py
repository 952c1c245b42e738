"""Vacancies: CRUD and a searchable, paged list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from app.api.deps import SessionDep
from app.api.responses import errors
from app.models import Vacancy, VacancyStatus
from app.schemas import DB_INT_MAX, NoNul, VacanciesPublic, VacancyCreate, VacancyPublic, VacancyUpdate
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
    rows, total = await vacancies.list_(session, q=q, status_=status_, offset=offset, limit=limit)
    return VacanciesPublic(data=[VacancyPublic.model_validate(r) for r in rows], count=total)


@router.post("/", response_model=VacancyPublic, status_code=status.HTTP_201_CREATED)
async def create_vacancy(data: VacancyCreate, session: SessionDep) -> Vacancy:
    return await vacancies.create(session, data)


@router.get("/{vacancy_id}", response_model=VacancyPublic, responses=errors(404))
async def read_vacancy(vacancy: CurrentVacancy) -> Vacancy:
    return vacancy


@router.patch("/{vacancy_id}", response_model=VacancyPublic, responses=errors(404))
async def update_vacancy(vacancy: CurrentVacancy, data: VacancyUpdate, session: SessionDep) -> Vacancy:
    return await vacancies.update(session, vacancy, data)


@router.delete("/{vacancy_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(404))
async def delete_vacancy(vacancy: CurrentVacancy, session: SessionDep) -> Response:
    """Candidates and analyses that referred to the vacancy are kept, without the link."""
    await vacancies.delete(session, vacancy)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
