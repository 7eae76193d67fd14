"""Learning on the tiny model: loss goes down, only LoRA moves, the saved adapter reproduces logits."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import pytest
import torch

from fedjava.centralized import run_centralized
from fedjava.config import load_config
from fedjava.models import load_adapter, load_for_training
from fedjava.prompts import AnswerOnlyCollator, load_samples, tokenize_samples
from fedjava.runs import save_final_model
from fedjava.training import NonFiniteLossError, answer_loss, evaluate_loss, train_adapter


def _setup(overrides):
    cfg = load_config(None, overrides)
    model, tok = load_for_training(cfg)
    train, _ = tokenize_samples(tok, load_samples(cfg.data_path(cfg.train_file)), cfg.max_seq_length)
    valid, _ = tokenize_samples(tok, load_samples(cfg.data_path(cfg.valid_file)), cfg.max_seq_length)
    return cfg, model, tok, train, valid


def test_answer_only_loss_equals_the_full_model_loss(tiny_overrides):
    cfg, model, tok, train, _ = _setup(tiny_overrides)
    batch = AnswerOnlyCollator(tok.pad_token_id)(train[:3])
    loss_sum, count = answer_loss(model, batch)
    reference = model(**batch).loss  # HF computes logits everywhere and masks by labels
    assert count == int((batch["labels"][:, 1:] != -100).sum())
    torch.testing.assert_close(loss_sum / count, reference, rtol=1e-5, atol=1e-5)


def test_training_lowers_loss_moves_only_lora_and_reloads_exactly(tiny_overrides, tmp_path):
    cfg, model, tok, train, valid = _setup(tiny_overrides)
    collator = AnswerOnlyCollator(tok.pad_token_id)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    eval_before = evaluate_loss(model, valid, collator)["eval_loss"]
    result = train_adapter(model, tok, cfg, train, valid, tmp_path / "ckpt", show_progress=False)
    eval_after = evaluate_loss(model, valid, collator)["eval_loss"]
    assert eval_after < eval_before - 0.5, (eval_before, eval_after)
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]
    lora_changed = [n for n, p in model.named_parameters() if "lora_" in n and not torch.equal(p, before[n])]
    base_changed = [n for n, p in model.named_parameters() if "lora_" not in n and not torch.equal(p, before[n])]
    assert lora_changed and not base_changed
    final = save_final_model(model, tok, cfg, tmp_path / "final_model")
    reloaded, _ = load_adapter(final)
    batch = collator(valid[:2])
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)


def test_centralized_run_writes_every_output(tiny_overrides, tmp_path, capsys):
    cfg = load_config(None, tiny_overrides + ["num_epochs=3"])
    summary = run_centralized(cfg, "hf")
    out = tmp_path / "results" / "centralized_hf"
    printed = capsys.readouterr().out
    assert "Training Configuration:" in printed and "Effective batch size: 4" in printed
    assert "Epoch 3/3: train_loss:" in printed and f"Model saved to: {out / 'final_model'}" in printed
    assert (out / "final_model" / "adapter_model.safetensors").is_file()
    assert (out / "final_model" / "fedjava_config.yaml").is_file()
    history = json.loads((out / "training_history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3]
    assert all("eval_loss" in e and "train_loss" in e for e in history["epochs"])
    # The decisions are measured with the loss: a run that learns text but not verdicts shows it.
    assert all(0 <= e["eval_verdict_macro_f1"] <= 1 and "eval_line_accuracy" in e for e in history["epochs"])
    assert "verdict acc " in printed and "(majority 0.333)" in printed
    assert summary["eval_verdict_accuracy"] == history["epochs"][-1]["eval_verdict_accuracy"]
    steps = [e for e in history["steps"] if "train_loss" in e]
    assert len(steps) == summary["steps"] == 6
    assert all(e["learning_rate"] > 0 and e["tokens_per_second"] > 0 and "elapsed_seconds" in e for e in steps)
    assert history["summary"]["eval_loss"] == pytest.approx(history["epochs"][-1]["eval_loss"])
    log_text = (out / "training.log").read_text()
    assert "resolved config" in log_text
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = list((tmp_path / "results" / "logs" / "centralized_hf").glob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert len(acc.Scalars("epoch/eval_verdict_macro_f1")) == 3
    losses = [s.value for s in acc.Scalars("train/train_loss")]
    assert losses == pytest.approx([e["train_loss"] for e in steps], rel=1e-5)
    assert len(acc.Scalars("epoch/eval_loss")) == 3


def test_non_finite_loss_stops_with_step_and_remedies(tiny_overrides, tmp_path, monkeypatch):
    cfg, model, tok, train, valid = _setup(tiny_overrides + ["save_strategy=steps", "save_steps=2"])
    import fedjava.training as training

    real = training.answer_loss
    calls = {"n": 0}

    def poisoned(m, batch):
        calls["n"] += 1
        loss, count = real(m, batch)
        return (loss * float("nan"), count) if calls["n"] == 4 else (loss, count)

    monkeypatch.setattr(training, "answer_loss", poisoned)
    with pytest.raises(NonFiniteLossError) as info:
        train_adapter(model, tok, cfg, train, None, tmp_path / "ckpt", show_progress=False)
    message = str(info.value)
    assert "at step 4" in message and "lower learning_rate" in message and "max_grad_norm" in message
    assert info.value.checkpoint == str(tmp_path / "ckpt" / "checkpoint-2")
    assert Path(info.value.checkpoint, "adapter_model.safetensors").is_file()


def test_fedprox_term_is_zero_at_the_reference_and_grows_with_distance(tiny_overrides):
    from fedjava.training import Proximal

    cfg, model, *_ = _setup(tiny_overrides)
    prox = Proximal.from_model(model, mu=0.5)
    assert float(prox.term(model).detach()) == 0.0
    with torch.no_grad():
        name, param = next((n, p) for n, p in model.named_parameters() if p.requires_grad)
        param.add_(1.0)
    assert float(prox.term(model).detach()) == pytest.approx(0.5 * 0.5 * param.numel())


# ---------------------------------------------------------------------- resume, and the output folder


def _stop_after_logging_step(monkeypatch, step: int) -> None:
    """Interrupt the next run right after it logged ``step``, as Ctrl-C or a kill would (the history holds steps
    the checkpoint does not)."""
    import fedjava.training as training

    real = training.HistoryCallback.on_log

    def on_log(self, args, state, control, logs=None, **kwargs):
        real(self, args, state, control, logs=logs, **kwargs)
        if state.global_step == step:
            raise KeyboardInterrupt

    monkeypatch.setattr(training.HistoryCallback, "on_log", on_log)


def test_a_resumed_run_has_the_history_of_an_uninterrupted_one(tiny_overrides, tmp_path, monkeypatch):
    # 8 samples in batches of 4: 2 steps an epoch; a checkpoint after every step, the first one mid-epoch.
    args = [*tiny_overrides, "num_epochs=2", "save_strategy=steps", "save_steps=1"]
    straight = run_centralized(
        load_config(None, [*args, f"output_dir={tmp_path / 'straight'}"]), printer=lambda _: None
    )
    cfg = load_config(None, [*args, f"output_dir={tmp_path / 'resumed'}", "save_total_limit=1"])
    with monkeypatch.context() as patch:
        _stop_after_logging_step(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            run_centralized(cfg, printer=lambda _: None)
    out = tmp_path / "resumed"
    # the checkpoint of step 2 was not written yet: the run goes on from step 1, and logs step 2 again
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-1"]
    before = json.loads((out / "checkpoints" / "checkpoint-1" / "fedjava_state.json").read_text())
    printed: list[str] = []
    started = time.time()
    resumed = run_centralized(cfg, resume=True, printer=printed.append)
    session = time.time() - started
    want = json.loads((tmp_path / "straight" / "training_history.json").read_text())
    got = json.loads((out / "training_history.json").read_text())
    assert [e["step"] for e in got["steps"]] == [e["step"] for e in want["steps"]] == [1, 2, 3, 4]
    assert [e["train_loss"] for e in got["steps"]] == pytest.approx([e["train_loss"] for e in want["steps"]], rel=1e-5)
    assert [e["epoch"] for e in got["epochs"]] == [e["epoch"] for e in want["epochs"]] == [1, 2]
    for key in ("train_loss", "eval_loss", "eval_verdict_accuracy"):
        assert [e[key] for e in got["epochs"]] == pytest.approx([e[key] for e in want["epochs"]], rel=1e-5), key
    elapsed = [e["elapsed_seconds"] for e in got["steps"]]
    assert elapsed == sorted(elapsed)  # time counts on after the resume
    # the summary counts the whole run: steps, tokens, and the seconds before and after the interruption
    assert (resumed["steps"], resumed["train_tokens"]) == (straight["steps"], straight["train_tokens"])
    assert before["train_seconds"] < resumed["train_seconds"] <= before["train_seconds"] + session
    assert got["summary"]["train_seconds"] == resumed["train_seconds"]
    text = "\n".join(printed)
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "Epoch 3" not in text


def test_an_output_folder_holding_a_run_is_kept_unless_asked(tiny_overrides, tmp_path, capsys):
    from fedjava.cli import main

    args = ["train", *tiny_overrides, "num_epochs=1", "save_strategy=epoch"]
    assert main(args) == 0
    out = tmp_path / "results" / "centralized_hf"
    final = (out / "final_model" / "adapter_model.safetensors").read_bytes()
    capsys.readouterr()
    assert main(args) == 2  # again, without --resume or --overwrite
    err = capsys.readouterr().err
    assert f"{out} holds another run (final_model, checkpoints, training_history.json)" in err
    assert "--resume" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "final_model" / "adapter_model.safetensors").read_bytes() == final
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-2"]
    # --overwrite: the old run's outputs go first (its evaluation results too), then the run starts afresh
    (out / "metrics.json").write_text("{}")
    assert main(["train", "--overwrite", *args[1:], "max_steps=1"]) == 0
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["checkpoint-1"]
    assert not (out / "metrics.json").exists()
    history = json.loads((out / "training_history.json").read_text())
    assert [e["step"] for e in history["steps"]] == [1]


def test_a_run_that_fails_stops_writing_into_its_log(tiny_overrides, tmp_path, monkeypatch):
    import logging

    import fedjava.training as training

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    def tensorboard_writers() -> int:
        return sum(type(t).__name__ == "_AsyncWriterThread" for t in threading.enumerate())

    writers = tensorboard_writers()
    monkeypatch.setattr(training, "train_adapter", out_of_memory)
    cfg = load_config(None, [*tiny_overrides, "num_epochs=1", "report_to=tensorboard"])
    with pytest.raises(RuntimeError, match="CUDA out of memory"):
        run_centralized(cfg, printer=lambda _: None)
    log_file = tmp_path / "results" / "centralized_hf" / "training.log"
    assert "resolved config" in log_file.read_text()
    assert list((tmp_path / "results").rglob("events.out.tfevents.*"))
    assert tensorboard_writers() == writers  # the run's TensorBoard writer was closed too (its thread ended)
    # what the process does next (`fedjava experiment`'s next stage, another run) is not logged as this run's
    logging.getLogger("fedjava").debug("the next stage starts")
    assert "the next stage starts" not in log_file.read_text()


def test_resume_needs_a_whole_checkpoint_of_the_same_run(tiny_overrides, tmp_path, capsys):
    from fedjava.cli import main

    args = [*tiny_overrides, "num_epochs=1", "save_strategy=epoch"]
    assert main(["train", "--resume", *args]) == 2  # nothing to continue: said, and nothing trained
    out = tmp_path / "results" / "centralized_hf"
    assert (
        f"--resume: no checkpoint in {out / 'checkpoints'}, so there is nothing to continue" in capsys.readouterr().err
    )
    assert not (out / "final_model").exists()
    assert main(["train", *args]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", *args, "lora_r=4", "lora_target_modules=q_proj"]) == 2
    err = capsys.readouterr().err
    assert "belongs to a run with other settings" in err and "lora_r: the checkpoint has 8, this run 4" in err
    assert "lora_target_modules: the checkpoint has" in err and "Traceback" not in err
    (out / "checkpoints" / "checkpoint-9").mkdir()  # as a run killed while saving leaves it
    assert main(["train", "--resume", *args]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert (
        len(errors) == 1 and f"the newest checkpoint {out / 'checkpoints' / 'checkpoint-9'} is incomplete" in errors[0]
    )
    assert "Traceback" not in err


@pytest.mark.parametrize("scheduler", ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant"])
def test_the_schedule_over_a_runs_progress_is_transformers_curve(scheduler):
    """schedule_factor(step / total) is the multiplier transformers' scheduler gives at that step (20 steps, warmup 2)."""
    from transformers import get_scheduler

    from fedjava.training import schedule_factor

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    warmup = 0 if scheduler == "constant" else 2
    curve = get_scheduler(scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=20)
    for step in range(20):
        expected = optimizer.param_groups[0]["lr"]
        assert schedule_factor(scheduler, step / 20, warmup / 20) == pytest.approx(expected, abs=1e-6), step
        optimizer.step()
        curve.step()
    assert (
        schedule_factor("constant_with_warmup", 0.05, 0.1) == 0.5 == pytest.approx(schedule_factor("cosine", 0.55, 0.1))
    )


