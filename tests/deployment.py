"""Helpers for the tests that start real ``fedjava server`` and ``fedjava client`` processes on 127.0.0.1
(test_distributed*.py); their fixtures, ``processes`` and ``site``, are in conftest.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from tests.conftest import federated_overrides

from fedjava.federated.flower_runtime import descendants


class Fedjava:
    """One ``fedjava ...`` process in its own session, its output in a file (no pipe to fill up)."""

    def __init__(self, folder: Path, name: str, args: list[str], env: dict[str, str] | None = None):
        self.out = folder / f"{name}.out"
        self.handle = open(self.out, "w")  # noqa: SIM115 - closed in end()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fedjava.cli", *args],
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
        )
        self.tree: set[int] = {self.proc.pid}

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def wait_for(self, needle: str, timeout: float = 240) -> None:
        deadline = time.time() + timeout
        while needle not in self.text():
            assert self.proc.poll() is None or needle in self.text(), f"ended before '{needle}':\n{self.text()[-3000:]}"
            assert time.time() < deadline, f"no '{needle}' after {timeout}s:\n{self.text()[-3000:]}"
            time.sleep(0.2)

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout}s:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole tree at once, as a crash or a pulled plug would (no goodbye to the server)."""
        self.tree |= set(descendants(self.proc.pid))
        for pid in self.tree:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.proc.wait(timeout=30)

    def end(self) -> None:
        if self.proc.poll() is None:
            self.tree |= set(descendants(self.proc.pid))
        self.kill()
        self.handle.close()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def adapter(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / "final_model" / "adapter_model.safetensors"))


def tls_server(site: Path, port: int, results: Path, algorithm: str, *extra: str) -> list[str]:
    """``fedjava server`` arguments: TLS with the site's certificate, the site's registered client keys, 2 schools."""
    return [
        "server",
        "--allow-root",
        "--port",
        str(port),
        "--certs",
        str(site / "certs"),
        "--client-keys",
        str(site / "registered"),
        *federated_overrides(site / "data", results, algorithm, *extra),
    ]


def tls_client(site: Path, client_id: int, address: str, key: str = "", ca: Path | None = None) -> list[str]:
    """``fedjava client`` arguments for school ``client_id`` with its shard, trusting ``ca`` (the site's CA) and
    signing with ``key`` (its own, ``client<id>``)."""
    return [
        "client",
        "--client-id",
        str(client_id),
        "--server",
        address,
        "--ca",
        str(ca or site / "certs" / "ca.crt"),
        "--key",
        str(site / "keys" / f"{key or f'client{client_id}'}.key"),
        "--data",
        str(site / "data" / f"client_{client_id}.json"),
    ]
