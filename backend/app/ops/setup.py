"""`python setup_gigachat.py` / `nexus-ai setup-gigachat`: Client ID + Client Secret → GIGACHAT_API_KEY in `.env`.

The secret is read without echo (or from stdin) and only ever written into `.env` as part of the key.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from app.core.config import GigaChatScope
from app.ops.envfile import DEFAULT_ENV_FILE, mask, update_env_file

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SCOPES = [scope.value for scope in GigaChatScope]


class SetupError(ValueError):
    pass


def build_key(client_id: str, client_secret: str) -> str:
    """The authorization key exactly as the guide builds it."""
    client_id, client_secret = client_id.strip(), client_secret.strip()
    if not _UUID.match(client_id):
        raise SetupError("Client ID должен быть UUID вида 019b9dbd-68f9-7cb0-a899-792120ee2477")
    if not client_secret:
        raise SetupError("Client Secret пустой")
    return base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


def parse_scope(value: str) -> str:
    """`PERS`, `b2b` and the full names are all accepted: operators type the short form."""
    candidate = value.strip().upper()
    if not candidate.startswith("GIGACHAT_API_"):
        candidate = f"GIGACHAT_API_{candidate}"
    if candidate not in SCOPES:
        raise argparse.ArgumentTypeError(f"scope должен быть одним из: {', '.join(SCOPES)}")
    return candidate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client-id", help="Client ID из developers.sber.ru/studio (UUID)")
    parser.add_argument(
        "--secret-stdin", action="store_true", help="прочитать Client Secret из первой строки stdin (без запроса)"
    )
    parser.add_argument(
        "--scope", type=parse_scope, help="GIGACHAT_API_PERS (по умолчанию), GIGACHAT_API_B2B или GIGACHAT_API_CORP"
    )
    parser.add_argument(
        "--env-file", type=Path, default=DEFAULT_ENV_FILE, help=f"файл настроек (по умолчанию {DEFAULT_ENV_FILE})"
    )
    parser.add_argument("--print", action="store_true", help="только показать ключ, .env не менять")
    parser.add_argument("--show", action="store_true", help="с --print: показать ключ целиком (он равносилен секрету!)")


def run(args: argparse.Namespace) -> int:
    interactive = not args.secret_stdin and sys.stdin.isatty()
    try:
        client_id = args.client_id or input("Client ID: ")
        if args.secret_stdin:
            secret = sys.stdin.readline().rstrip("\r\n")
        else:
            secret = getpass.getpass("Client Secret (не отображается): ")
        scope = args.scope
        if scope is None and interactive and not args.print:
            answer = input(f"Scope [{GigaChatScope.PERS.value}]: ").strip()
            scope = parse_scope(answer) if answer else None
        key = build_key(client_id, secret)
    except (SetupError, argparse.ArgumentTypeError) as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return 1
    except (EOFError, KeyboardInterrupt):
        print("\n✗ прервано, ничего не записано", file=sys.stderr)
        return 1
    scope = scope or GigaChatScope.PERS.value

    if args.print:
        if args.show:
            print("Внимание: ключ равносилен Client Secret — не публикуйте его.", file=sys.stderr)
            print(key)
        else:
            print(f"GIGACHAT_API_KEY: {mask(key)} (целиком: --print --show)")
        return 0

    env_file: Path = args.env_file.resolve()
    try:
        update_env_file(env_file, {"GIGACHAT_API_KEY": key, "GIGACHAT_SCOPE": scope})
    except OSError as exc:
        print(f"✗ не удалось записать {env_file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"✓ GIGACHAT_API_KEY записан в {env_file} (ключ {mask(key)}, права 0600)")
    print(f"✓ GIGACHAT_SCOPE={scope}")
    print("Проверьте подключение: python test_gigachat.py" + _env_hint(env_file))
    return 0


def _env_hint(env_file: Path) -> str:
    return "" if env_file == DEFAULT_ENV_FILE.resolve() else f" --env-file {env_file}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="setup_gigachat.py", description="Записать GIGACHAT_API_KEY (base64 от Client ID:Client Secret) в .env"
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
