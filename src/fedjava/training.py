"""The local train/eval loop shared by every path (centralized HF/Unsloth, federated clients).

Speed comes from two things the legacy scripts did not do: batches are padded only to their own
longest sample, and vocabulary logits are computed only at the answer positions, where the loss is
taken (on the built-in model the 262,144-wide output layer is most of the cost).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ProgressCallback

from fedjava.config import SAVED_CONFIG, Config, load_saved_config, to_yaml
from fedjava.evaluation.metrics import DECISION_KEYS, format_decisions, macro_f1
from fedjava.prompts import IGNORE_INDEX, AnswerOnlyCollator, apply_prompt_mode, load_samples
from fedjava.runs import RunFolderError, refuse_other_run, settings_problems
from fedjava.tracking import RunTracker

log = logging.getLogger("fedjava")

CHECKPOINT_STATE = "fedjava_state.json"
"""What a Trainer checkpoint gets from fedjava beside the Trainer's own files (and the run's SAVED_CONFIG): the
current epoch's loss so far, tokens and samples seen, seconds trained and the run's elapsed time, so a resumed
run's history and summary go on from the interrupted run's."""


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, step: int, value: float, checkpoint: str | None = None):
        self.step, self.value, self.checkpoint = step, value, checkpoint
        kept = (
            f"The last good checkpoint is kept at {checkpoint}." if checkpoint else "No checkpoint was saved before it."
        )
        super().__init__(
            f"the training loss became {value} at step {step}; training stopped. {kept} "
            "Usual remedies: lower learning_rate (e.g. 5e-5), keep gradient clipping on (max_grad_norm=1.0), "
            "raise warmup_ratio (e.g. 0.1), or use precision=fp32."
        )


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass


def _inner(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def answer_logits(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits at the answer positions [N, vocab], their targets [N], the mask [batch, len-1] that chose them).

    The vocabulary head runs only where a label is. Falls back to the model's own forward for
    architectures without a separate decoder and head.
    """
    labels = batch["labels"]
    base = _inner(model)
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    head = base.get_output_embeddings()
    shift = labels[:, 1:]
    mask = shift != IGNORE_INDEX
    if decoder is None or head is None:
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        logits = out.logits[:, :-1][mask].float()
    else:
        hidden = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        logits = head(hidden[:, :-1][mask]).float()
        cap = getattr(base.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
    return logits, shift[mask], mask


def answer_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, float]:
    """Summed cross-entropy over answer tokens and their count, with logits only where labels are.

    With ``batch["weights"]`` (decision tokens weighed more) the sum and the count are weighted.
    """
    logits, targets, mask = answer_logits(model, batch)
    weights = batch.get("weights")
    if weights is None:
        return F.cross_entropy(logits, targets, reduction="sum"), int(mask.sum())
    w = weights[:, 1:][mask].to(logits.device)
    return (F.cross_entropy(logits, targets, reduction="none") * w).sum(), float(w.sum())


