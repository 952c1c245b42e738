"""`nexus-ai certs install`: download the Russian Trusted Root CA, check it against a pinned fingerprint,
store it under DATA_DIR/certs and point GIGACHAT_CA_BUNDLE_FILE at it.

The pinned fingerprint, not the download's TLS, is what makes the file trustworthy: a wrong file is
refused before anything is written.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import ssl
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import certifi
import httpx

from app.core.config import REPO_ROOT
from app.ops.envfile import DEFAULT_ENV_FILE, read_value, update_env_file

DEFAULT_URL = "https://gu-st.ru/content/lending/russian_trusted_root_ca_pem.crt"
# SHA-256 of the certificate (DER) of "Russian Trusted Root CA". Taken from the research report
# /work/shared/reference/gigachat-api.md §1.9, which found it pinned in a public repository; it must be
# verified against the official source (https://www.gosuslugi.ru/crt) before a production roll-out —
# see docs/tls.md for the openssl command.
PINNED_SHA256 = "d26d2d0231b7c39f92cc738512ba54103519e4405d68b5bd703e9788ca8ecf31"
CERT_NAME = "russian_trusted_root_ca.pem"
MAX_BYTES = 1024 * 1024
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class CertError(RuntimeError):
    pass


def normalise_fingerprint(value: str) -> str:
    """Accepts openssl's `AB:CD:…` form as well as plain hex."""
    cleaned = value.replace(":", "").replace(" ", "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", cleaned):
        raise argparse.ArgumentTypeError("SHA-256 — это 64 шестнадцатеричных символа")
    return cleaned


def certificate_der(content: bytes) -> bytes:
    """The certificate as DER, whether the file is PEM (the gu-st.ru `.crt`) or DER (the `.cer`)."""
    match = _PEM_BLOCK.search(content)
    if match is not None:
        try:
            return ssl.PEM_cert_to_DER_cert(match.group(0).decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise CertError("файл не похож на сертификат (битый PEM)") from None
    if content[:1] == b"\x30":  # an ASN.1 SEQUENCE: plausibly DER
        return content
    raise CertError("файл не похож на сертификат (ни PEM, ни DER)")


def _download(url: str, timeout: float) -> bytes:
    # System roots (which honour SSL_CERT_FILE) plus certifi, like the GigaChat client itself.
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    try:
        with httpx.Client(verify=context, timeout=timeout, follow_redirects=True) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        raise CertError(f"не удалось скачать {url}: {exc}") from None
    if response.status_code != 200:
        raise CertError(f"не удалось скачать {url}: HTTP {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise CertError(f"{url}: слишком большой файл для сертификата")
    return response.content


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # a CA certificate is public; other services may read it too
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def install(url: str, expected_sha256: str, data_dir: Path, env_file: Path, timeout: float = 30.0) -> Path:
    der = certificate_der(_download(url, timeout))
    actual = hashlib.sha256(der).hexdigest()
    if actual != expected_sha256:
        raise CertError(
            f"SHA-256 отпечаток не совпадает: получен {actual}, ожидался {expected_sha256}. "
            "Сертификат НЕ установлен; проверьте источник (docs/tls.md)."
        )
    pem = ssl.DER_cert_to_PEM_cert(der)
    try:
        ssl.create_default_context().load_verify_locations(cadata=pem)
    except ssl.SSLError:
        raise CertError("сертификат с верным отпечатком не читается как CA") from None
    target = (data_dir / "certs" / CERT_NAME).resolve()
    _write_private(target, pem.encode("ascii"))
    update_env_file(env_file, {"GIGACHAT_CA_BUNDLE_FILE": str(target)})
    return target


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=DEFAULT_URL, help=f"откуда скачать (по умолчанию {DEFAULT_URL})")
    parser.add_argument(
        "--sha256", type=normalise_fingerprint, default=PINNED_SHA256, help="ожидаемый SHA-256 сертификата (DER)"
    )
    parser.add_argument(
        "--env-file", type=Path, default=DEFAULT_ENV_FILE, help=f"файл настроек (по умолчанию {DEFAULT_ENV_FILE})"
    )
    parser.add_argument("--data-dir", type=Path, help="каталог данных (по умолчанию DATA_DIR или ./data)")
    parser.add_argument("--timeout", type=float, default=30.0)


def run(args: argparse.Namespace) -> int:
    env_file: Path = args.env_file.resolve()
    data_dir: Path = args.data_dir or Path(read_value("DATA_DIR", env_file) or REPO_ROOT / "data")
    try:
        target = install(args.url, args.sha256, data_dir, env_file, args.timeout)
    except CertError as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"✗ не удалось записать файл: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"✓ Сертификат скачан: {args.url}")
    print(f"✓ SHA-256 совпадает: {args.sha256}")
    print(f"✓ Сохранён: {target}")
    print(f"✓ GIGACHAT_CA_BUNDLE_FILE записан в {env_file}")
    print("Проверьте подключение: python test_gigachat.py")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nexus-ai certs install", description="Установить Russian Trusted Root CA")
    add_arguments(parser)
    return run(parser.parse_args(argv))
