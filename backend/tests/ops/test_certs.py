"""`nexus-ai certs install`: only a certificate with the pinned fingerprint is stored and configured."""

from __future__ import annotations

import hashlib

from app.ops.certs import CERT_NAME, PINNED_SHA256
from tests.fake_upstream import FakeUpstream
from tests.ops.conftest import NEXUS_AI, Scripts, ThrowawayCA, upstream_env


def install(scripts: Scripts, tls_fake: FakeUpstream, ca: ThrowawayCA, sha256: str) -> tuple[str, int]:
    # The download itself is over the fake's HTTPS; SSL_CERT_FILE is how an operator would trust it.
    url = f"{tls_fake.url}/files/ca.crt"
    result = scripts.run(
        [str(NEXUS_AI), "certs", "install", "--url", url, "--sha256", sha256, "--env-file", str(scripts.env_file)],
        env={"SSL_CERT_FILE": str(ca.ca_file), "DATA_DIR": str(scripts.home / "data")},
    )
    return result.stdout + result.stderr, result.returncode


def test_right_fingerprint_installs_and_the_check_goes_green(
    tls_fake: FakeUpstream, fake: FakeUpstream, ca: ThrowawayCA, scripts: Scripts
) -> None:
    tls_fake.files["ca.crt"] = ca.pem
    fingerprint = hashlib.sha256(ca.der).hexdigest()
    openssl_style = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    output, code = install(scripts, tls_fake, ca, openssl_style)
    assert code == 0, output
    stored = scripts.home / "data" / "certs" / CERT_NAME
    assert stored.read_bytes().strip() == ca.pem.strip()
    assert f'GIGACHAT_CA_BUNDLE_FILE="{stored}"' in scripts.env_file.read_text()

    assert scripts.setup(tls_fake.client_id, tls_fake.client_secret).returncode == 0
    env = {k: v for k, v in upstream_env(tls_fake).items() if k.startswith("GIGACHAT")}
    check = scripts.check(env={**env, "OPENROUTER_API_KEY": fake.openrouter_api_key, **_openrouter(fake)})
    assert check.returncode == 0, check.stdout + check.stderr
    assert "✓ TLS 127.0.0.1:" in check.stdout


def _openrouter(fake: FakeUpstream) -> dict[str, str]:
    return {"OPENROUTER_BASE_URL": fake.openrouter_base_url}


def test_wrong_fingerprint_is_refused_and_nothing_written(
    tls_fake: FakeUpstream, ca: ThrowawayCA, scripts: Scripts
) -> None:
    tls_fake.files["ca.crt"] = ca.pem
    output, code = install(scripts, tls_fake, ca, PINNED_SHA256)
    assert code == 1
    assert "отпечаток не совпадает" in output and "НЕ установлен" in output
    assert not (scripts.home / "data").exists()
    assert not scripts.env_file.exists()


def test_not_a_certificate_is_refused(tls_fake: FakeUpstream, ca: ThrowawayCA, scripts: Scripts) -> None:
    tls_fake.files["ca.crt"] = b"<html>maintenance</html>"
    output, code = install(scripts, tls_fake, ca, PINNED_SHA256)
    assert code == 1 and "не похож на сертификат" in output
    assert not scripts.env_file.exists()


def test_untrusted_download_is_refused(tls_fake: FakeUpstream, ca: ThrowawayCA, scripts: Scripts) -> None:
    tls_fake.files["ca.crt"] = ca.pem
    result = scripts.run(
        [
            str(NEXUS_AI),
            "certs",
            "install",
            "--url",
            f"{tls_fake.url}/files/ca.crt",
            "--env-file",
            str(scripts.env_file),
        ]
    )
    assert result.returncode == 1 and "не удалось скачать" in result.stderr
    assert not scripts.env_file.exists()