@torch.no_grad()
def evaluate_loss(
    model, features: list[dict[str, Any]], collator, batch_size: int = 4, tally: DecisionTally | None = None
) -> dict[str, float]:
    """Token-weighted mean answer loss and perplexity over ``features``, and from the same teacher-forced
    pass the decision metrics (:class:`DecisionTally`, ``tally`` when given) where the features carry decision
    spans."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    tally = tally if tally is not None else DecisionTally()
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    for start in range(0, len(order), batch_size):
        chunk = [features[i] for i in order[start : start + batch_size]]
        batch = collator(chunk)
        batch = {k: v.to(device) for k, v in batch.items() if k != "weights"}
        logits, targets, mask = answer_logits(model, batch)
        total += float(F.cross_entropy(logits, targets, reduction="sum"))
        count += int(mask.sum())
        tally.add_batch(chunk, logits, mask, batch["input_ids"])
    if was_training:
        model.train()
    loss = total / max(count, 1)
    return {"eval_loss": loss, "eval_perplexity": math.exp(min(loss, 50.0)), "eval_tokens": count, **tally.metrics()}


@dataclass
class DecisionTally:
    """What the model decides at the verdict, code and line tokens, teacher-forced (one forward pass).

    * verdict: the verdict whose first token has the highest logit where the verdict starts (verdicts that
      share a first token are told apart by the rest of the gold verdict's tokens);
    * code and line (programs with an error): every token of the gold value is the argmax.
    Also the macro-F1 of always answering the most common gold verdict, for comparison.
    """

    gold: list[int] = field(default_factory=list)
    pred: list[int] = field(default_factory=list)
    code: list[bool] = field(default_factory=list)
    line: list[bool] = field(default_factory=list)
    code_line_verdict: list[int] = field(default_factory=list)
    """the gold verdict of each ``code`` and ``line`` entry (the programs with an error)"""

    def add_batch(self, features, logits: torch.Tensor, mask: torch.Tensor, input_ids: torch.Tensor) -> None:
        if not any(f.get("decision") for f in features):
            return
        # Row of ``logits`` that predicts token p of batch row b: the mask position (b, p - 1).
        rows = (torch.cumsum(mask.flatten().long(), 0) - 1).view(mask.shape)
        for b, feature in enumerate(features):
            decision = feature.get("decision")
            if not decision or decision["verdict"] < 0 or "verdict" not in decision["spans"]:
                continue
            spans = decision["spans"]

            def argmax_ok(span, b=b):
                start, end = span
                picked = logits[rows[b, start - 1 : end - 1]].argmax(-1)
                return bool(torch.equal(picked, input_ids[b, start:end].to(picked.device)))

            start = spans["verdict"][0]
            scores = logits[rows[b, start - 1]][decision["candidates"]]
            best = int(scores.argmax())
            gold = decision["verdict"]
            ties = [k for k, t in enumerate(decision["candidates"]) if t == decision["candidates"][best]]
            if len(ties) > 1:
                best = gold if gold in ties and argmax_ok(spans["verdict"]) else next(k for k in ties if k != gold)
            self.gold.append(gold)
            self.pred.append(best)
            if gold != 0:  # VERDICTS[0] is NO_ERROR: code and line exist only for programs with an error
                self.code.append("code" in spans and argmax_ok(spans["code"]))
                self.line.append("line" in spans and argmax_ok(spans["line"]))
                self.code_line_verdict.append(gold)

    def metrics(self) -> dict[str, float]:
        if not self.gold:
            return {}
        majority = max(set(self.gold), key=self.gold.count)
        out = {
            "eval_verdict_accuracy": sum(g == p for g, p in zip(self.gold, self.pred, strict=True)) / len(self.gold),
            "eval_verdict_macro_f1": macro_f1(self.gold, self.pred),
            "eval_majority_macro_f1": macro_f1(self.gold, [majority] * len(self.gold)),
            "eval_decision_samples": len(self.gold),
        }
        if self.code:
            out["eval_code_accuracy"] = sum(self.code) / len(self.code)
            out["eval_line_accuracy"] = sum(self.line) / len(self.line)
        return out


@dataclass
class Proximal:
    """FedProx's ``mu/2 * ||w - w_global||^2`` over the trainable (adapter) weights."""

    mu: float
    reference: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model, mu: float) -> Proximal:
        ref = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        return cls(mu, ref)

    def term(self, model) -> torch.Tensor:
        total = None
        for name, param in model.named_parameters():
            if name in self.reference:
                diff = (param - self.reference[name].to(param.device)).pow(2).sum()
                total = diff if total is None else total + diff
        return 0.5 * self.mu * total if total is not None else torch.zeros(())


