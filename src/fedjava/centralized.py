"""`fedjava train`: centralized LoRA fine-tuning with the HF Trainer or Unsloth, on the shared core."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fedjava.config import Config
from fedjava.errors import UserError
from fedjava.models import load_for_training, resolve_model_dir
from fedjava.prompts import tokenize_samples
from fedjava.runs import configuration_block, count_parameters, training_run

log = logging.getLogger("fedjava")


class FrameworkUnavailableError(UserError, RuntimeError):
    """The requested training framework cannot run on this machine."""


def check_unsloth() -> None:
    """Raise FrameworkUnavailableError unless unsloth is installed and a CUDA GPU is present."""
    import torch

    missing = []
    if importlib.util.find_spec("unsloth") is None:
        missing.append("the unsloth package is not installed (pip install 'fedjava[unsloth]')")
    if not torch.cuda.is_available():
        missing.append("no CUDA GPU is visible (Unsloth runs only on NVIDIA GPUs)")
    if missing:
        raise FrameworkUnavailableError(
            "--framework unsloth cannot run here: " + "; ".join(missing) + ". Use --framework hf instead."
        )


def load_unsloth(cfg: Config):
    """Base model + LoRA through Unsloth's FastLanguageModel. Returns (model, tokenizer)."""
    from unsloth import FastLanguageModel  # noqa: I001  (unsloth must be imported before transformers)

    if cfg.model_name == "builtin:tiny-qwen3":
        raise FrameworkUnavailableError(
            "builtin:tiny-qwen3 is built in code; Unsloth needs a model directory or hub id"
        )
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=resolve_model_dir(cfg),
        max_seq_length=cfg.max_seq_length,
        dtype=None,
        load_in_4bit=cfg.use_4bit,
    )
    checkpointing: Any = {"false": False, "true": True, "unsloth": "unsloth"}[cfg.use_gradient_checkpointing]
    model = FastLanguageModel.get_peft_model(
        model,
        r=cfg.lora_r,
        target_modules=list(cfg.lora_target_modules),
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        bias="none",
        use_gradient_checkpointing=checkpointing,
        random_state=cfg.seed,
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def _beside_progress_bar(printer: Callable[[str], None]) -> Callable[[str], None]:
    """Print lines so they do not break the progress bar (tqdm.write when printing to the console)."""
    if printer is not print:
        return printer
    from tqdm.auto import tqdm

    return tqdm.write


def _configuration_rows(
    cfg: Config, framework: str, load_seconds: float, train_stats, n_train: int, n_valid: int, model, out: Path
) -> list[tuple[str, Any]]:
    """The rows of the "Training Configuration" block printed before training starts."""
    trainable, total = count_parameters(model)
    return [
        ("Model", f"{cfg.model_name} (loaded in {load_seconds:.1f}s)"),
        ("Framework", framework),
        (
            "Training samples",
            f"{n_train}"
            + (
                f" ({train_stats.truncated} truncated, {train_stats.dropped} dropped)"
                if train_stats.truncated or train_stats.dropped
                else ""
            ),
        ),
        ("Validation samples", n_valid),
        ("Epochs", cfg.num_epochs if cfg.max_steps < 0 else f"{cfg.max_steps} steps"),
        ("Batch size", cfg.batch_size),
        ("Effective batch size", cfg.batch_size * cfg.gradient_accumulation_steps),
        (
            "Learning rate",
            f"{cfg.learning_rate:g} ({cfg.lr_scheduler}, warmup {cfg.warmup_ratio:g}, "
            f"max_grad_norm {cfg.max_grad_norm:g})",
        ),
        (
            "LoRA",
            f"r={cfg.lora_r}, alpha={cfg.lora_alpha}, dropout={cfg.lora_dropout:g}, "
            f"targets={','.join(cfg.lora_target_modules)}",
        ),
        ("Trainable parameters", f"{trainable:,} of {total:,} ({100 * trainable / total:.2f}%)"),
        ("Max sequence length", cfg.max_seq_length),
        (
            "Prompt",
            cfg.prompt_mode
            + (
                f" (tests hidden from {cfg.tests_dropout:.0%} of training samples)"
                if cfg.prompt_mode == "grounded" and cfg.tests_dropout
                else ""
            )
            + (f", decision tokens weighted x{cfg.decision_weight:g}" if cfg.decision_weight != 1 else ""),
        ),
        ("Output", out),
    ]


def run_centralized(
    cfg: Config,
    framework: str = "hf",
    resume: bool = False,
    printer: Callable[[str], None] = print,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Train centrally and save ``final_model``. Returns the run summary.

    An output folder holding another run is refused unless ``resume`` (continue from its newest checkpoint,
    which must have the same model and LoRA settings) or ``overwrite`` (remove that run's outputs first).
    """
    from fedjava.training import load_train_valid, resume_checkpoint, set_seed, train_adapter

    method = f"centralized_{framework}"
    if framework == "unsloth":
        check_unsloth()
    out = cfg.resolved_output_dir(method)
    with training_run(cfg, out, resume, overwrite, lambda: resume_checkpoint(out / "checkpoints", cfg), printer) as run:
        # Read the data before loading any model: a malformed file fails in a second, not after a minute.
        train_samples, valid_samples = load_train_valid(cfg)
        set_seed(cfg.seed)
        (model, tokenizer), load_seconds = run.load_model(
            lambda: load_unsloth(cfg) if framework == "unsloth" else load_for_training(cfg)
        )
        train_features, train_stats = tokenize_samples(
            tokenizer, train_samples, cfg.max_seq_length, cfg.truncation, "train"
        )
        eval_features = (
            tokenize_samples(tokenizer, valid_samples, cfg.max_seq_length, cfg.truncation, "valid")[0]
            if valid_samples
            else None
        )
        printer(
            configuration_block(
                "Training Configuration",
                _configuration_rows(
                    cfg, framework, load_seconds, train_stats, len(train_features), len(eval_features or []), model, out
                ),
            )
        )
        tracker = run.track(method)
        printer("\nTraining Progress:")
        if run.checkpoint is not None:
            printer(f"Resuming from {run.checkpoint}")
        result = train_adapter(
            model,
            tokenizer,
            cfg,
            train_features,
            eval_features,
            out / "checkpoints",
            tracker=tracker,
            printer=_beside_progress_bar(printer),
            resume_from=run.checkpoint,
        )
        summary = run.finish(
            model,
            tokenizer,
            {"method": method, "framework": framework},
            lambda final: _summary(method, result, model, final),
        )
        log.debug("finished %s: %s", method, summary)
        printer(f"\nModel saved to: {summary['final_model']}")
    return summary


def _summary(method: str, result, model, final: Path) -> dict[str, Any]:
    """The run's summary: the losses and decisions at the end, how much it trained and how fast, where the model is."""
    return {
        "method": method,
        "train_loss": result.train_loss,
        "eval_loss": result.eval_loss,
        **{k: v for k, v in result.eval_metrics.items() if k != "eval_loss"},
        "steps": result.steps,
        "train_samples": result.samples,
        "train_tokens": result.tokens,
        "train_seconds": result.seconds,
        "samples_seen": result.samples_seen,
        "samples_per_second": result.samples_seen / max(result.seconds, 1e-9),
        "tokens_per_second": result.tokens / max(result.seconds, 1e-9),
        "trainable_parameters": count_parameters(model)[0],
        "final_model": str(final),
    }
