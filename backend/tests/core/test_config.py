"""Start-up validation: one line naming the variable, never its value."""

from __future__ import annotations

import base64
import subprocess
import sys
from typing import Any

import pytest

from app.core.config import ConfigError, GigaChatScope, load_settings
from tests.utils.app import REPO_ROOT

GOOD_KEY = base64.b64encode(b"019b9dbd-0000-7cb0-a899-000000000000:s3cr3t-value").decode()


def settings(**values: Any) -> Any:
    return load_settings(_env_file=None, **values)


@pytest.mark.parametrize(
    ("name", "value", "phrase"),
    [
        ("GIGACHAT_API_KEY", "c2hvcnQ=", "shorter than 20"),
        ("GIGACHAT_API_KEY", "this is definitely not base64!!", "not base64"),
        ("GIGACHAT_API_KEY", base64.b64encode(b"no-colon-in-this-credential-value").decode(), "not base64"),
        ("GIGACHAT_SCOPE", "GIGACHAT_API_VIP", "GIGACHAT_SCOPE"),
        ("GIGACHAT_BASE_URL", "ftp://example.org/api", "http(s) URL"),
        ("OPENROUTER_BASE_URL", "not a url", "http(s) URL"),
        ("DATABASE_URL", "mysql://root@localhost/db", "DATABASE_URL"),
        ("GIGACHAT_CA_BUNDLE_FILE", "/nonexistent/ca.pem", "readable file"),
        ("REDIS_URL", "http://:hunter2@cache:6379/0", "redis://"),
    ],
)
def test_bad_value_is_named_but_never_echoed(name: str, value: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(**{name: value})
    message = str(info.value)
    assert name in message and phrase in message
    assert value not in message
    assert "\n" not in message


def test_missing_keys_are_not_an_error() -> None:
    s = settings()
    assert s.GIGACHAT_API_KEY is None and not s.gigachat_configured and not s.openrouter_configured


def test_sdk_name_for_the_key_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIGACHAT_CREDENTIALS", GOOD_KEY)
    s = settings()
    assert s.GIGACHAT_API_KEY is not None and s.GIGACHAT_API_KEY.get_secret_value() == GOOD_KEY
    assert GOOD_KEY not in repr(s)


def test_concurrency_defaults_follow_the_scope() -> None:
    assert settings().GIGACHAT_MAX_CONCURRENCY == 1
    assert settings(GIGACHAT_SCOPE="GIGACHAT_API_CORP").GIGACHAT_MAX_CONCURRENCY == 10
    assert settings(GIGACHAT_SCOPE="GIGACHAT_API_B2B", GIGACHAT_MAX_CONCURRENCY=3).GIGACHAT_MAX_CONCURRENCY == 3
    assert settings().GIGACHAT_SCOPE is GigaChatScope.PERS


def test_use_gigachat_false_switches_it_off() -> None:
    assert not settings(GIGACHAT_API_KEY=GOOD_KEY, USE_GIGACHAT=False).gigachat_configured
    assert settings(GIGACHAT_API_KEY=GOOD_KEY).gigachat_configured


def test_postgres_urls_are_normalised() -> None:
    assert settings(DATABASE_URL="postgresql://u@h/db").DATABASE_URL == "postgresql+asyncpg://u@h/db"


def test_cli_refuses_to_start_with_one_line_and_no_secret() -> None:
    bad = "tooshort"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "upgrade"],
        cwd=REPO_ROOT / "backend",
        env={"PATH": "/usr/bin:/bin", "GIGACHAT_API_KEY": bad, "HOME": "/tmp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "GIGACHAT_API_KEY" in result.stderr and bad not in result.stderr
    assert "Traceback" not in result.stderr