class AnswerOnlyTrainer(Trainer):
    """HF Trainer with the answer-only loss, exact token averaging across gradient accumulation,
    an optional FedProx term, a NaN/inf guard, and evaluation through :func:`evaluate_loss`."""

    loss_is_scaled_for_ga = True

    def __init__(self, *args, proximal: Proximal | None = None, eval_features=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.proximal = proximal
        self.eval_features = eval_features
        self.model_accepts_loss_kwargs = True
        self.epoch_loss_sum = 0.0
        self.epoch_loss_tokens = 0
        self.tokens_seen = 0
        self.samples_seen = 0

    def _get_num_items_in_batch(self, batch_samples, device):
        n = 0.0
        for b in batch_samples:
            mask = b["labels"][:, 1:] != IGNORE_INDEX
            n += float(b["weights"][:, 1:][mask].sum()) if "weights" in b else float(mask.sum())
        return torch.tensor(n, device=device)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss_sum, count = answer_loss(model, inputs)
        if num_items_in_batch is not None and model.training:
            loss = loss_sum / max(float(num_items_in_batch), 1.0)
        else:
            loss = loss_sum / max(count, 1)
            if model.training:
                loss = loss / self.current_gradient_accumulation_steps
        if model.training:
            value = float(loss_sum.detach())
            if not math.isfinite(value):
                raise NonFiniteLossError(self.state.global_step + 1, value, _last_checkpoint(self.args.output_dir))
            self.epoch_loss_sum += value
            self.epoch_loss_tokens += count
            self.tokens_seen += int(inputs["attention_mask"].sum())
            self.samples_seen += int(inputs["input_ids"].shape[0])
            if self.proximal is not None and self.proximal.mu > 0:
                loss = loss + self.proximal.term(model) / self.current_gradient_accumulation_steps
        return (loss, {"loss": loss}) if return_outputs else loss

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        if not self.eval_features:
            return {}
        metrics = evaluate_loss(
            self.model, self.eval_features, self.data_collator, self.args.per_device_eval_batch_size
        )
        self.log({"eval_loss": metrics["eval_loss"]})
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics=metrics)
        return metrics


def _last_checkpoint(output_dir: str | Path) -> str | None:
    """The Trainer checkpoint of the highest step in ``output_dir`` (``checkpoint-N``), or None."""
    steps = {
        int(p.name.removeprefix("checkpoint-")): p
        for p in Path(output_dir).glob("checkpoint-*")
        if p.is_dir() and p.name.removeprefix("checkpoint-").isdigit()
    }
    return str(steps[max(steps)]) if steps else None


def resume_checkpoint(folder: Path, cfg: Config) -> Path:
    """The newest Trainer checkpoint in ``folder`` for ``--resume``, checked before any model loads.

    RunFolderError when there is none, when it is incomplete (a run killed while saving it leaves an empty or
    partial folder), or when it was saved with other model or LoRA settings (every differing key named).
    """
    found = _last_checkpoint(folder)
    if found is None:
        raise RunFolderError(
            f"--resume: no checkpoint in {folder}, so there is nothing to continue; run without "
            "--resume (with --overwrite to replace what the output folder holds)"
        )
    path = Path(found)
    problem = _incomplete(path)
    if problem:
        raise RunFolderError(
            f"--resume: the newest checkpoint {path} is incomplete ({problem}), as when a run is "
            "stopped while saving: delete that folder to resume from the one before, or start "
            "again with --overwrite"
        )
    saved = load_saved_config(path).to_dict() if (path / SAVED_CONFIG).is_file() else {}
    refuse_other_run(path, settings_problems(saved, cfg))
    return path


def _incomplete(checkpoint: Path) -> str | None:
    """What a Trainer checkpoint lacks for resuming, or None."""
    for name in ("trainer_state.json", "adapter_model.safetensors"):
        if not (checkpoint / name).is_file() or (checkpoint / name).stat().st_size == 0:
            return f"{name} is missing or empty"
    try:
        json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except ValueError:
        return "trainer_state.json is not valid JSON"
    return None


