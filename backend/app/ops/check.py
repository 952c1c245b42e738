"""`python test_gigachat.py` / `nexus-ai check`: step-by-step diagnosis of the provider chain.

configuration → TLS handshake → OAuth token → models → chat (GigaChat), then models → chat (OpenRouter).
Each step prints one line; a known failure also prints the guide's advice. Exit code 0 only when every
configured provider works, because a silently broken GigaChat behind a working fallback is exactly what
an operator runs this to find.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from app.ai.errors import ErrorKind, ProviderError, collect_text
from app.ai.types import LLMRequest
from app.core.config import ConfigError, Settings, load_settings
from app.ops.envfile import DEFAULT_ENV_FILE, mask

if TYPE_CHECKING:
    from app.ai.providers.openrouter import OpenRouterService

# The provider SDKs are imported inside the steps: `nexus-ai` builds this command's parser for every
# subcommand, and importing `openai` alone costs most of a second.

Status = Literal["ok", "fail", "warn", "skip"]
MARKS: dict[Status, str] = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "–"}
PROBE = [{"role": "user", "content": "Ответь одним словом: связь есть?"}]
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

ADVICE_KEY = (
    "Ключ не принят (401). Пересоздайте Client Secret на https://developers.sber.ru/studio/ "
    "(«Авторизационные данные»), выполните `python setup_gigachat.py` — он обновит GIGACHAT_API_KEY в .env — "
    "и перезапустите backend."
)
ADVICE_SCOPE = (
    "scope не соответствует ключу (OAuth code 7). Укажите в GIGACHAT_SCOPE тот, для которого выпущен ключ: "
    "GIGACHAT_API_PERS (физлица), GIGACHAT_API_B2B (юрлица, пакеты) или GIGACHAT_API_CORP (юрлица, "
    "оплата по факту) — например, `python setup_gigachat.py --scope B2B`."
)
ADVICE_TLS = (
    "Сертификат сервера не проверен (CERTIFICATE_VERIFY_FAILED): установите корневой сертификат НУЦ Минцифры "
    "(Russian Trusted Root CA) командой `nexus-ai certs install` или вручную (docs/tls.md) и укажите путь "
    "в GIGACHAT_CA_BUNDLE_FILE. Не отключайте проверку (GIGACHAT_VERIFY_SSL_CERTS=false) в production."
)
ADVICE_RATE = (
    "429: персональный ключ (PERS) допускает только один запрос одновременно — остановите другие процессы "
    "с этим ключом (например, запущенный backend) и повторите; либо исчерпан дневной лимит — проверьте "
    "его на https://developers.sber.ru/studio/."
)
ADVICE_PAYMENT = "402: пакет токенов исчерпан — пополните или подключите пакет на https://developers.sber.ru/studio/."
ADVICE_NETWORK = "Сервер недоступен (соединение отклонено, DNS или таймаут): проверьте сеть, прокси и адреса {urls}."
ADVICE_OPENROUTER_KEY = "Ключ OpenRouter не принят: проверьте OPENROUTER_API_KEY (https://openrouter.ai/keys)."
ADVICE_OPENROUTER_PAYMENT = "402: на счёте OpenRouter нет средств — пополните баланс или выберите модель «:free»."
ADVICE_OPENROUTER_RATE = "429: лимит запросов OpenRouter (у моделей «:free» — дневной лимит); повторите позже."
ADVICE_SETUP = "Запустите `python setup_gigachat.py` — он соберёт GIGACHAT_API_KEY из Client ID и Client Secret."
ADVICE_CA_FILE = "Установите сертификат командой `nexus-ai certs install` или исправьте путь (docs/tls.md)."


@dataclass
class Step:
    provider: str
    step: str
    status: Status
    message: str
    advice: str | None = None
    latency_ms: int | None = None

    def line(self) -> str:
        text = f"{MARKS[self.status]} {self.message}"
        if self.advice:
            text += f"\n    → {self.advice}"
        return text


@dataclass
class Report:
    env_file: str
    emit: Callable[[Step], None] = field(repr=False)
    steps: list[Step] = field(default_factory=list)
    exit_code: int = EXIT_OK

    def add(self, step: Step) -> Step:
        self.steps.append(step)
        if step.status == "fail" and self.exit_code == EXIT_OK:
            self.exit_code = EXIT_FAILED
        self.emit(step)
        return step

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.exit_code == EXIT_OK,
            "exit_code": self.exit_code,
            "env_file": self.env_file,
            "steps": [asdict(step) for step in self.steps],
        }


def gigachat_advice(error: ProviderError) -> str | None:
    detail = error.detail or ""
    if error.kind is ErrorKind.TLS:
        return ADVICE_TLS
    if "(code 7)" in detail or "scope" in detail.lower():
        return ADVICE_SCOPE
    if error.status == 401 or "credentials doesn't match" in detail:
        return ADVICE_KEY
    if error.status == 429:
        return ADVICE_RATE
    if error.status == 402:
        return ADVICE_PAYMENT
    if error.kind in (ErrorKind.CONNECT, ErrorKind.TIMEOUT):
        return ADVICE_NETWORK.format(urls="GIGACHAT_AUTH_URL / GIGACHAT_BASE_URL")
    if error.status == 404:
        return "404: проверьте GIGACHAT_BASE_URL и GIGACHAT_MODEL."
    return None


def openrouter_advice(error: ProviderError) -> str | None:
    if error.status in (401, 403):
        return ADVICE_OPENROUTER_KEY
    if error.status == 402:
        return ADVICE_OPENROUTER_PAYMENT
    if error.status == 429:
        return ADVICE_OPENROUTER_RATE
    if error.kind in (ErrorKind.CONNECT, ErrorKind.TIMEOUT):
        return ADVICE_NETWORK.format(urls="OPENROUTER_BASE_URL")
    if error.status == 404:
        return "404: проверьте OPENROUTER_BASE_URL и OPENROUTER_MODEL."
    return None


def config_advice(message: str) -> str | None:
    if "GIGACHAT_API_KEY" in message:
        return ADVICE_SETUP
    if "GIGACHAT_CA_BUNDLE_FILE" in message:
        return ADVICE_CA_FILE
    if "GIGACHAT_SCOPE" in message:
        return ADVICE_SCOPE
    return None


# --- steps -------------------------------------------------------------------------------------------


def _endpoints(settings: Settings) -> list[tuple[str, str, int]]:
    """(scheme, host, port) of the OAuth and API hosts, each once."""
    seen: list[tuple[str, str, int]] = []
    for url in (settings.GIGACHAT_AUTH_URL, settings.GIGACHAT_BASE_URL):
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        endpoint = (scheme, host, parts.port or (443 if scheme == "https" else 80))
        if endpoint not in seen:
            seen.append(endpoint)
    return seen


def _handshake(context: ssl.SSLContext, host: str, port: int, timeout: float) -> str:
    with (
        socket.create_connection((host, port), timeout=timeout) as sock,
        context.wrap_socket(sock, server_hostname=host) as tls,
    ):
        return tls.version() or "TLS"


async def check_tls(settings: Settings, report: Report, timeout: float) -> bool:
    from app.ai.providers import gigachat as giga

    context = giga.build_ssl_context(settings)
    ca = str(settings.GIGACHAT_CA_BUNDLE_FILE) if settings.GIGACHAT_CA_BUNDLE_FILE else "системные + certifi"
    passed = True
    for scheme, host, port in _endpoints(settings):
        where = f"{host}:{port}"
        if scheme != "https":
            report.add(Step("gigachat", "tls", "skip", f"TLS {where}: адрес http, проверка пропущена"))
            continue
        if context is None:
            report.add(
                Step(
                    "gigachat",
                    "tls",
                    "warn",
                    f"TLS {where}: проверка сертификатов отключена (GIGACHAT_VERIFY_SSL_CERTS=false) — "
                    "только для разработки",
                )
            )
            continue
        try:
            version = await asyncio.to_thread(_handshake, context, host, port, timeout)
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or exc.reason or "сертификат не проверен"
            report.add(
                Step("gigachat", "tls", "fail", f"TLS {where}: CERTIFICATE_VERIFY_FAILED ({reason})", ADVICE_TLS)
            )
            passed = False
        except socket.gaierror:
            advice = ADVICE_NETWORK.format(urls="GIGACHAT_AUTH_URL / GIGACHAT_BASE_URL")
            report.add(Step("gigachat", "tls", "fail", f"TLS {where}: имя {host} не найдено (DNS)", advice))
            passed = False
        except (OSError, ssl.SSLError) as exc:
            advice = ADVICE_NETWORK.format(urls="GIGACHAT_AUTH_URL / GIGACHAT_BASE_URL")
            reason = exc.strerror or type(exc).__name__
            report.add(Step("gigachat", "tls", "fail", f"TLS {where}: нет соединения ({reason})", advice))
            passed = False
        else:
            report.add(Step("gigachat", "tls", "ok", f"TLS {where}: {version}, сертификат проверен (CA: {ca})"))
    return passed


def _expiry(expires_at: int) -> str:
    # The API documents milliseconds, but some doc examples show seconds.
    seconds = expires_at / 1000 if expires_at > 10**12 else expires_at
    return datetime.fromtimestamp(seconds).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


async def check_gigachat(settings: Settings, report: Report, timeout: float) -> None:
    from app.ai.providers import gigachat as giga

    if not await check_tls(settings, report, timeout):
        return
    service = giga.GigaChatService(settings)
    step = "oauth"
    try:
        token = await asyncio.wait_for(service.client.aget_token(), timeout)
        if token is None:
            raise ProviderError(ErrorKind.AUTH, "сервер не выдал токен")
        report.add(
            Step(
                "gigachat",
                "oauth",
                "ok",
                f"OAuth ({settings.GIGACHAT_SCOPE.value}): Token: {token.access_token[:20]}…, "
                f"действует до {_expiry(token.expires_at)}",
            )
        )
        step = "models"
        models = await asyncio.wait_for(service.client.aget_models(), timeout)
        ids = [model.id_ for model in models.data]
        if settings.GIGACHAT_MODEL in ids:
            report.add(Step("gigachat", "models", "ok", f"Модели GigaChat: {len(ids)}, {settings.GIGACHAT_MODEL} есть"))
        else:
            report.add(
                Step(
                    "gigachat",
                    "models",
                    "warn",
                    f"Модели GigaChat: {settings.GIGACHAT_MODEL} нет в списке ({', '.join(ids)})",
                    "Укажите в GIGACHAT_MODEL одну из доступных моделей.",
                )
            )
        step = "chat"
        started = time.monotonic()
        text = await asyncio.wait_for(service.complete(PROBE, max_tokens=32), timeout)
        latency = round((time.monotonic() - started) * 1000)
        report.add(
            Step("gigachat", "chat", "ok", f"Чат GigaChat: ответ за {latency} мс: «{_short(text)}»", latency_ms=latency)
        )
    except Exception as exc:
        error = _as_provider_error(exc, giga.translate_error)
        report.add(
            Step(
                "gigachat",
                step,
                "fail",
                f"{_TITLES[step]} GigaChat: {error.describe()}",
                gigachat_advice(error),
            )
        )
    finally:
        await service.aclose()


async def check_openrouter(settings: Settings, report: Report, timeout: float) -> None:
    from app.ai.providers import openrouter

    service = openrouter.OpenRouterService(settings)
    step = "models"
    try:
        page = await asyncio.wait_for(service.client.models.list(), timeout)
        ids = [model.id for model in page.data]
        if settings.OPENROUTER_MODEL in ids:
            report.add(
                Step("openrouter", "models", "ok", f"Модели OpenRouter: {len(ids)}, {settings.OPENROUTER_MODEL} есть")
            )
        else:
            report.add(
                Step(
                    "openrouter",
                    "models",
                    "warn",
                    f"Модели OpenRouter: {settings.OPENROUTER_MODEL} нет в списке из {len(ids)}",
                    "Проверьте OPENROUTER_MODEL (https://openrouter.ai/models).",
                )
            )
        step = "chat"
        started = time.monotonic()
        text = await asyncio.wait_for(_collect(service, LLMRequest(PROBE, 0.7, 32)), timeout)
        latency = round((time.monotonic() - started) * 1000)
        report.add(
            Step(
                "openrouter",
                "chat",
                "ok",
                f"Чат OpenRouter: ответ за {latency} мс: «{_short(text)}»",
                latency_ms=latency,
            )
        )
    except Exception as exc:
        error = _as_provider_error(exc, openrouter.translate_error)
        report.add(
            Step(
                "openrouter", step, "fail", f"{_TITLES[step]} OpenRouter: {error.describe()}", openrouter_advice(error)
            )
        )
    finally:
        await service.aclose()


_TITLES = {"oauth": "OAuth", "models": "Модели", "chat": "Чат"}


async def _collect(service: OpenRouterService, request: LLMRequest) -> str:
    return await collect_text(service.stream(request))


def _as_provider_error(exc: Exception, translate: Callable[[BaseException], ProviderError]) -> ProviderError:
    if isinstance(exc, TimeoutError):
        return ProviderError(ErrorKind.TIMEOUT, "нет ответа за отведённое время")
    return translate(exc)


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- orchestration -----------------------------------------------------------------------------------


async def diagnose(env_file: Path, emit: Callable[[Step], None], timeout: float = 30.0) -> Report:
    report = Report(str(env_file), emit)
    try:
        settings = load_settings(_env_file=env_file)
    except ConfigError as exc:
        report.add(Step("config", "config", "fail", str(exc), config_advice(str(exc))))
        report.exit_code = EXIT_CONFIG
        return report
    if not settings.gigachat_configured and not settings.openrouter_configured:
        report.add(
            Step(
                "config",
                "config",
                "fail",
                "Не настроен ни GigaChat, ни OpenRouter",
                ADVICE_SETUP + " Или задайте OPENROUTER_API_KEY.",
            )
        )
        report.exit_code = EXIT_CONFIG
        return report
    source = str(env_file) if env_file.is_file() else f"{env_file} не найден, только переменные окружения"
    report.add(Step("config", "config", "ok", f"Конфигурация прочитана ({source})"))

    if settings.gigachat_configured:
        assert settings.GIGACHAT_API_KEY is not None
        key = mask(settings.GIGACHAT_API_KEY.get_secret_value())
        report.add(
            Step(
                "gigachat",
                "config",
                "ok",
                f"GigaChat: ключ {key}, scope {settings.GIGACHAT_SCOPE.value}, модель {settings.GIGACHAT_MODEL}",
            )
        )
        await check_gigachat(settings, report, timeout)
    else:
        reason = "USE_GIGACHAT=false" if not settings.USE_GIGACHAT else "GIGACHAT_API_KEY не задан"
        report.add(Step("gigachat", "config", "skip", f"GigaChat пропущен: {reason}"))

    if settings.openrouter_configured:
        assert settings.OPENROUTER_API_KEY is not None
        key = mask(settings.OPENROUTER_API_KEY.get_secret_value())
        report.add(Step("openrouter", "config", "ok", f"OpenRouter: ключ {key}, модель {settings.OPENROUTER_MODEL}"))
        await check_openrouter(settings, report, timeout)
    else:
        report.add(
            Step("openrouter", "config", "skip", "OpenRouter (запасной) не настроен: OPENROUTER_API_KEY не задан")
        )
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env-file", type=Path, default=DEFAULT_ENV_FILE, help=f"файл настроек (по умолчанию {DEFAULT_ENV_FILE})"
    )
    parser.add_argument("--json", action="store_true", help="машиночитаемый отчёт в stdout")
    parser.add_argument("--timeout", type=float, default=30.0, help="секунд на каждый шаг (по умолчанию 30)")


def run(args: argparse.Namespace) -> int:
    as_json: bool = args.json

    def emit(step: Step) -> None:
        if not as_json:
            print(step.line(), flush=True)

    report = asyncio.run(diagnose(args.env_file.resolve(), emit, args.timeout))
    if as_json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    elif report.exit_code == EXIT_OK:
        print("Итог: всё работает")
    else:
        print("Итог: есть ошибки — см. строки с ✗", file=sys.stderr)
    return report.exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test_gigachat.py", description="Пошаговая проверка GigaChat и OpenRouter")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
