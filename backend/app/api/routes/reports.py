"""Hiring reports: the funnel, time to hire, time in stage, sources and rejection reasons; CSV and XLSX."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api.deps import SessionDep
from app.api.responses import errors
from app.schemas import DB_INT_MAX, ReportPublic
from app.services import reports
from app.services.reports import ExportFormat

router = APIRouter(prefix="/reports", tags=["reports"])

VacancyFilter = Annotated[int | None, Query(gt=0, le=DB_INT_MAX)]
Since = Annotated[date | None, Query(description="Candidates added on or after this day (Moscow time)")]
Until = Annotated[date | None, Query(description="Candidates added on or before this day (Moscow time)")]


@router.get("/", response_model=ReportPublic, responses=errors(404))
async def read_report(
    session: SessionDep, vacancy_id: VacancyFilter = None, since: Since = None, until: Until = None
) -> ReportPublic:
    return await reports.build(session, vacancy_id=vacancy_id, since=since, until=until)


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {media: {} for media in reports.MEDIA_TYPES.values()}}, **errors(404)},
)
async def export_report(
    session: SessionDep,
    format_: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.CSV,
    vacancy_id: VacancyFilter = None,
    since: Since = None,
    until: Until = None,
) -> Response:
    """The same numbers as `GET /reports/` as a download."""
    file = await reports.export(session, format_, vacancy_id=vacancy_id, since=since, until=until)
    return Response(
        file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.filename}"'},
    )
