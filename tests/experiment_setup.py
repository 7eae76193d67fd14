"""What the experiment tests share: the tiny model's settings, a tiny preset file, the source splits."""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import make_samples
from fedjava.prompts import write_samples

TINY = {
    "model_name": "builtin:tiny-qwen3",
    "batch_size": 2,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1e-2,
    "lr_scheduler": "constant",
    "warmup_ratio": 0,
    "lora_r": 4,
    "lora_alpha": 8,
    "lora_dropout": 0,
    "max_seq_length": 1024,
    "save_strategy": "no",
    "report_to": "none",
    "client_num_cpus": 1,
}


def tiny_preset(tmp_path: Path, **keys) -> Path:
    body = {
        "description": "tiny",
        "config": "tiny_smoke",
        "results_dir": str(tmp_path / "exp"),
        "seed": 3,
        "train_samples": 6,
        "valid_samples": 2,
        "test_samples": 3,
        "centralized": ["hf"],
        "num_epochs": 1,
        "algorithms": ["fedavg"],
        "num_clients": 2,
        "num_rounds": 2,
        "local_epochs": 1,
        "baselines": ["base", "majority"],
        "max_new_tokens": 6,
        "eval_batch_size": 3,
        "fix_check": False,
        "overrides": TINY,
        **keys,
    }
    path = tmp_path / "tiny_experiment.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def write_source(folder: Path) -> Path:
    """The source split files an experiment draws its subsets from: 10 train, 4 valid, 5 test samples."""
    write_samples(make_samples(10), folder / "train.jsonl")
    write_samples(make_samples(4), folder / "valid.jsonl")
    write_samples(make_samples(5), folder / "test.jsonl")
    return folder
