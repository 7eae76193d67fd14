"""The report's federated parts: validation curves of every run against sample passes, client drift per round,
bytes per client per round, and the tuning grids a row was chosen from."""

from __future__ import annotations

import json
from pathlib import Path

from fedjava.evaluation.compare import (
    DRIFT_TITLE,
    TUNING_TITLE,
    drift_rows,
    find_runs,
    sample_passes_curve,
    table_rows,
    write_report,
)


def _federated(
    folder: Path, cosines: list[dict[int, float | None]], sizes: dict[int, int], local_epochs: float, down: int, up: int
) -> None:
    rounds = [{"round": 0, "eval_loss": 2.0, "eval_verdict_macro_f1": 0.1}]
    for r, per_client in enumerate(cosines, start=1):
        rounds.append(
            {
                "round": r,
                "eval_loss": 2.0 - r / 2,
                "eval_verdict_macro_f1": 0.1 + r / 4,
                "clients": [
                    {
                        "client": c,
                        "num_examples": sizes[c],
                        "bytes_sent": down,
                        "bytes_received": up,
                        **({"update_cosine": v} if c in per_client else {}),
                    }
                    for c, v in per_client.items()
                ],
            }
        )
    folder.mkdir(parents=True)
    (folder / "training_history.json").write_text(
        json.dumps(
            {
                "config": {"local_epochs": local_epochs},
                "rounds": rounds,
                "summary": {"bytes_sent": down * 4, "bytes_received": up * 4},
            }
        )
    )


def _runs(tmp_path: Path) -> Path:
    _federated(tmp_path / "fedavg", [{0: 0.91, 1: 0.42}, {0: 0.95, 1: None}], {0: 30, 1: 10}, 1.0, 1000, 1000)
    _federated(tmp_path / "fedavg_int8", [{0: 0.5, 1: 0.25}], {0: 30, 1: 10}, 0.5, 252, 251)
    central = tmp_path / "centralized_hf"
    central.mkdir()
    (central / "training_history.json").write_text(
        json.dumps(
            {
                "config": {"batch_size": 4, "gradient_accumulation_steps": 2},
                "steps": [
                    {"step": 5, "train_loss": 1.0},
                    {"step": 5, "eval_loss": 1.5, "eval_verdict_macro_f1": 0.4},
                    {"step": 10, "eval_loss": 1.2, "eval_verdict_macro_f1": 0.7},
                ],
                "epochs": [{"epoch": 1, "step": 10, "train_loss": 1.1}],
            }
        )
    )
    return tmp_path


def test_every_run_is_on_one_axis_of_sample_passes(tmp_path):
    runs = {r.name: r for r in find_runs(_runs(tmp_path))}
    # a round adds its clients' samples x local epochs: 40 per round at 1 epoch, 20 at 0.5
    assert sample_passes_curve(runs["fedavg"], "eval_verdict_macro_f1") == ([0.0, 40.0, 80.0], [0.1, 0.35, 0.6])
    assert sample_passes_curve(runs["fedavg_int8"], "eval_loss") == ([0.0, 20.0], [2.0, 1.5])
    # a centralized evaluation at step s: s x batch 4 x accumulation 2
    assert sample_passes_curve(runs["centralized_hf"], "eval_loss") == ([40.0, 80.0], [1.5, 1.2])


def test_the_report_shows_drift_per_round_and_bytes_per_client_round(tmp_path):
    root = _runs(tmp_path)
    runs = find_runs(root)
    drift = drift_rows(runs)
    assert drift[0] == ["run", "round", "client 0", "client 1", "mean"]
    assert drift[1:] == [
        ["fedavg", "1", "0.910", "0.420", "0.665"],
        ["fedavg", "2", "0.950", "-", "0.950"],
        ["fedavg_int8", "1", "0.500", "0.250", "0.375"],
    ]
    rows = {row[0]: row[1:] for row in table_rows(runs)}
    names = [r.name for r in runs]
    per_round = dict(zip(names, rows["bytes per client per round, down / up"], strict=True))
    assert per_round == {"centralized_hf": "-", "fedavg": "1.00 kB / 1.00 kB", "fedavg_int8": "252 B / 251 B"}
    text, md_path, _ = write_report(root)
    report = md_path.read_text()
    assert f"## {DRIFT_TITLE}" in report and "| fedavg | 1 | 0.910 | 0.420 | 0.665 |" in report
    assert (root / "validation_curves.png").stat().st_size > 0 and "validation_curves.png" in report
    assert DRIFT_TITLE in text and TUNING_TITLE not in report


def test_the_report_shows_the_grid_a_run_was_chosen_from(tmp_path):
    root = _runs(tmp_path)
    (root / "fedavg" / "tuning.json").write_text(
        json.dumps(
            {
                "metric": "eval_loss",
                "better": "lower",
                "split": "validation",
                "chosen": "fedprox_mu=0.01",
                "results": {"fedprox_mu=0.001": 1.31, "fedprox_mu=0.01": 1.25, "fedprox_mu=0.1": None},
            }
        )
    )
    report = write_report(root)[1].read_text()
    assert f"## {TUNING_TITLE}" in report
    assert "| fedavg | fedprox_mu=0.01 | eval_loss (lower is better) | 1.2500 | chosen |" in report
    assert "| fedavg | fedprox_mu=0.1 | eval_loss (lower is better) | n/a |  |" in report
