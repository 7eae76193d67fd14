"""Round checkpoints of a federated run: ``<output>/checkpoints/round_NNN/``.

Each holds ``adapter.safetensors`` (the global adapter after the round), ``server_state.safetensors``
(the server optimizer's state: FedAdam/FedYogi/FedAdagrad moments ``m_t``/``v_t``, FedAvgM momentum;
absent for FedAvg/FedProx) and ``state.json`` (round, algorithm, seeds, the history of the rounds so
far). A checkpoint is written to ``round_NNN.partial`` and renamed when complete, so a kill never
leaves a half-written one; the newest ``save_total_limit`` are kept, and never the one just written is removed.
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
from fedjava.federated.common import FederatedSetupError, method_name
from fedjava.runs import MODEL_KEYS, claim_output_dir, refuse_other_run, settings_problems

FOLDER = "checkpoints"
_ROUND_RE = re.compile(r"^round_(\d+)$")
# Settings a resumed run must share with the run it continues: the federation's and the adapter's.
MUST_MATCH = ("algorithm", "num_clients", "seed", *MODEL_KEYS)


@dataclass
class Checkpoint:
    round: int
    path: Path
    adapter: dict[str, np.ndarray]
    server_state: dict[str, np.ndarray]
    state: dict[str, Any]


def round_dir(output_dir: Path, server_round: int) -> Path:
    return Path(output_dir) / FOLDER / f"round_{server_round:03d}"


def save_checkpoint(
    output_dir: Path,
    server_round: int,
    adapter: dict[str, np.ndarray],
    server_state: dict[str, np.ndarray],
    state: dict[str, Any],
    keep: int,
) -> Path:
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
    for old in stale_rounds(saved_rounds(output_dir), server_round, keep):
        shutil.rmtree(round_dir(output_dir, old), ignore_errors=True)
    return final


def stale_rounds(rounds: list[int], current: int, keep: int) -> list[int]:
    """The checkpoints to remove after saving round ``current``: all but the newest ``keep`` up to it (never
    ``current`` itself), and any of a later round, which an earlier run left (a resume would continue it)."""
    earlier = [r for r in rounds if r < current]
    return earlier[: max(len(earlier) - (keep - 1), 0)] + [r for r in rounds if r > current]


def saved_rounds(output_dir: Path) -> list[int]:
    """The rounds that have a checkpoint folder (complete or not), in order."""
    folder = Path(output_dir) / FOLDER
    matches = (_ROUND_RE.match(p.name) for p in folder.iterdir()) if folder.is_dir() else ()
    return sorted(int(m.group(1)) for m in matches if m)


def latest_checkpoint(output_dir: Path) -> Checkpoint | None:
    """The newest round checkpoint, or None; FederatedSetupError when it is damaged (one line: what to do)."""
    rounds = saved_rounds(output_dir)
    if not rounds:
        return None
    path = round_dir(output_dir, rounds[-1])
    server = path / "server_state.safetensors"
    try:
        return Checkpoint(
            round=rounds[-1],
            path=path,
            adapter=load_numpy(path / "adapter.safetensors"),
            server_state=load_numpy(server) if server.is_file() else {},
            state=json.loads((path / "state.json").read_text(encoding="utf-8")),
        )
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise FederatedSetupError(
            f"--resume: the newest checkpoint {path} is damaged or empty ({why}): delete that "
            "folder to resume from the round before, or start again with --overwrite"
        ) from None


def run_identity(cfg: Config) -> dict[str, Any]:
    return {key: getattr(cfg, key) for key in MUST_MATCH}


def resume_problems(checkpoint: Checkpoint, cfg: Config) -> list[str]:
    """Why ``cfg`` cannot continue the run of ``checkpoint`` (empty when it can)."""
    return settings_problems(checkpoint.state.get("identity", {}), cfg, MUST_MATCH)


def resume_checkpoint(cfg: Config) -> Checkpoint:
    """The checkpoint ``--resume`` continues from, checked before anything loads or starts: FederatedSetupError
    when there is none or it is damaged, RunFolderError when it belongs to a run with other settings."""
    folder = cfg.resolved_output_dir(method_name(cfg))
    checkpoint = latest_checkpoint(folder)
    if checkpoint is None:
        raise FederatedSetupError(
            f"--resume: no round checkpoint in {folder / FOLDER}, so there is nothing to "
            "continue; run without --resume (with --overwrite to replace what the output "
            "folder holds)"
        )
    refuse_other_run(checkpoint.path, resume_problems(checkpoint, cfg))
    return checkpoint


def prepare_output_dir(cfg: Config, resume: bool, overwrite: bool) -> None:
    """Claim the run's output folder (``overwrite`` removes the run it holds) and, with ``resume``, check its
    checkpoint: the commands call it before Ray or Flower start, so a mistake costs a second, not a minute."""
    claim_output_dir(cfg.resolved_output_dir(method_name(cfg)), resume, overwrite)
    if resume:
        resume_checkpoint(cfg)
