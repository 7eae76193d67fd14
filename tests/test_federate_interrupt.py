"""Ctrl-C of a real ``fedjava federate`` (Flower's simulation on Ray, tiny model): one line, no traceback, and
no process of Ray's left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import make_samples

from fedjava.federated.flower_runtime import descendants


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.parametrize("pause", [0.0, 2.0])  # at the round's start, and while the clients train
def test_ctrl_c_ends_federate_with_one_line_and_no_ray_process_left(pause, tmp_path):
    from fedjava.dataset.split import run_split
    from fedjava.prompts import write_samples

    data = tmp_path / "data"
    write_samples(make_samples(8), data / "train.jsonl")
    write_samples(make_samples(4), data / "valid.jsonl")
    run_split(data, 2)
    out = tmp_path / "federate.out"
    with open(out, "w") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fedjava.cli",
                "federate",
                "model_name=builtin:tiny-qwen3",
                f"data_dir={data}",
                f"results_dir={tmp_path / 'results'}",
                "batch_size=4",
                "lora_r=8",
                "max_seq_length=1024",
                "num_rounds=50",
                "local_epochs=4",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
    started: set[int] = set()
    try:
        deadline = time.time() + 240
        while "Round 1/50:" not in out.read_text():
            assert proc.poll() is None and time.time() < deadline, out.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(pause)
        started = set(descendants(proc.pid))  # Ray's head, raylet, agents and the client actors
        assert any("raylet" in Path(f"/proc/{pid}/cmdline").read_text() for pid in started if _alive(pid))
        before = len(out.read_text())
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole process group
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = out.read_text()
    after = text[before:]  # what Ctrl-C brought (a round's report line may have been on its way already)
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[-1] == "error: interrupted; the completed rounds' checkpoints are kept: continue with --resume"
    assert sum(line.startswith("error:") for line in lines) == 1
    assert "Traceback" not in text and "ActorDiedError" not in text and "ERROR" not in after, after
    left = [pid for pid in started if _alive(pid)]
    deadline = time.time() + 5  # a process killed as fedjava left may take a moment to be reaped by init
    while left and time.time() < deadline:
        time.sleep(0.2)
        left = [pid for pid in left if _alive(pid)]
    assert not left, [Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:200] for pid in left]
