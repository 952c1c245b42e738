"""Hiring reports over the stored pipeline history, and their CSV and XLSX exports.

The cohort is the candidates created in the period (Moscow days, inclusive), optionally of one vacancy;
erased candidates are left out (their history is destroyed). Definitions:
- funnel: a candidate *reached* a stage if their history ever took them to it or further along
  new → screening → interview → offer → hired; conversion is reached / reached at the previous step;
- time to hire: days from being added to the first move to «Принят»;
- time in stage: the average of finished stays (entered, then moved on), in days;
- sources: the cohort by `source` and where each candidate is now;
- rejection reasons: the current reason of every rejected candidate, grouped case-insensitively.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.models import Candidate, Stage, StageChange, Vacancy
from app.schemas import FunnelStep, ReasonRow, ReportPublic, SourceRow, StageDuration, TimeToHire
from app.services import vacancies
from app.services.candidates import STAGE_TITLES

REPORT_ZONE = ZoneInfo("Europe/Moscow")
PIPELINE = (Stage.NEW, Stage.SCREENING, Stage.INTERVIEW, Stage.OFFER, Stage.HIRED)
NO_SOURCE = "Не указан"
SECONDS_PER_DAY = 86_400.0


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=REPORT_ZONE)


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / SECONDS_PER_DAY


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def build(
    session: AsyncSession, *, vacancy_id: int | None, since: date | None, until: date | None
) -> ReportPublic:
    query = select(Candidate).where(Candidate.erased_at.is_(None))
    if vacancy_id is not None:
        query = query.where(Candidate.vacancy_id == vacancy_id)
    if since is not None:
        query = query.where(Candidate.created_at >= _day_start(since))
    if until is not None:
        query = query.where(Candidate.created_at < _day_start(until + timedelta(days=1)))
    cohort = list(await session.scalars(query.order_by(Candidate.id)))
    ids = [c.id for c in cohort]
    history: dict[int, list[StageChange]] = defaultdict(list)
    if ids:
        changes = await session.scalars(
            select(StageChange)
            .where(StageChange.candidate_id.in_(ids))
            .order_by(StageChange.candidate_id, StageChange.changed_at, StageChange.id)
        )
        for change in changes:
            history[change.candidate_id].append(change)

    reached = Counter[Stage]()
    hire_days: list[float] = []
    stays: dict[Stage, list[float]] = defaultdict(list)
    for candidate in cohort:
        moves = history.get(candidate.id, [])
        furthest = 0
        for change in moves:
            stage = Stage(change.to_stage)
            if stage in PIPELINE:
                furthest = max(furthest, PIPELINE.index(stage))
        for step in PIPELINE[: furthest + 1]:
            reached[step] += 1
        hired_at = next((m.changed_at for m in moves if m.to_stage == Stage.HIRED.value), None)
        if hired_at is not None:
            hire_days.append(_days(hired_at - candidate.created_at))
        for entered, left in pairwise(moves):
            stays[Stage(entered.to_stage)].append(_days(left.changed_at - entered.changed_at))

    funnel = []
    previous: int | None = None
    for step in PIPELINE:
        count = reached[step]
        conversion = None if previous is None else (round(count / previous, 4) if previous else 0.0)
        funnel.append(FunnelStep(stage=step, title=STAGE_TITLES[step], reached=count, conversion=conversion))
        previous = count

    by_source: dict[str, SourceRow] = {}
    for candidate in cohort:
        name = (candidate.source or "").strip() or NO_SOURCE
        row = by_source.setdefault(name, SourceRow(source=name, candidates=0, in_progress=0, hired=0, rejected=0))
        row.candidates += 1
        if candidate.stage == Stage.HIRED.value:
            row.hired += 1
        elif candidate.stage == Stage.REJECTED.value:
            row.rejected += 1
        else:
            row.in_progress += 1

    reasons: dict[str, ReasonRow] = {}
    for candidate in cohort:
        if candidate.stage != Stage.REJECTED.value:
            continue
        text = " ".join((candidate.rejection_reason or "").split()) or "Без причины"
        row_ = reasons.setdefault(text.casefold(), ReasonRow(reason=text, count=0))
        row_.count += 1

    return ReportPublic(
        vacancy_id=vacancy_id,
        since=since,
        until=until,
        candidates=len(cohort),
        funnel=funnel,
        time_to_hire=TimeToHire(
            hired=len(hire_days),
            average_days=_round(statistics.fmean(hire_days)) if hire_days else None,
            median_days=_round(statistics.median(hire_days)) if hire_days else None,
        ),
        time_in_stage=[
            StageDuration(
                stage=stage,
                title=STAGE_TITLES[stage],
                stays=len(stays[stage]),
                average_days=_round(statistics.fmean(stays[stage])) if stays[stage] else None,
            )
            for stage in PIPELINE[:-1]
        ],
        sources=sorted(by_source.values(), key=lambda r: (-r.candidates, r.source)),
        rejection_reasons=sorted(reasons.values(), key=lambda r: (-r.count, r.reason)),
    )


# --- exports -------------------------------------------------------------------------------------------

Table = tuple[str, list[str], list[list[object]]]


def _percent(value: float | None) -> object:
    return "" if value is None else round(value * 100, 1)


def tables(report: ReportPublic) -> list[Table]:
    """The report as titled tables, the same for CSV and XLSX."""
    return [
        (
            "Воронка",
            ["Этап", "Дошли до этапа", "Конверсия из предыдущего, %"],
            [[s.title, s.reached, _percent(s.conversion)] for s in report.funnel],
        ),
        (
            "Время до найма",
            ["Нанято", "В среднем, дней", "Медиана, дней"],
            [
                [
                    report.time_to_hire.hired,
                    "" if report.time_to_hire.average_days is None else report.time_to_hire.average_days,
                    "" if report.time_to_hire.median_days is None else report.time_to_hire.median_days,
                ]
            ],
        ),
        (
            "Время на этапе",
            ["Этап", "Завершённых пребываний", "В среднем, дней"],
            [[d.title, d.stays, "" if d.average_days is None else d.average_days] for d in report.time_in_stage],
        ),
        (
            "Источники",
            ["Источник", "Кандидатов", "В работе", "Приняты", "Отказ"],
            [[r.source, r.candidates, r.in_progress, r.hired, r.rejected] for r in report.sources],
        ),
        ("Причины отказа", ["Причина", "Кандидатов"], [[r.reason, r.count] for r in report.rejection_reasons]),
    ]


def _period(report: ReportPublic) -> str:
    since = report.since.isoformat() if report.since else "начала"
    until = report.until.isoformat() if report.until else "сегодня"
    return f"с {since} по {until}"


def to_csv(report: ReportPublic, vacancy_title: str | None) -> bytes:
    """Sections one after another, each with its title and header row; UTF-8 with a BOM so Excel reads Cyrillic."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["Отчёт по подбору", vacancy_title or "Все вакансии", _period(report)])
    writer.writerow(["Кандидатов в периоде", report.candidates])
    for title, header, rows in tables(report):
        writer.writerow([])
        writer.writerow([title])
        writer.writerow(header)
        writer.writerows(rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: ReportPublic, vacancy_title: str | None) -> bytes:
    """One sheet per table, numbers stored as numbers."""
    # Imported here: openpyxl adds about 9 MB to every server process, and only this export needs it.
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    summary = workbook.active
    assert summary is not None
    summary.title = "Сводка"
    summary.append(["Отчёт по подбору"])
    summary.append(["Вакансия", vacancy_title or "Все вакансии"])
    summary.append(["Период", _period(report)])
    summary.append(["Кандидатов в периоде", report.candidates])
    summary["A1"].font = Font(bold=True)
    for title, header, rows in tables(report):
        sheet = workbook.create_sheet(title)
        sheet.append(header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(row)
        for index, column in enumerate(header, start=1):
            width = max([len(column), *(len(str(r[index - 1])) for r in rows)]) + 2
            sheet.column_dimensions[sheet.cell(row=1, column=index).column_letter].width = min(width, 60)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


class ExportFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    media_type: str
    filename: str


async def export(
    session: AsyncSession, fmt: ExportFormat, *, vacancy_id: int | None, since: date | None, until: date | None
) -> ExportFile:
    report = await build(session, vacancy_id=vacancy_id, since=since, until=until)
    vacancy = await session.get(Vacancy, vacancy_id) if vacancy_id is not None else None
    if vacancy_id is not None and vacancy is None:
        raise NotFound(vacancies.NOT_FOUND)
    title = vacancy.title if vacancy else None
    content = to_csv(report, title) if fmt is ExportFormat.CSV else to_xlsx(report, title)
    stamp = datetime.now(REPORT_ZONE).date().isoformat()
    return ExportFile(content, MEDIA_TYPES[fmt], f"report-{stamp}.{fmt.value}")
