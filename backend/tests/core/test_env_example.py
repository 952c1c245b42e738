"""`.env.example` documents every setting the app reads."""

from __future__ import annotations

import re

import pytest

from app.core.config import Settings
from tests.utils.app import REPO_ROOT


def test_every_setting_is_in_env_example() -> None:
    text = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    missing = sorted(set(Settings.model_fields) - documented)
    assert missing == []


def test_env_example_loads_as_it_is() -> None:
    settings = Settings(_env_file=REPO_ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.FOREIGN_PROVIDERS == ["openrouter"] and settings.CORS_ORIGINS == []
    assert not settings.gigachat_configured and not settings.openrouter_configured


def test_lists_come_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://hr.example.ru, https://ats.example.ru")
    monkeypatch.setenv("FOREIGN_PROVIDERS", "openrouter,other")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.CORS_ORIGINS == ["https://hr.example.ru", "https://ats.example.ru"]
    assert settings.FOREIGN_PROVIDERS == ["openrouter", "other"]
