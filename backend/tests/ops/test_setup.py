"""`setup_gigachat.py` writes a key the check (and the fake GigaChat) accept."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path

from app.ops.envfile import mask, update_env_file
from app.ops.setup import build_key
from tests.fake_upstream import FakeUpstream
from tests.ops.conftest import NEXUS_AI, Scripts, upstream_env


def test_setup_then_check_is_green(fake: FakeUpstream, scripts: Scripts) -> None:
    setup = scripts.setup(fake.client_id, fake.client_secret)
    assert setup.returncode == 0, setup.stderr
    env_text = scripts.env_file.read_text()
    assert f'GIGACHAT_API_KEY="{fake.credentials}"' in env_text
    assert 'GIGACHAT_SCOPE="GIGACHAT_API_PERS"' in env_text
    assert stat.S_IMODE(scripts.env_file.stat().st_mode) == 0o600
    assert fake.client_secret not in setup.stdout + setup.stderr
    assert fake.credentials not in setup.stdout + setup.stderr
    assert mask(fake.credentials) in setup.stdout

    check = scripts.check(env=upstream_env(fake))
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    assert any(line.startswith("✓ OAuth") and "Token: " in line and "действует до" in line for line in lines)
    assert any(line.startswith("✓ Модели GigaChat") for line in lines)
    assert any(line.startswith("✓ Чат GigaChat: ответ за") for line in lines)
    assert any(line.startswith("✓ Чат OpenRouter: ответ за") for line in lines)
    assert any(line.startswith("– TLS") for line in lines), "an http URL skips the handshake with a note"
    assert not any(line.startswith("✗") for line in lines)
    assert fake.oauth_calls == 1
    assert fake.gigachat.request_count == 1 and fake.openrouter.request_count == 1


def test_same_through_nexus_ai_cli(fake: FakeUpstream, scripts: Scripts) -> None:
    command = [str(NEXUS_AI), "setup-gigachat", "--client-id", fake.client_id, "--secret-stdin", "--scope", "PERS"]
    setup = scripts.run(
        [*command, "--env-file", str(scripts.env_file)],
        stdin=fake.client_secret + "\n",
    )
    assert setup.returncode == 0, setup.stderr
    check = scripts.run([str(NEXUS_AI), "check", "--env-file", str(scripts.env_file), "--json"], env=upstream_env(fake))
    assert check.returncode == 0, check.stdout + check.stderr
    report = json.loads(check.stdout)
    assert report["ok"] is True
    statuses = {(s["provider"], s["step"]): s["status"] for s in report["steps"]}
    assert statuses[("gigachat", "oauth")] == "ok"
    assert statuses[("gigachat", "chat")] == "ok"
    assert statuses[("openrouter", "chat")] == "ok"
    assert fake.credentials not in check.stdout


def test_update_keeps_other_lines_and_replaces_duplicates(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("# GigaChat\nGIGACHAT_API_KEY=old\nexport FOO=bar\n\nGIGACHAT_API_KEY=older\n")
    env_file.chmod(0o644)
    update_env_file(env_file, {"GIGACHAT_API_KEY": "new", "GIGACHAT_SCOPE": "GIGACHAT_API_B2B"})
    assert env_file.read_text() == (
        '# GigaChat\nGIGACHAT_API_KEY="new"\nexport FOO=bar\n\nGIGACHAT_SCOPE="GIGACHAT_API_B2B"\n'
    )
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600


def test_key_is_built_as_the_guide_shows() -> None:
    client_id, secret = "019b9dbd-68f9-7cb0-a899-792120ee2477", "s3cret"
    assert build_key(client_id, secret) == base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_bad_client_id_or_empty_secret_writes_nothing(scripts: Scripts) -> None:
    bad_id = scripts.setup("not-a-uuid", "secret")
    assert bad_id.returncode == 1 and "UUID" in bad_id.stderr
    empty = scripts.setup("019b9dbd-68f9-7cb0-a899-792120ee2477", "")
    assert empty.returncode == 1 and "Client Secret пустой" in empty.stderr
    assert not scripts.env_file.exists()


def test_print_masks_unless_show(scripts: Scripts) -> None:
    client_id, secret = "019b9dbd-68f9-7cb0-a899-792120ee2477", "a-long-client-secret"
    key = build_key(client_id, secret)
    masked = scripts.setup(client_id, secret, "--print")
    assert masked.returncode == 0 and mask(key) in masked.stdout and key not in masked.stdout
    shown = scripts.run(
        [sys.executable, "setup_gigachat.py", "--client-id", client_id, "--secret-stdin", "--print", "--show"],
        stdin=secret + "\n",
    )
    assert shown.stdout.strip() == key
    assert secret not in shown.stdout + shown.stderr
    assert not scripts.env_file.exists()