def test_a_school_with_one_local_step_a_round_moves_the_model_only_when_the_rounds_share_one_schedule(
    tiny_overrides, tmp_path
):
    """Warmup restarted in every round (client_lr_schedule=restart) gives the round's first local step learning rate
    0, so a school whose shard is one batch sends back the model it got. One schedule over the rounds (the default)
    trains it at the curve's rate for its round: the cosine's value at the middle of the round's share of the run."""
    from fedjava.federated.common import local_config, round_learning_rate

    schedule = ["lr_scheduler=cosine", "warmup_ratio=0.1", "learning_rate=1e-2", "num_rounds=4", "num_epochs=1"]
    moved = {}
    for mode in ("restart", "rounds"):
        cfg, model, tok, train, _ = _setup([*tiny_overrides, *schedule, f"client_lr_schedule={mode}"])
        before = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
        local = local_config(cfg, 2, 0)
        result = train_adapter(model, tok, local, train[:4], None, tmp_path / mode, show_progress=False)
        assert result.steps == 1  # one batch of 4
        moved[mode] = sum(float((p.detach() - before[n]).norm()) for n, p in model.named_parameters() if n in before)
        if mode == "rounds":
            assert local.lr_scheduler == "constant" and local.warmup_ratio == 0
            # round 2 of 4: its middle is 3/8 of the run, (3/8 - 1/10) / (9/10) = 11/36 of the cosine after the warmup
            assert local.learning_rate == pytest.approx(1e-2 * 0.5 * (1 + math.cos(math.pi * 11 / 36)))
            assert round_learning_rate(cfg, 1) > local.learning_rate > round_learning_rate(cfg, 3)
    assert moved["restart"] == 0 and moved["rounds"] > 0, moved
