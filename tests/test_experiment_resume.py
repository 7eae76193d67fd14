"""`fedjava experiment` resumes: an interrupted training stage continues, a tuning grid is chosen once (the slow
experiment tests, in a file of their own so that the test workers run them beside test_experiment.py)."""

from __future__ import annotations

import json
import re

import pytest

from experiment_setup import TINY, tiny_preset, write_source
from fedjava.cli import main
from fedjava.experiment import ExperimentError, load_experiment, run_experiment


@pytest.fixture
def source(tmp_path):
    return write_source(tmp_path / "source")


def test_a_tuning_grid_is_chosen_on_validation_before_the_test_samples_are_read(tmp_path, source):
    exp = load_experiment(
        str(
            tiny_preset(
                tmp_path,
                centralized=[],
                algorithms=["fedprox"],
                baselines=["majority"],
                num_rounds=1,
                tuning={"fedprox": {"fedprox_mu": [0.0, 50.0]}},
            )
        )
    )
    out = tmp_path / "exp"
    printed: list[str] = []
    run_experiment(exp, source_dir=source, only=["data", "train"], printer=printed.append)
    grid = {mu: out / "tuning" / "fedprox" / f"fedprox_mu={mu}" for mu in (0.0, 50.0)}
    losses = {}
    for mu, folder in grid.items():
        history = json.loads((folder / "training_history.json").read_text())
        assert history["config"]["fedprox_mu"] == mu
        losses[f"fedprox_mu={mu}"] = history["rounds"][-1]["eval_loss"]  # the last round's validation loss
    record = json.loads((out / "fedprox" / "tuning.json").read_text())
    assert record["split"] == "validation" and record["metric"] == "eval_loss"
    assert record["results"] == pytest.approx(losses) and record["chosen"] == min(losses, key=losses.get)
    chosen = grid[float(record["chosen"].split("=")[1])]
    assert (out / "fedprox" / "final_model" / "adapter_model.safetensors").read_bytes() == (
        chosen / "final_model" / "adapter_model.safetensors"
    ).read_bytes()
    assert not list(out.rglob("metrics.json"))  # chosen before any evaluation read the test samples
    assert any("<- chosen" in line for line in printed)
    # done: run again, nothing is trained or chosen again; then the row is measured and the grid is in the report
    again = run_experiment(exp, source_dir=source, only=["data", "train"], printer=lambda _: None)
    assert [state for *_, state in again["stages"]] == ["done earlier"] * 4
    summary = run_experiment(exp, source_dir=source, printer=lambda _: None)
    assert "Tuning on the validation samples" in summary["table"] and "fedprox_mu=50.0" in summary["table"]
    # published to commit: the report, its plots, the record, each run's small files and the grid's histories
    published = tmp_path / "docs" / "results" / "tiny"
    assert main(["compare", str(out), "--publish", str(published)]) == 0
    files = {p.relative_to(published).as_posix() for p in published.rglob("*") if p.is_file()}
    assert {"report.md", "experiment.json", "published.txt", "runs/majority/metrics.json"} <= files
    assert {"runs/fedprox/training_history.json", "runs/fedprox/tuning.json", "runs/fedprox/metrics.json"} <= files
    assert {f"tuning/fedprox/fedprox_mu={mu}/training_history.json" for mu in (0.0, 50.0)} <= files
    plots = re.findall(r"\]\((\w+\.png)\)", (published / "report.md").read_text())
    assert plots and {*plots} <= files and not [f for f in files if f.endswith((".safetensors", ".jsonl"))]
    (published / "NOTES.md").write_text("kept")  # the publication replaces its own files, nothing else
    (published / "runs" / "old").mkdir()
    (published / "runs" / "old" / "metrics.json").write_text("{}")
    outside = tmp_path / "outside.txt"
    outside.write_text("not the publication's")
    with open(published / "published.txt", "a") as manifest:
        manifest.write(f"runs/old/metrics.json\n{outside}\n../outside.txt\n")
    assert main(["compare", str(out), "--publish", str(published)]) == 0
    assert (published / "NOTES.md").read_text() == "kept" and not (published / "runs" / "old").exists()
    assert outside.read_text() == "not the publication's"  # a listed path outside the folder is never removed
    assert main(["compare", str(out), "--publish", str(tmp_path / "docs")]) == 2  # other files, no publication
    assert main(["compare", str(out), "--publish", str(out / "copy")]) == 2
    with pytest.raises(ExperimentError, match="tuning: no run named fedavgx"):
        load_experiment(str(tiny_preset(tmp_path, tuning={"fedavgx": {"fedprox_mu": [0.1]}})))
    with pytest.raises(ExperimentError, match="fedprox_muu"):
        load_experiment(str(tiny_preset(tmp_path, algorithms=["fedprox"], tuning={"fedprox": {"fedprox_muu": [0.1]}})))
    with pytest.raises(ExperimentError, match="tune_metric: unknown test_f1"):
        load_experiment(str(tiny_preset(tmp_path)), ["tune_metric=test_f1"])
    grid_from_cli = load_experiment(
        str(tiny_preset(tmp_path, algorithms=["fedprox"])), ["tuning={fedprox: {fedprox_mu: [0.001, 0.1]}}"]
    )
    assert grid_from_cli.tuning == {"fedprox": {"fedprox_mu": [0.001, 0.1]}}


