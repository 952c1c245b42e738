"""`nexus-ai`: serve [--workers N] | db upgrade | db downgrade | create-user | ensure-admin | purge |
setup-gigachat | check | certs install."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import ConfigError, Settings, get_settings
from app.core.logging import configure_logging


def _secrets(settings: Settings) -> list[str]:
    values = (settings.GIGACHAT_API_KEY, settings.OPENROUTER_API_KEY, settings.FIRST_SUPERUSER_PASSWORD)
    secrets = [s.get_secret_value() for s in values if s is not None]
    if settings.GIGACHAT_API_KEY is not None:
        # The decoded `client_id:client_secret` must not leak either.
        secrets.extend(_decoded_parts(settings.GIGACHAT_API_KEY.get_secret_value()))
    return secrets


def _decoded_parts(key: str) -> list[str]:
    import base64

    decoded = base64.b64decode(key).decode("utf-8", "replace")
    return [decoded, *decoded.split(":", 1)]


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("должно быть не меньше 1")
    return number


def secrets_of(settings: Settings) -> list[str]:
    """The values every log handler must redact (for processes started outside `main`)."""
    return _secrets(settings)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.REDIS_URL:
        print("nexus-ai worker: REDIS_URL is not set; without it resumes are parsed inside the app", file=sys.stderr)
        return 2
    from taskiq.cli.worker.args import WorkerArgs
    from taskiq.cli.worker.run import run_worker

    argv = ["app.worker:broker", "--workers", str(args.workers)]
    argv += ["--max-async-tasks", str(settings.INTAKE_CONCURRENCY), "--max-prefetch", "0"]
    status = run_worker(WorkerArgs.from_cli(argv))
    return int(status or 0)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_served_app

    common = {
        "host": args.host,
        "port": args.port,
        "log_config": None,
        "proxy_headers": True,
        "timeout_graceful_shutdown": settings.SHUTDOWN_GRACE_SECONDS,
    }
    if args.workers == 1:
        uvicorn.run(create_served_app(settings), **common)
    else:
        # Each worker process builds its own app from the same environment; they share the database, so
        # the GigaChat limit, breaker, quota and turn leases hold across all of them.
        uvicorn.run("app.main:create_served_app", factory=True, workers=args.workers, **common)
    return 0


def _db(args: argparse.Namespace, settings: Settings) -> int:
    from app.core import migrations
    from app.core.db import create_engine

    async def run() -> None:
        engine = create_engine(settings)
        try:
            if args.db_command == "upgrade":
                await migrations.upgrade(engine, args.revision)
            else:
                await migrations.downgrade(engine, args.revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    target = "sqlite" if settings.is_sqlite else "postgresql"
    print(f"database ({target}) is at revision {args.revision}")
    return 0


def _with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[int]]) -> int:
    from app.core.db import create_engine, create_session_factory

    async def run() -> int:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    from app.core.errors import AppError
    from app.models import UserRole
    from app.services import users

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Пароль (не короче 10 символов): ")
        if getpass.getpass("Пароль ещё раз: ") != password:
            print("Пароли не совпадают", file=sys.stderr)
            return 1

    async def work(session: AsyncSession) -> int:
        try:
            user = await users.create(
                session, email=args.email, display_name=args.name, password=password, role=UserRole(args.role)
            )
        except (ValueError, AppError) as exc:
            print(getattr(exc, "detail", None) or str(exc), file=sys.stderr)
            return 1
        print(f"Создан пользователь {user.email} ({user.role})")
        return 0

    return _with_session(settings, work)


def _ensure_admin(args: argparse.Namespace, settings: Settings) -> int:
    from app.services.bootstrap import ensure_first_admin

    async def work(session: AsyncSession) -> int:
        admin = await ensure_first_admin(session, settings, generate=True)
        url = f"http://{args.host}:{args.port}/login"
        if admin is None:
            print(f"Вход: {url} (учётные записи уже есть; новые — `nexus-ai create-user`)")
        elif admin.password is None:
            print(f"Создан администратор {admin.email} с паролем из FIRST_SUPERUSER_PASSWORD. Вход: {url}")
        else:
            print(
                "\n  Создан первый администратор — сохраните пароль, он показывается один раз:\n"
                f"    логин:  {admin.email}\n    пароль: {admin.password}\n    вход:   {url}\n"
            )
        return 0

    return _with_session(settings, work)


def _purge(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from app.models import Candidate, utcnow
    from app.services import personal_data

    async def work(session: AsyncSession) -> int:
        if args.dry_run:
            due = await session.scalars(
                select(Candidate.id).where(Candidate.retention_until <= utcnow(), Candidate.erased_at.is_(None))
            )
            ids = list(due)
            print(f"Подлежат удалению: {len(ids)} {ids}")
            return 0
        purged = await personal_data.purge_due(session, settings)
        print(f"Удалены персональные данные кандидатов: {len(purged.erased)} {purged.erased}")
        print(f"Удалены несохранённые черновики резюме: {purged.drafts_removed}")
        return 0

    return _with_session(settings, work)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nexus-ai", description="Nexus AI recruiting assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default: 1)")
    serve.set_defaults(handler=_serve)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations (default: to the newest)")
    up.add_argument("revision", nargs="?", default="head")
    down = db_sub.add_parser("downgrade", help="revert migrations to REVISION")
    down.add_argument("revision")
    db.set_defaults(handler=_db)

    create_user = sub.add_parser("create-user", help="create a user (asks for the password)")
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--name", required=True, help="display name")
    create_user.add_argument("--role", choices=["admin", "recruiter"], default="recruiter")
    create_user.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create_user.set_defaults(handler=_create_user)

    ensure_admin = sub.add_parser(
        "ensure-admin", help="create the first admin if there are no users; print how to log in"
    )
    ensure_admin.add_argument("--host", default="127.0.0.1")
    ensure_admin.add_argument("--port", type=int, default=8000)
    ensure_admin.set_defaults(handler=_ensure_admin)

    worker = sub.add_parser("worker", help="run intake worker processes (with REDIS_URL)")
    worker.add_argument("--workers", type=int, default=2, help="worker processes")
    worker.set_defaults(handler=_worker)

    purge = sub.add_parser("purge", help="erase candidates whose retention date has passed (152-FZ)")
    purge.add_argument("--dry-run", action="store_true", help="only list who would be erased")
    purge.set_defaults(handler=_purge)

    _add_ops_commands(sub)
    return parser


def _add_ops_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Operator tools that must run while the configuration is still missing or broken, so they read
    settings themselves (from their `--env-file`) instead of getting them from `main`."""
    from app.ops import certs, check, setup

    setup_cmd = sub.add_parser("setup-gigachat", help="write GIGACHAT_API_KEY into .env from Client ID/Secret")
    setup.add_arguments(setup_cmd)
    setup_cmd.set_defaults(standalone=setup.run)

    check_cmd = sub.add_parser("check", help="step-by-step check of GigaChat and OpenRouter")
    check.add_arguments(check_cmd)
    check_cmd.set_defaults(standalone=check.run)

    certs_cmd = sub.add_parser("certs", help="TLS certificates for GigaChat")
    certs_sub = certs_cmd.add_subparsers(dest="certs_command", required=True)
    install = certs_sub.add_parser("install", help="download and install the Russian Trusted Root CA")
    certs.add_arguments(install)
    install.set_defaults(standalone=certs.run)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    standalone: Callable[[argparse.Namespace], int] | None = getattr(args, "standalone", None)
    if standalone is not None:
        return standalone(args)
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"nexus-ai: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.LOG_LEVEL, _secrets(settings), settings.LOG_FORMAT)
    return int(args.handler(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
