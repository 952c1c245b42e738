"""`.env.example` documents every setting the app reads."""

from __future__ import annotations

import re

from app.core.config import Settings
from tests.conftest import REPO_ROOT


def test_every_setting_is_in_env_example() -> None:
    text = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.MULTILINE))
    missing = sorted(set(Settings.model_fields) - documented)
    assert missing == []