def test_an_interrupted_federated_stage_continues_from_its_last_round(tmp_path, source):
    """A run killed after round 1 (its round 2 checkpoint and final model never written) continues from round 1 when
    the experiment is run again with the same settings, and ends with the adapter of an uninterrupted run."""
    import shutil

    exp = load_experiment(str(tiny_preset(tmp_path, centralized=[], baselines=[])))
    run_experiment(exp, source_dir=source, only=["data", "train"], printer=lambda _: None)
    folder = tmp_path / "exp" / "fedavg"
    whole = (folder / "final_model" / "adapter_model.safetensors").read_bytes()
    shutil.rmtree(folder / "final_model")
    shutil.rmtree(folder / "checkpoints" / "round_002")
    printed: list[str] = []
    run_experiment(exp, source_dir=source, only=["data", "train"], printer=printed.append)
    text = "\n".join(printed)
    assert "continuing fedavg from its last checkpoint" in text and "Resuming after round 1" in text
    assert "Round 1/2" not in text and "Round 2/2" in text
    assert (folder / "final_model" / "adapter_model.safetensors").read_bytes() == whole
    # --force starts over instead
    shutil.rmtree(folder / "final_model")
    printed.clear()
    run_experiment(exp, source_dir=source, only=["train"], force=True, printer=printed.append)
    assert "continuing" not in "\n".join(printed) and "Round 1/2" in "\n".join(printed)


def test_an_interrupted_centralized_stage_continues_from_its_last_trainer_checkpoint(tmp_path, source):
    import shutil

    def centralized(**keys):
        """Centralized only, 2 epochs, a Trainer checkpoint every 2 steps (``keys``: more training settings)."""
        preset = tiny_preset(
            tmp_path,
            algorithms=[],
            baselines=[],
            num_epochs=2,
            overrides={**TINY, "save_strategy": "steps", "save_steps": 2, **keys},
        )
        return load_experiment(str(preset))

    exp = centralized(save_total_limit=5)
    run_experiment(exp, source_dir=source, only=["data", "train"], printer=lambda _: None)
    folder = tmp_path / "exp" / "centralized_hf"
    steps = sorted(int(p.name.split("-")[1]) for p in (folder / "checkpoints").glob("checkpoint-*"))
    assert steps[-1] == 6  # 6 samples, batches of 2, 2 epochs
    shutil.rmtree(folder / "final_model")  # as if killed after the checkpoint of step 4
    shutil.rmtree(folder / "checkpoints" / "checkpoint-6")
    printed: list[str] = []
    run_experiment(exp, source_dir=source, only=["data", "train"], printer=printed.append)
    assert "continuing centralized_hf from its last checkpoint" in "\n".join(printed)
    history = json.loads((folder / "training_history.json").read_text())
    assert history["summary"]["steps"] == 6 and (folder / "final_model" / "adapter_model.safetensors").is_file()
    # a changed setting is another run: it starts over instead of continuing the old one
    shutil.rmtree(folder / "final_model")
    printed.clear()
    run_experiment(centralized(learning_rate=5e-3), source_dir=source, only=["train"], printer=printed.append)
    assert "continuing" not in "\n".join(printed)


def test_a_federated_stage_that_lost_a_school_does_not_count_and_is_redone(tmp_path, source, monkeypatch):
    """A school that failed (here it raises in round 1, as a client killed for memory does) trains fewer samples
    than the other rows: the stage stops the experiment with why, and the next run redoes it from round 0."""
    import fault_injection

    exp = load_experiment(str(tiny_preset(tmp_path, centralized=[], baselines=[], num_rounds=1)))
    env = fault_injection.environment("client1:raise@1")
    for key in (fault_injection.ENV, "PYTHONPATH"):
        monkeypatch.setenv(key, env[key])  # the simulation's client processes (Ray workers) inherit them
    with pytest.raises(ExperimentError) as failed:
        run_experiment(exp, source_dir=source, only=["data", "train"], printer=lambda _: None)
    assert "fedavg: round 1: 1 of 2 schools failed (InjectedFault" in str(failed.value)
    assert "run the experiment again to redo it" in str(failed.value)
    monkeypatch.delenv(fault_injection.ENV)
    printed: list[str] = []
    run_experiment(exp, source_dir=source, only=["data", "train"], printer=printed.append)
    text = "\n".join(printed)
    assert "continuing fedavg" not in text and "Round 1/1" in text and "skipped" in text  # the data stage only
    history = json.loads((tmp_path / "exp" / "fedavg" / "training_history.json").read_text())
    assert all(not r.get("failed") for r in history["rounds"]) and history["summary"]["rounds_aggregated"] == 1
    printed.clear()
    run_experiment(exp, source_dir=source, only=["data", "train"], printer=printed.append)
    assert "train fedavg" in "\n".join(printed) and "Round 1/1" not in "\n".join(printed)  # now done: skipped
