"""Round checkpoints of a federated run: ``<output>/checkpoints/round_NNN/``.

Each holds ``adapter.safetensors`` (the global adapter after the round), ``server_state.safetensors``
(the server optimizer's state: FedAdam/FedYogi/FedAdagrad moments ``m_t``/``v_t``, FedAvgM momentum;
absent for FedAvg/FedProx) and ``state.json`` (round, algorithm, seeds, the history of the rounds so
far). A checkpoint is written to ``round_NNN.partial`` and renamed when complete, so a kill never
leaves a half-written one; the newest ``save_total_limit`` are kept.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedjava.config import Config
from fedjava.federated.adapter_io import load_numpy, save_numpy

FOLDER = "checkpoints"
_ROUND_RE = re.compile(r"^round_(\d+)$")
# Settings a resumed run must share with the run it continues.
MUST_MATCH = ("algorithm", "num_clients", "seed", "model_name", "lora_r", "lora_alpha", "lora_target_modules")


@dataclass
class Checkpoint:
    round: int
    path: Path
    adapter: dict[str, np.ndarray]
    server_state: dict[str, np.ndarray]
    state: dict[str, Any]


def round_dir(output_dir: Path, server_round: int) -> Path:
    return Path(output_dir) / FOLDER / f"round_{server_round:03d}"


def save_checkpoint(output_dir: Path, server_round: int, adapter: dict[str, np.ndarray],
                    server_state: dict[str, np.ndarray], state: dict[str, Any], keep: int) -> Path:
    final = round_dir(output_dir, server_round)
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_numpy(adapter, tmp / "adapter.safetensors")
    if server_state:
        save_numpy(server_state, tmp / "server_state.safetensors")
    (tmp / "state.json").write_text(json.dumps(state, indent=1, default=float) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in completed_rounds(output_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(round_dir(output_dir, old), ignore_errors=True)
    return final


def completed_rounds(output_dir: Path) -> list[int]:
    folder = Path(output_dir) / FOLDER
    if not folder.is_dir():
        return []
    rounds = []
    for path in folder.iterdir():
        match = _ROUND_RE.match(path.name)
        if match and (path / "state.json").is_file() and (path / "adapter.safetensors").is_file():
            rounds.append(int(match.group(1)))
    return sorted(rounds)


def latest_checkpoint(output_dir: Path) -> Checkpoint | None:
    rounds = completed_rounds(output_dir)
    if not rounds:
        return None
    path = round_dir(output_dir, rounds[-1])
    server = path / "server_state.safetensors"
    return Checkpoint(
        round=rounds[-1],
        path=path,
        adapter=load_numpy(path / "adapter.safetensors"),
        server_state=load_numpy(server) if server.is_file() else {},
        state=json.loads((path / "state.json").read_text(encoding="utf-8")),
    )


def run_identity(cfg: Config) -> dict[str, Any]:
    return {key: getattr(cfg, key) for key in MUST_MATCH}


def resume_problems(checkpoint: Checkpoint, cfg: Config) -> list[str]:
    """Why ``cfg`` cannot continue the run of ``checkpoint`` (empty when it can)."""
    saved = checkpoint.state.get("identity", {})
    now = run_identity(cfg)
    return [f"{key}: the checkpoint has {saved[key]!r}, this run {now[key]!r}"
            for key in MUST_MATCH if key in saved and saved[key] != now[key]]


def check_resumable(cfg: Config) -> None:
    """Raise FederatedSetupError when the output dir's last checkpoint belongs to a run with other settings
    (``--resume`` would otherwise fail only after the model loaded)."""
    from fedjava.federated.common import FederatedSetupError, method_name

    checkpoint = latest_checkpoint(cfg.resolved_output_dir(method_name(cfg)))
    problems = resume_problems(checkpoint, cfg) if checkpoint else []
    if problems:
        raise FederatedSetupError(f"--resume: {checkpoint.path} belongs to a different run: "
                                  + "; ".join(problems) + ". Use the same settings, or another output_dir.")
