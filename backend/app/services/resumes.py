"""Resume files: type and size checks, text extraction (pypdf, python-docx), storage under RESUME_DIR.

A file on disk follows its database row: a replaced or deleted resume is removed only once the
transaction that stopped referring to it has committed, and a new file is removed if it rolls back.
"""

from __future__ import annotations

import io
import logging
import re
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Literal, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.core.config import Settings
from app.core.errors import NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from app.models import Candidate, utcnow

logger = logging.getLogger("app.resumes")

ResumeKind = Literal["pdf", "docx"]
CONTENT_TYPES: dict[ResumeKind, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
MAX_TEXT_CHARS = 200_000
"""The same limit as the `resume_text` field of the API."""

WRONG_TYPE = "Поддерживаются только резюме в формате PDF или DOCX"
OLD_WORD = "Файлы .doc не поддерживаются: сохраните резюме как DOCX или PDF"
EMPTY_FILE = "Файл пустой"
UNREADABLE = "Не удалось прочитать файл: он повреждён или защищён паролем"
NO_TEXT = "В файле не найден текст (возможно, это скан). Загрузите PDF с текстовым слоем или DOCX"
NO_FILE = "У кандидата нет загруженного файла резюме"
MAX_DOCX_PARTS = 2000
MAX_PDF_STREAM_BYTES = 10 * 1024 * 1024
"""A page's text operators are kilobytes; a stream that decodes past this is refused."""
MAX_XML_PART_BYTES = 5 * 1024 * 1024
"""Markup is parsed into a tree several times its size; a resume's document.xml is well under 1 MB."""


class Upload(Protocol):
    """What an uploaded file offers (FastAPI's UploadFile): a client-given name and chunked reads."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


class TooLargeUnpacked(Exception):
    """The file would unpack to more than the limits allow; `reason` says why, in Russian."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    unpacked_bytes: int
    ratio: int
    pages: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.RESUME_MAX_UNPACKED_BYTES, settings.RESUME_MAX_RATIO, settings.RESUME_MAX_PAGES)


@dataclass(frozen=True)
class ExtractedResume:
    kind: ResumeKind
    data: bytes
    text: str
    filename: str


def _too_big(settings: Settings) -> str:
    limit = settings.RESUME_MAX_BYTES
    size = f"{limit / 1024**2:.3g} МБ" if limit >= 1024**2 else f"{limit / 1024:.3g} КБ"
    return f"Файл слишком большой: допустимо не больше {size}"


def sniff(data: bytes) -> ResumeKind | None:
    """The type from the content itself: a client's file name and Content-Type prove nothing."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" in archive.namelist():
                    return "docx"
        except zipfile.BadZipFile:
            return None
    return None


def _megabytes(size: int) -> str:
    return f"{size / 1024**2:.3g} МБ"


def _pdf_text(data: bytes, limits: Limits) -> str:
    # Imported on first use, like python-docx below: together ~20 MB of memory that a server which never reads a
    # resume file does not need to hold.
    import pypdf

    # pypdf checks each decoded stream against its limit while decompressing, before it is all in memory.
    cap = min(limits.unpacked_bytes, MAX_PDF_STREAM_BYTES)
    overrides = {
        name: cap
        for name in (
            "maximum_declared_stream_length",
            "array_based_stream_maximum_output_length",
            "zlib_maximum_output_length",
            "lzw_maximum_output_length",
            "run_length_maximum_output_length",
            "jbig2_maximum_output_length",
            "brotli_maximum_output_length",
            "image_maximum_buffer_size",
            "flate_maximum_buffer_size",
        )
        if hasattr(pypdf.get_configuration(), name)
    }
    with pypdf.apply_configuration(None, **overrides):
        try:
            reader = pypdf.PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise ValueError("encrypted PDF")
            if len(reader.pages) > limits.pages:
                raise TooLargeUnpacked(f"в PDF больше {limits.pages} страниц")
            parts: list[str] = []
            total = 0
            for page in reader.pages:
                contents = page.get_contents()
                if contents is not None:
                    contents.get_data()  # text extraction would swallow a LimitReachedError and read nothing
                text = page.extract_text() or ""
                total += len(text)
                parts.append(text)
                if total > MAX_TEXT_CHARS:
                    break
        except pypdf.errors.LimitReachedError:
            raise TooLargeUnpacked(f"сжатые данные в PDF распаковываются больше чем в {_megabytes(cap)}") from None
    return "\n".join(parts)


def check_docx_archive(archive: zipfile.ZipFile, compressed_size: int, limits: Limits) -> None:
    """Refuse a DOCX whose parts would unpack too far, before any part is read.

    `zipfile` never yields more than a part's declared size (and fails on a CRC mismatch), so limits on the
    declared sizes also hold while the parts are being read, whatever the archive really contains.
    """
    members = archive.infolist()
    if len(members) > MAX_DOCX_PARTS:
        raise TooLargeUnpacked(f"в DOCX больше {MAX_DOCX_PARTS} частей")
    total = 0
    for member in members:
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.filename.endswith((".xml", ".rels")) and member.file_size > MAX_XML_PART_BYTES:
            raise TooLargeUnpacked(f"разметка документа в распакованном виде больше {_megabytes(MAX_XML_PART_BYTES)}")
        if member.file_size > 1024 * 1024 and ratio > limits.ratio:
            raise TooLargeUnpacked(f"часть файла сжата в {ratio:.0f} раз (допустимо не больше {limits.ratio})")
    if total > limits.unpacked_bytes:
        raise TooLargeUnpacked(
            f"файл распаковывается в {_megabytes(total)}, допустимо {_megabytes(limits.unpacked_bytes)}"
        )
    if total > max(compressed_size, 1) * limits.ratio and total > 1024 * 1024:
        raise TooLargeUnpacked(f"файл сжат в {total / compressed_size:.0f} раз (допустимо не больше {limits.ratio})")


def _docx_text(data: bytes, limits: Limits) -> str:
    import docx  # on first use, see _pdf_text

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        check_docx_archive(archive, len(data), limits)
    document = docx.Document(io.BytesIO(data))
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def extract_text(kind: ResumeKind, data: bytes, limits: Limits) -> str:
    raw = _pdf_text(data, limits) if kind == "pdf" else _docx_text(data, limits)
    text = raw.replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip()[:MAX_TEXT_CHARS]


def _clean_filename(name: str | None, kind: ResumeKind) -> str:
    """The client's name without a path or control characters, and always the extension of what it really is."""
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    base = re.sub(r"[\x00-\x1f\x7f]", "", base)
    stem = PurePath(base).stem if PurePath(base).suffix else base
    stem = stem.strip(" .")[:200] or "resume"
    return f"{stem}.{kind}"


