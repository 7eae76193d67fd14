"""Certificates and keys for distributed runs, made with the ``cryptography`` package (a Flower dependency).

- :func:`make_server_certificates`: a private CA (``ca.crt``/``ca.key``) and a server certificate
  (``server.pem``/``server.key``) signed by it, valid for the given host names and IP addresses.
  The SuperLink serves ``server.pem``; every client verifies it with ``ca.crt``.
- :func:`make_client_keys`: a client's key pair in the OpenSSH format Flower's SuperNode authentication
  reads (ECDSA on the NIST P-384 curve): ``NAME.key`` stays on the client, ``NAME.pub`` is registered with
  the server (copied into its ``--client-keys`` folder).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from pathlib import Path

from fedjava.errors import UserError

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.pem"
SERVER_KEY = "server.key"
PUBLIC_KEY_SUFFIX = ".pub"
PRIVATE_KEY_SUFFIX = ".key"
DEFAULT_DAYS = 365
MAX_DAYS = 36500  # 100 years: far past any use, and well before X.509's last date (9999-12-31)
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class CertificateError(UserError):
    """Certificates or keys cannot be made or read; the message says which file and why."""


def make_server_certificates(
    out: Path, hosts: list[str], days: int = DEFAULT_DAYS, overwrite: bool = False
) -> list[Path]:
    """Write ca.crt, ca.key, server.pem and server.key to ``out``; the server certificate names ``hosts``
    (DNS names or IP addresses; localhost and 127.0.0.1 are always added). Returns the files written."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    check_days(days)
    names = check_hosts(hosts)
    out = Path(out)
    files = [out / CA_CERT, out / CA_KEY, out / SERVER_CERT, out / SERVER_KEY]
    _refuse_overwrite(files, overwrite)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = _new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedjava federation CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = _new_key()
    alt_names: list[x509.GeneralName] = []
    for name in dict.fromkeys([*names, "localhost", "127.0.0.1"]):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    out.mkdir(parents=True, exist_ok=True)
    _write(out / CA_CERT, _cert_pem(ca_cert))
    _write(out / CA_KEY, _key_pem(ca_key), private=True)
    _write(out / SERVER_CERT, _cert_pem(server_cert))
    _write(out / SERVER_KEY, _key_pem(server_key), private=True)
    return files


def make_client_keys(out: Path, name: str, overwrite: bool = False) -> tuple[Path, Path]:
    """Write ``NAME.key`` (private, OpenSSH format) and ``NAME.pub`` (one ``ecdsa-sha2-nistp384`` line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    check_key_name(name)
    out = Path(out)
    private, public = out / f"{name}{PRIVATE_KEY_SUFFIX}", out / f"{name}{PUBLIC_KEY_SUFFIX}"
    _refuse_overwrite([private, public], overwrite)
    key = ec.generate_private_key(ec.SECP384R1())
    out.mkdir(parents=True, exist_ok=True)
    _write(
        private,
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ),
        private=True,
    )
    _write(
        public,
        key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        + f" {name}\n".encode(),
    )
    return private, public


def check_days(days: int) -> None:
    """Raise CertificateError unless ``days`` is a validity from 1 to MAX_DAYS."""
    if not 1 <= days <= MAX_DAYS:
        raise CertificateError(f"--days {days}: give a validity from 1 to {MAX_DAYS} days (default {DEFAULT_DAYS})")


def check_hosts(hosts: list[str]) -> list[str]:
    """The host names and IP addresses of ``hosts``, stripped; CertificateError naming the first that is neither
    an IP address nor a valid DNS name (letters, digits and hyphens in dot-separated labels)."""
    names = [h.strip() for h in hosts if h.strip()]
    if not names:
        raise CertificateError("--hosts: give at least one host name or IP address of the server machine")
    for name in names:
        try:
            ipaddress.ip_address(name)
            continue
        except ValueError:
            pass
        labels = name.removesuffix(".").split(".")
        if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
            raise CertificateError(
                f"--hosts: '{name}' is neither an IP address nor a valid host name (letters, "
                "digits and hyphens in dot-separated labels, e.g. fl-server.example.org; a "
                "non-ASCII name in its xn-- form)"
            )
    return names


def check_key_name(name: str) -> None:
    """Raise CertificateError unless ``name`` can name a key's files (NAME.key, NAME.pub) in the output folder."""
    if not name or "/" in name or "\\" in name or name.startswith(".") or not name.isprintable():
        raise CertificateError(f"--client-key: '{name}' is not a usable file name (e.g. client0)")


def check_public_key(path: Path) -> None:
    """Raise CertificateError unless ``path`` holds an OpenSSH ECDSA public key on a NIST curve."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:
        key = load_ssh_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateError(
            f"{path}: not a readable OpenSSH public key ({exc}); make one with "
            "'fedjava certs --client-key NAME --out DIR'"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CertificateError(
            f"{path}: Flower accepts only ECDSA keys on a NIST curve (ssh-keygen -t ecdsa), not {type(key).__name__}"
        )


def check_private_key(path: Path) -> None:
    """Raise CertificateError unless ``path`` holds an unencrypted OpenSSH ECDSA private key."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_ssh_private_key

    try:
        key = load_ssh_private_key(Path(path).read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertificateError(
            f"{path}: not a readable, unencrypted OpenSSH private key ({exc}); make one with "
            "'fedjava certs --client-key NAME --out DIR'"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CertificateError(f"{path}: Flower accepts only ECDSA keys on a NIST curve, not {type(key).__name__}")


def check_certificate(path: Path, what: str) -> None:
    """Raise CertificateError unless ``path`` holds at least one PEM certificate."""
    from cryptography import x509

    try:
        x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise CertificateError(f"{what} {path}: not a readable PEM certificate ({exc})") from None


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _cert_pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _refuse_overwrite(files: list[Path], overwrite: bool) -> None:
    existing = [str(f) for f in files if f.exists()]
    if existing and not overwrite:
        raise CertificateError(f"{', '.join(existing)} already exist(s); pass --force to replace")


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        os.chmod(path, 0o600)
