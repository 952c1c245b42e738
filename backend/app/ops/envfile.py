"""Reading and updating `.env` in place: other lines and comments survive, the file stays private (0600)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from dotenv import dotenv_values

from app.core.config import REPO_ROOT

DEFAULT_ENV_FILE = REPO_ROOT / ".env"

_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def update_env_file(path: Path, values: dict[str, str]) -> None:
    """Set `values` in `path`: the first assignment of a name is replaced, later duplicates dropped (so the
    file cannot silently contradict itself), missing names appended. Written via a temporary file and a
    rename, so a crash never leaves a half-written `.env`."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    pending = dict(values)
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        match = _ASSIGNMENT.match(line)
        name = match.group(1) if match else None
        if name is None or name not in values:
            out.append(line)
            continue
        if name not in seen:
            out.append(f"{name}={_quote(values[name])}")
            seen.add(name)
            pending.pop(name, None)
    out.extend(f"{name}={_quote(value)}" for name, value in pending.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file 0600, so the secret is never readable by others, not even briefly.
    fd, tmp = tempfile.mkstemp(prefix=".env.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(out) + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_value(name: str, env_file: Path) -> str | None:
    """A raw setting the way Settings ranks sources (environment first, then the file), without
    validating everything else — for commands that must work while the configuration is still broken."""
    value = os.environ.get(name)
    if value:
        return value
    if env_file.is_file():
        found = dotenv_values(env_file).get(name)
        return found or None
    return None


def mask(secret: str) -> str:
    """First 4 … last 4; short values are hidden entirely, as the ends would be most of them."""
    if len(secret) < 16:
        return "****"
    return f"{secret[:4]}…{secret[-4:]}"