def checkpoint_state(path: Path) -> dict[str, Any]:
    """What :data:`CHECKPOINT_STATE` holds in the checkpoint ``path`` ({} for a checkpoint without it)."""
    try:
        return json.loads((path / CHECKPOINT_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class QuietProgress(ProgressCallback):
    """The progress bar without the raw metric dicts; :class:`HistoryCallback` prints the lines."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return


class HistoryCallback(TrainerCallback):
    """Feeds the RunTracker: every logging step and every epoch; prints one line per epoch.

    Epochs are numbered from the Trainer's own epoch counter and shown out of the epochs it will run, so a
    resumed run goes on counting (and ``max_steps`` runs show their true epoch count). Each checkpoint gets
    :data:`CHECKPOINT_STATE` and the run's config (``config_text``); :meth:`resume` reads them back.
    """

    def __init__(
        self,
        trainer_ref: Callable[[], AnswerOnlyTrainer],
        tracker: RunTracker | None,
        num_epochs: int,
        printer: Callable[[str], None] | None = None,
        config_text: str = "",
    ):
        self.trainer_ref = trainer_ref
        self.tracker = tracker
        self.num_epochs = num_epochs
        self.printer = printer
        self.config_text = config_text
        self.last_time = time.time()
        self.last_tokens = 0
        self.seconds_before = 0.0  # seconds trained before this session (a resumed run)
        self.session_start = time.time()
        self.pending_epoch: dict[str, Any] | None = None
        self.epochs: list[dict[str, Any]] = []

    def seconds(self) -> float:
        """Seconds trained so far, the interrupted part of a resumed run included."""
        return self.seconds_before + time.time() - self.session_start

    def resume(self, checkpoint: Path) -> None:
        """Go on from ``checkpoint``: its counters, its time, and the history as it was when it was saved."""
        saved = checkpoint_state(checkpoint)
        trainer = self.trainer_ref()
        trainer.tokens_seen = self.last_tokens = int(saved.get("tokens_seen", 0))
        trainer.samples_seen = int(saved.get("samples_seen", 0))
        trainer.epoch_loss_sum = float(saved.get("epoch_loss_sum", 0.0))
        trainer.epoch_loss_tokens = int(saved.get("epoch_loss_tokens", 0))
        self.seconds_before = float(saved.get("train_seconds", 0.0))
        if self.tracker:
            step = int(json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))["global_step"])
            self.tracker.continue_from(saved.get("elapsed_seconds"), step)

    def on_train_begin(self, args, state, control, **kwargs):
        self.num_epochs = state.num_train_epochs or self.num_epochs
        self.session_start = self.last_time = time.time()

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if not folder.is_dir():
            return
        trainer = self.trainer_ref()
        # Saved at an epoch's end (before on_epoch_end resets it), the epoch's loss belongs to no later epoch.
        mid_epoch = abs((state.epoch or 0.0) - round(state.epoch or 0.0)) > 1e-6
        saved = {
            "epoch_loss_sum": trainer.epoch_loss_sum if mid_epoch else 0.0,
            "epoch_loss_tokens": trainer.epoch_loss_tokens if mid_epoch else 0,
            "tokens_seen": trainer.tokens_seen,
            "samples_seen": trainer.samples_seen,
            "train_seconds": self.seconds(),
            "elapsed_seconds": self.tracker.elapsed() if self.tracker else None,
        }
        (folder / CHECKPOINT_STATE).write_text(json.dumps(saved, indent=1) + "\n", encoding="utf-8")
        if self.config_text:
            (folder / SAVED_CONFIG).write_text(self.config_text, encoding="utf-8")

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" not in logs:
            return
        trainer = self.trainer_ref()
        now = time.time()
        tokens = trainer.tokens_seen
        entry = {
            "step": state.global_step,
            "epoch": round(state.epoch or 0.0, 4),
            "train_loss": logs.get("loss"),
            "learning_rate": logs.get("learning_rate"),
            "grad_norm": logs.get("grad_norm"),
            "tokens_per_second": (tokens - self.last_tokens) / max(now - self.last_time, 1e-9),
            "elapsed_seconds": self.tracker.elapsed() if self.tracker else None,
        }
        self.last_time, self.last_tokens = now, tokens
        if self.tracker:
            self.tracker.record("steps", entry, entry["step"])

    def on_epoch_end(self, args, state, control, **kwargs):
        trainer = self.trainer_ref()
        loss = trainer.epoch_loss_sum / max(trainer.epoch_loss_tokens, 1)
        trainer.epoch_loss_sum, trainer.epoch_loss_tokens = 0.0, 0
        entry = {
            "epoch": math.ceil(round(state.epoch or 0.0, 6)),  # the Trainer's count: it goes on after a resume
            "step": state.global_step,
            "train_loss": loss,
            "elapsed_seconds": self.tracker.elapsed() if self.tracker else None,
        }
        self.epochs.append(entry)
        if self.tracker:
            self.tracker.record("epochs", entry, entry["step"])
        if args.eval_strategy == "epoch" and trainer.eval_features:
            self.pending_epoch = entry
        else:
            self._print(entry)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        metrics = metrics or {}
        step = state.global_step
        values = {k: v for k, v in metrics.items() if k == "eval_loss" or k in DECISION_KEYS}
        if self.pending_epoch is not None:
            self.pending_epoch.update(values)
            if self.tracker:
                self.tracker.update_last("epochs", values, step)
            self._print(self.pending_epoch)
            self.pending_epoch = None
        else:
            if self.tracker:
                self.tracker.record("steps", {"step": step, **values, "elapsed_seconds": self.tracker.elapsed()}, step)
            if self.printer is not None:
                decisions = format_decisions(values)
                self.printer(
                    f"  Step {step}: eval_loss: {values.get('eval_loss', float('nan')):.4f}"
                    + (f", {decisions}" if decisions else "")
                )

    def _print(self, entry):
        if self.printer is None:
            return
        text = f"  Epoch {entry['epoch']}/{self.num_epochs}: train_loss: {entry['train_loss']:.4f}"
        if entry.get("eval_loss") is not None:
            text += f", eval_loss: {entry['eval_loss']:.4f}"
        decisions = format_decisions(entry)
        if decisions:
            text += f"; {decisions}"
        self.printer(text)


@dataclass
class TrainResult:
    train_loss: float
    eval_loss: float | None
    steps: int
    samples: int
    samples_seen: int
    tokens: int
    seconds: float
    epochs: list[dict[str, Any]]
    eval_metrics: dict[str, Any] = field(default_factory=dict)
    """the final evaluation: eval_loss and the decision metrics (DECISION_KEYS)"""


def load_prompted(cfg: Config, path: Path, limit: int = 0, name: str = "data", training: bool = False):
    """Samples from ``path`` (the first ``limit``), as ``cfg.prompt_mode`` shows them to the model.

    ``training``: ``cfg.tests_dropout`` applies (only training samples hide their test results).
    """
    samples = load_samples(path)
    if limit:
        samples = samples[:limit]
    dropout = cfg.tests_dropout if training else 0.0
    return apply_prompt_mode(
        samples,
        cfg.prompt_mode,
        dropout,
        cfg.seed,
        name=str(path),
        quote_lines=cfg.quote_lines,
        localisation=cfg.localisation,
    )


def load_train_valid(cfg: Config) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The training and validation samples of ``cfg`` (limits and prompt mode applied); [] without valid_file."""
    train = load_prompted(cfg, cfg.data_path(cfg.train_file), cfg.max_train_samples, training=True)
    valid = load_prompted(cfg, cfg.data_path(cfg.valid_file), cfg.max_eval_samples) if cfg.valid_file else []
    return train, valid


def schedule_factor(scheduler: str, progress: float, warmup_ratio: float) -> float:
    """The learning rate's multiplier at ``progress`` (0 to 1) through a run under ``scheduler``: the curves of
    transformers' schedulers with their defaults (cosine: half a cycle, polynomial: power 1), written over the run's
    progress instead of its steps, so that the rounds of a federated run can follow one curve."""
    progress = min(max(progress, 0.0), 1.0)
    if scheduler == "constant":
        return 1.0
    if progress < warmup_ratio:
        return progress / warmup_ratio
    if scheduler == "constant_with_warmup":
        return 1.0
    after = (progress - warmup_ratio) / (1.0 - warmup_ratio)
    if scheduler in ("cosine", "cosine_with_restarts"):  # one cycle: the restarts' curve is the cosine's
        return 0.5 * (1.0 + math.cos(math.pi * after))
    if scheduler in ("linear", "polynomial"):  # polynomial's default power is 1 (it ends at 1e-7, not 0)
        return 1.0 - after
    raise ValueError(f"lr_scheduler: unknown {scheduler}")


def training_arguments(
    cfg: Config, output_dir: Path, has_eval: bool, num_epochs: float | None = None
) -> TrainingArguments:
    """TrainingArguments for ``cfg``; logging to TensorBoard/W&B is done by RunTracker, not the Trainer."""
    use_cuda = torch.cuda.is_available()
    bf16 = use_cuda and cfg.precision in ("auto", "bf16") and torch.cuda.is_bf16_supported()
    fp16 = use_cuda and cfg.precision == "fp16"
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=num_epochs if num_epochs is not None else cfg.num_epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=max(cfg.batch_size, 4),
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        max_grad_norm=cfg.max_grad_norm if cfg.max_grad_norm > 0 else None,
        lr_scheduler_type=cfg.lr_scheduler,
        optim=cfg.optimizer,
        logging_steps=cfg.logging_steps,
        eval_strategy=cfg.eval_strategy if has_eval else "no",
        eval_steps=cfg.eval_steps,
        save_strategy=cfg.save_strategy,
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=bf16,
        fp16=fp16,
        report_to="none",
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        dataloader_num_workers=0,
        disable_tqdm=False,
        use_cpu=not use_cuda,
    )


def train_adapter(
    model,
    tokenizer,
    cfg: Config,
    train_features: list[dict[str, list[int]]],
    eval_features: list[dict[str, list[int]]] | None,
    output_dir: Path,
    tracker: RunTracker | None = None,
    proximal: Proximal | None = None,
    num_epochs: float | None = None,
    printer: Callable[[str], None] | None = None,
    resume_from: Path | None = None,
    show_progress: bool = True,
) -> TrainResult:
    """Train the LoRA adapter of ``model`` in place. The one training loop of fedjava.

    ``resume_from``: a checkpoint from :func:`resume_checkpoint`; the run goes on from it as if never stopped
    (steps, epochs, losses, seconds and the tracker's history continue).
    """
    set_seed(cfg.seed)
    collator = AnswerOnlyCollator(tokenizer.pad_token_id, decision_weight=cfg.decision_weight)
    args = training_arguments(cfg, output_dir, bool(eval_features), num_epochs)
    trainer_box: list[AnswerOnlyTrainer] = []
    epochs = int(math.ceil(num_epochs if num_epochs is not None else cfg.num_epochs))
    history = HistoryCallback(lambda: trainer_box[0], tracker, epochs, printer, to_yaml(cfg))
    trainer = AnswerOnlyTrainer(
        model=model,
        args=args,
        train_dataset=train_features,
        eval_dataset=eval_features or None,
        data_collator=collator,
        processing_class=tokenizer,
        proximal=proximal,
        eval_features=eval_features,
        callbacks=[history],
    )
    trainer_box.append(trainer)
    trainer.remove_callback(ProgressCallback)
    if show_progress:
        trainer.add_callback(QuietProgress())
    if resume_from is not None:
        history.resume(resume_from)
    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    final_eval: dict[str, Any] = {}
    if eval_features:
        evaluated = [e for e in history.epochs if e.get("eval_loss") is not None]
        if evaluated and cfg.eval_strategy == "epoch":
            final_eval = {k: v for k, v in evaluated[-1].items() if k == "eval_loss" or k in DECISION_KEYS}
        else:
            measured = evaluate_loss(model, eval_features, collator, args.per_device_eval_batch_size)
            final_eval = {k: v for k, v in measured.items() if k == "eval_loss" or k in DECISION_KEYS}
    train_losses = [e["train_loss"] for e in history.epochs]
    return TrainResult(
        train_loss=train_losses[-1] if train_losses else float(output.training_loss),
        eval_loss=final_eval.get("eval_loss"),
        eval_metrics=final_eval,
        steps=trainer.state.global_step,
        samples=len(train_features),
        samples_seen=trainer.samples_seen,
        tokens=trainer.tokens_seen,
        seconds=history.seconds(),
        epochs=history.epochs,
    )
