"""What keeps other web pages and other machines out of ``fedjava serve``, and what it checks before it starts.

Any web page the teacher has open, on any site, can make the browser send a form to
``http://127.0.0.1:8765/review``; without checks the server reviews what it sends (and with ``--unsafe-run`` runs
its Java unsandboxed). That is cross-site request forgery. Three checks refuse it, each enough on its own:

* ``Sec-Fetch-Site`` (sent by current browsers): ``cross-site`` or ``same-site`` (another port of the same host
  is the same site) is refused;
* ``Origin`` (sent with every POST by current browsers), else ``Referer``, must be the address the request was
  sent to (``http://`` and the ``Host`` header: host and port); a POST with neither is refused;
* a token in a hidden field of the form (:class:`FormTokens`): random for each page, signed with a key made when
  the server starts, checked on every POST. Another site cannot read the page, so it cannot know a token.

Before it starts, ``serve`` checks that its packages are installed (:func:`missing_packages`), that it can listen
where asked (:func:`check_listen`), and that ``--unsafe-run`` goes with a loopback address only
(:func:`check_unsafe_run`).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
import socket
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from fedjava.errors import UserError
from fedjava.tracking import log

TOKEN_FIELD = "form_token"
SERVE_EXTRA = "pip install 'fedjava[serve]'"
# (module, package): python-multipart is imported under either name, as Starlette does
_PACKAGES = (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("python_multipart.multipart", "python-multipart"))


class ServeError(UserError):
    """``fedjava serve`` cannot start as asked; the message says what to change."""


class FormTokens:
    """Tokens for the review form: a random nonce and its HMAC under a key that lives as long as the process."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def issue(self) -> str:
        """A new token for one page."""
        nonce = secrets.token_hex(16)
        return f"{nonce}.{self._sign(nonce)}"

    def valid(self, token: str) -> bool:
        """Whether ``token`` was issued by this process (compared in constant time)."""
        nonce, _, mac = token.partition(".")
        return bool(nonce) and hmac.compare_digest(mac, self._sign(nonce))

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def cross_site_reason(headers: Mapping[str, str]) -> str | None:
    """Why a POST with these headers did not come from the server's own page; None when it did."""
    fetch_site = headers.get("sec-fetch-site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return f"the browser says the form came from another site (Sec-Fetch-Site: {fetch_site})"
    host = headers.get("host", "").strip().lower()
    for name in ("origin", "referer"):
        value = headers.get(name)
        if value is None:
            continue
        sent_from = urlsplit(value.strip())
        if sent_from.scheme in ("http", "https") and host and sent_from.netloc.lower() == host:
            return None
        return f"the form came from {_shown(value)}, not from this page (http://{_shown(host)})"
    return "the request says neither where it came from (Origin) nor which page sent it (Referer)"


def _shown(text: str) -> str:
    """A header value fit for a message: printable and short."""
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 80 else text[:77] + "..."


def missing_packages() -> list[str]:
    """The packages ``serve`` needs that cannot be imported here (pip names)."""
    missing = []
    for module, package in _PACKAGES:
        try:
            importlib.import_module(module)
        except ImportError:
            if package != "python-multipart" or not _old_multipart():
                missing.append(package)
    return missing


def _old_multipart() -> bool:
    """python-multipart before 0.0.13 is imported as ``multipart`` (Starlette accepts both)."""
    try:
        importlib.import_module("multipart.multipart")
    except ImportError:
        return False
    return True


def check_packages() -> None:
    """ServeError naming what to install when a package ``serve`` needs is missing."""
    missing = missing_packages()
    if missing:
        raise ServeError(
            f"fedjava serve needs {', '.join(missing)}, not installed in this Python ({sys.executable}): {SERVE_EXTRA}"
        )


def check_listen(host: str, port: int) -> None:
    """ServeError when nothing can listen on ``host``:``port`` (an unknown address, a port in use), found before
    the model loads rather than after."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ServeError(f"--host {host}: not an address of this machine ({exc})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServeError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --host"
            ) from None


def check_unsafe_run(host: str, loopback: bool, unsafe: bool) -> None:
    """``--unsafe-run`` only where no other machine can reach the page, and never without a warning."""
    if not unsafe:
        return
    if not loopback:
        raise ServeError(
            f"--unsafe-run with --host {host}: anyone who can reach this port could run Java code on "
            "this machine without the sandbox; use --unsafe-run only with --host 127.0.0.1"
        )
    log.warning(
        "warning: --unsafe-run: Java code sent to this page runs WITHOUT the sandbox, with this user's rights; "
        "use it only on a machine you can afford to lose"
    )
