"""Test helper: run a command as another local user (``nobody``), as an attacker on the server machine would.

The tests run as root (here and in CI), so ``setpriv`` can drop to uid 65534. The interpreter must be one that
user may run: this Python if its folder is readable by all, else a system Python of the same version, given the
installed packages (Flower, cryptography, ...) and fedjava's sources on PYTHONPATH.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

NOBODY = 65534


@functools.cache
def python_for_nobody() -> str | None:
    """An interpreter that uid NOBODY can start, of this Python's version (None: there is none, or not root)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for candidate in (sys.executable, f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"):
        try:
            result = subprocess.run(
                _setpriv(NOBODY, [candidate, "-c", "import sys; print(sys.version_info[:2])"]),
                capture_output=True,
                text=True,
                timeout=30,
                cwd="/",
            )
        except OSError:
            continue
        if result.returncode == 0 and result.stdout.strip() == str(sys.version_info[:2]):
            return candidate
    return None


def require_other_user() -> str:
    """The interpreter for :func:`run_as_nobody`; skips the test where no other user can be played (not root)."""
    python = python_for_nobody()
    if python is None:
        pytest.skip("needs root (to run a process as another user with setpriv) and a Python that user can start")
    return python


def shared_folder() -> Path:
    """A new folder every user may read and write (pytest's tmp_path is root's alone); remove it when done."""
    folder = Path(tempfile.mkdtemp(prefix="fedjava-other-user-"))
    folder.chmod(0o777)
    return folder


def run_as_nobody(argv: list[str], home: Path, timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    """Run ``python argv...`` as uid NOBODY with HOME=``home`` and the packages of this test run importable."""
    import flwr

    import fedjava

    paths = [str(Path(flwr.__file__).resolve().parents[1]), str(Path(fedjava.__file__).resolve().parents[1])]
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "PYTHONPATH": os.pathsep.join(paths),
        "FLWR_HOME": str(home / "flwr"),
        "FLWR_TELEMETRY_ENABLED": "0",
        "PYTHONWARNINGS": "ignore",
        **env,
    }
    return subprocess.run(
        _setpriv(NOBODY, [require_other_user(), *argv]),
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(home),
    )


def _setpriv(uid: int, argv: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]
