"""`test_gigachat.py`: each known failure gets the guide's advice and a non-zero exit; TLS with a throwaway CA."""

from __future__ import annotations

import json

import pytest

from app.ai.errors import ErrorKind
from app.ai.providers.gigachat import GigaChatService
from app.core.config import Settings
from tests.fake_upstream import FakeUpstream, Fault
from tests.ops.conftest import Scripts, ThrowawayCA, closed_port, upstream_env
from tests.utils.providers import gigachat_failure

PROBE = [{"role": "user", "content": "Привет"}]


def failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("✗")]


def test_wrong_secret_says_regenerate_the_key(fake: FakeUpstream, scripts: Scripts) -> None:
    assert scripts.setup(fake.client_id, "wrong-secret").returncode == 0
    check = scripts.check(env=upstream_env(fake))
    assert check.returncode == 1
    assert failed_lines(check.stdout) == [
        "✗ OAuth GigaChat: ошибка авторизации (HTTP 401): credentials doesn't match db data (code 6)"
    ]
    assert "developers.sber.ru/studio" in check.stdout and "GIGACHAT_API_KEY" in check.stdout
    assert "✓ Чат OpenRouter" in check.stdout, "the fallback is still checked"


def test_wrong_scope_says_match_the_scope(fake: FakeUpstream, scripts: Scripts) -> None:
    assert scripts.setup(fake.client_id, fake.client_secret, "--scope", "B2B").returncode == 0
    check = scripts.check(env=upstream_env(fake))
    assert check.returncode == 1
    [line] = failed_lines(check.stdout)
    assert line.startswith("✗ OAuth GigaChat") and "(code 7)" in line
    assert "OAuth code 7" in check.stdout and "GIGACHAT_SCOPE" in check.stdout


@pytest.mark.parametrize(
    ("code", "advice"),
    [(429, "только один запрос одновременно"), (402, "пакет токенов исчерпан")],
)
def test_chat_errors_get_their_advice(fake: FakeUpstream, scripts: Scripts, code: int, advice: str) -> None:
    fake.gigachat.push(Fault.status(code))
    assert scripts.setup(fake.client_id, fake.client_secret).returncode == 0
    check = scripts.check("--json", env=upstream_env(fake))
    assert check.returncode == 1
    report = json.loads(check.stdout)
    [failed] = [step for step in report["steps"] if step["status"] == "fail"]
    assert (failed["provider"], failed["step"]) == ("gigachat", "chat")
    assert f"HTTP {code}" in failed["message"] and advice in failed["advice"]


def test_connection_refused_points_at_network_and_urls(fake: FakeUpstream, scripts: Scripts) -> None:
    assert scripts.setup(fake.client_id, fake.client_secret).returncode == 0
    dead = f"http://127.0.0.1:{closed_port()}"
    env = {**upstream_env(fake), "GIGACHAT_AUTH_URL": f"{dead}/api/v2/oauth", "GIGACHAT_BASE_URL": f"{dead}/api/v1"}
    check = scripts.check(env=env)
    assert check.returncode == 1
    assert "✗ OAuth GigaChat: не удалось подключиться" in check.stdout
    assert "GIGACHAT_AUTH_URL / GIGACHAT_BASE_URL" in check.stdout


def test_missing_key_and_broken_config(scripts: Scripts) -> None:
    nothing = scripts.check()
    assert nothing.returncode == 2 and "setup_gigachat.py" in nothing.stdout
    scripts.env_file.parent.mkdir(parents=True)
    scripts.env_file.write_text("GIGACHAT_API_KEY=xyzzy\n")
    broken = scripts.check("--json")
    assert broken.returncode == 2
    [step] = json.loads(broken.stdout)["steps"]
    assert "GIGACHAT_API_KEY" in step["message"] and "xyzzy" not in step["message"]


def tls_env(tls_fake: FakeUpstream, fake: FakeUpstream) -> dict[str, str]:
    """GigaChat behind TLS; OpenRouter on the plain fake, as its real certificate is a public one."""
    gigachat = {k: v for k, v in upstream_env(tls_fake).items() if k.startswith("GIGACHAT")}
    openrouter = {k: v for k, v in upstream_env(fake).items() if k.startswith("OPENROUTER")}
    return {**gigachat, **openrouter}


def test_tls_with_the_ca_bundle_is_green(
    tls_fake: FakeUpstream, fake: FakeUpstream, ca: ThrowawayCA, scripts: Scripts
) -> None:
    assert scripts.setup(tls_fake.client_id, tls_fake.client_secret).returncode == 0
    with scripts.env_file.open("a") as env:
        env.write(f"GIGACHAT_CA_BUNDLE_FILE={ca.ca_file}\n")
    check = scripts.check(env=tls_env(tls_fake, fake))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "✓ TLS 127.0.0.1:" in check.stdout and "сертификат проверен" in check.stdout


def test_tls_without_the_ca_fails_with_certificate_advice(
    tls_fake: FakeUpstream, fake: FakeUpstream, scripts: Scripts
) -> None:
    assert scripts.setup(tls_fake.client_id, tls_fake.client_secret).returncode == 0
    check = scripts.check(env=tls_env(tls_fake, fake))
    assert check.returncode == 1
    [line] = failed_lines(check.stdout)
    assert line.startswith("✗ TLS 127.0.0.1:") and "CERTIFICATE_VERIFY_FAILED" in line
    assert "nexus-ai certs install" in check.stdout and "GIGACHAT_CA_BUNDLE_FILE" in check.stdout
    assert tls_fake.oauth_calls == 0, "the check stops before sending the key over an unverified connection"


def _tls_settings(fake: FakeUpstream, **overrides: object) -> Settings:
    values = {
        "GIGACHAT_API_KEY": fake.credentials,
        "GIGACHAT_BASE_URL": fake.gigachat_base_url,
        "GIGACHAT_AUTH_URL": fake.gigachat_auth_url,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_service_trusts_the_configured_ca(tls_fake: FakeUpstream, ca: ThrowawayCA) -> None:
    service = GigaChatService(_tls_settings(tls_fake, GIGACHAT_CA_BUNDLE_FILE=ca.ca_file))
    try:
        assert await service.complete(PROBE)
    finally:
        await service.aclose()


async def test_service_without_the_ca_reports_tls(tls_fake: FakeUpstream) -> None:
    failure = await gigachat_failure(_tls_settings(tls_fake), PROBE)
    assert failure.kind is ErrorKind.TLS and "CERTIFICATE_VERIFY_FAILED" in failure.describe()
    assert tls_fake.oauth_calls == 0


async def test_service_reports_tls_of_the_chat_api_itself(tls_fake: FakeUpstream, fake: FakeUpstream) -> None:
    # OAuth verified, but the API host's certificate is not trusted: the streamed call itself (aiohttp under
    # the SDK) must say TLS, with the advice, not "timeout", and send nothing.
    settings = _tls_settings(tls_fake, GIGACHAT_AUTH_URL=fake.gigachat_auth_url, GIGACHAT_API_KEY=fake.credentials)
    failure = await gigachat_failure(settings, PROBE)
    assert failure.kind is ErrorKind.TLS and "НУЦ Минцифры" in failure.describe()
    assert fake.oauth_calls == 1 and tls_fake.gigachat.request_count == 0
