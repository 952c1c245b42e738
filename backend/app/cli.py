"""`nexus-ai`: serve | db upgrade | db downgrade."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from app.core.config import ConfigError, Settings, get_settings
from app.core.logging import configure_logging


def _secrets(settings: Settings) -> list[str]:
    return [s.get_secret_value() for s in (settings.GIGACHAT_API_KEY, settings.OPENROUTER_API_KEY) if s is not None]


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None, proxy_headers=True)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nexus-ai", description="Nexus AI recruiting assistant")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(handler=_serve)

    db = sub.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations (default: to the newest)")
    up.add_argument("revision", nargs="?", default="head")
    down = db_sub.add_parser("downgrade", help="revert migrations to REVISION")
    down.add_argument("revision")
    db.set_defaults(handler=_db)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(f"nexus-ai: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.LOG_LEVEL, _secrets(settings))
    return int(args.handler(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