async def read_upload(upload: Upload, settings: Settings) -> ExtractedResume:
    """Check size and type and extract the text; raise a 4xx with a message a recruiter can act on."""
    data = await upload.read(settings.RESUME_MAX_BYTES + 1)
    if len(data) > settings.RESUME_MAX_BYTES:
        raise PayloadTooLarge(_too_big(settings))
    if not data:
        raise Unprocessable(EMPTY_FILE, field="body.file")
    kind = sniff(data)
    if kind is None:
        message = OLD_WORD if data.startswith(b"\xd0\xcf\x11\xe0") else WRONG_TYPE
        raise UnsupportedMediaType(message)
    try:
        # Parsing is CPU-bound and a crafted file can be slow: keep it off the event loop.
        text = await run_in_threadpool(extract_text, kind, data, Limits.from_settings(settings))
    except TooLargeUnpacked as exc:
        logger.info("refused %s upload: too large unpacked", kind)
        raise PayloadTooLarge(f"Файл не принят: {exc.reason}. Сохраните резюме заново и загрузите ещё раз") from None
    except Exception as exc:
        logger.info("unreadable %s upload: %s", kind, type(exc).__name__)
        raise Unprocessable(UNREADABLE) from None
    if not text:
        raise Unprocessable(NO_TEXT)
    return ExtractedResume(kind=kind, data=data, text=text, filename=_clean_filename(upload.filename, kind))


def remove_file(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        logger.warning("could not remove resume file %s: %s", path.name, exc)


def on_outcome(
    session: AsyncSession,
    *,
    committed: Callable[[], None] | None = None,
    rolled_back: Callable[[], None] | None = None,
) -> None:
    """Run one of two callbacks when the session's current transaction ends, whichever way it ends."""
    decided = False

    def after_commit(_: Session) -> None:
        nonlocal decided
        if not decided:
            decided = True
            if committed is not None:
                committed()

    def after_rollback(_: Session, _previous: object) -> None:
        nonlocal decided
        if not decided:
            decided = True
            if rolled_back is not None:
                rolled_back()

    event.listen(session.sync_session, "after_commit", after_commit)
    event.listen(session.sync_session, "after_soft_rollback", after_rollback)


def remove_after_commit(session: AsyncSession, path: Path) -> None:
    on_outcome(session, committed=lambda: remove_file(path))


def stored_path(settings: Settings, candidate: Candidate) -> Path | None:
    if not candidate.resume_file:
        return None
    return settings.resume_dir / candidate.resume_file


async def attach(session: AsyncSession, settings: Settings, candidate: Candidate, resume: ExtractedResume) -> None:
    """Store the file, point the candidate at it and replace the resume text with the extracted one."""
    directory = settings.resume_dir
    name = f"{candidate.id}-{uuid.uuid4().hex}.{resume.kind}"
    await run_in_threadpool(directory.mkdir, parents=True, exist_ok=True)
    path = directory / name
    await run_in_threadpool(path.write_bytes, resume.data)
    previous = stored_path(settings, candidate)
    on_outcome(
        session,
        committed=(lambda: remove_file(previous)) if previous is not None else None,
        rolled_back=lambda: remove_file(path),
    )
    candidate.resume_file = name
    candidate.resume_filename = resume.filename
    candidate.resume_content_type = CONTENT_TYPES[resume.kind]
    candidate.resume_size = len(resume.data)
    candidate.resume_uploaded_at = utcnow()
    candidate.resume_text = resume.text
    await session.flush()


@dataclass(frozen=True)
class Download:
    path: Path
    media_type: str
    filename: str


def _sniff_file(path: Path) -> ResumeKind | None:
    with path.open("rb") as file:
        head = file.read(8)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                return "docx" if "word/document.xml" in archive.namelist() else None
        except zipfile.BadZipFile:
            return None
    return None


def download_or_404(settings: Settings, candidate: Candidate) -> Download:
    """The stored file, typed and named after what its content is, whatever name the uploader gave it."""
    path = stored_path(settings, candidate)
    if path is None or not path.is_file():
        raise NotFound(NO_FILE)
    kind = _sniff_file(path)
    if kind is None:
        logger.warning("stored resume %s is neither PDF nor DOCX", path.name)
        raise NotFound(NO_FILE)
    return Download(path, CONTENT_TYPES[kind], _clean_filename(candidate.resume_filename, kind))
