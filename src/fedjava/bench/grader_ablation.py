"""What makes the grader decide: training recipes side by side, same budget, same test samples.

    python -m fedjava.bench.grader_ablation [--arms code_only,code_only_w5,grounded,grounded_w5]
        [--train-samples 160] [--test-samples 120] [--max-chars 2400] [--out grader_ablation] [key=value ...]

Every arm trains a fresh LoRA adapter on the built-in model (or ``model_name=``) on the same seeded training
samples for the same number of optimizer steps, then is measured on the same seeded test samples with one
teacher-forced pass per sample (:class:`fedjava.training.DecisionTally`): verdict accuracy and macro-F1,
error-code and line accuracy, each with a percentile bootstrap 95% interval, and the majority baseline's
macro-F1 on the same samples. At the verdict, teacher forcing changes nothing (the answer starts with the
same ``{"verdict": "``): it is the verdict greedy generation would write. Code and line are read after the
gold verdict and type, so they are an upper bound of what generation gets.

Arms (``name`` = what changes against ``code_only``, the current recipe):

* ``code_only``: the task and the code; every answer token weighs the same;
* ``code_only_w5``: decision tokens (verdict, code, line) weigh 5 in the loss;
* ``grounded``: the prompt also holds the tool results (``prompt_mode=grounded``);
* ``grounded_w5``: both;
* ``grounded_w5_lr4``: both, learning rate 4e-4 instead of 2e-4.

Each arm's numbers go to ``<out>/<arm>.json`` as it finishes (an arm already there is not run again), and
the table is printed at the end (with ``--out``'s adapters in ``<arm>_adapter``). On 2 CPU cores an arm with the
defaults (20 optimizer steps of 8 samples) takes about 10-20 minutes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from fedjava.config import load_config
from fedjava.experiment import sample_chars
from fedjava.models import load_for_training
from fedjava.prompts import AnswerOnlyCollator, apply_prompt_mode, load_samples, tokenize_samples

ARMS: dict[str, dict[str, Any]] = {
    "code_only": {"prompt_mode": "code_only", "decision_weight": 1.0},
    "code_only_w5": {"prompt_mode": "code_only", "decision_weight": 5.0},
    "grounded": {"prompt_mode": "grounded", "decision_weight": 1.0},
    "grounded_w5": {"prompt_mode": "grounded", "decision_weight": 5.0},
    "grounded_w5_lr4": {"prompt_mode": "grounded", "decision_weight": 5.0, "learning_rate": 4e-4},
}
COMMON = {
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.0,
    "batch_size": 4,
    "gradient_accumulation_steps": 2,
    "learning_rate": 2e-4,
    "lr_scheduler": "cosine",
    "warmup_ratio": 0.05,
    "num_epochs": 1.0,
    "eval_strategy": "no",
    "save_strategy": "no",
    "logging_steps": 4,
    "report_to": "none",
    "max_seq_length": 1536,
    "group_by_length": False,
}
METRICS = ("verdict_accuracy", "verdict_macro_f1", "code_accuracy", "line_accuracy")


def bootstrap(
    gold: list[int], pred: list[int], code: list[bool], line: list[bool], n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """The four decision metrics with percentile 95% intervals, and the majority baseline's macro-F1."""
    import numpy as np

    from fedjava.evaluation.metrics import macro_f1

    gold_a, pred_a = np.asarray(gold), np.asarray(pred)
    err = gold_a != 0
    code_a = np.zeros(len(gold), dtype=bool)
    line_a = np.zeros(len(gold), dtype=bool)
    code_a[err] = code
    line_a[err] = line

    def values(idx) -> dict[str, float]:
        g, p, e = gold_a[idx], pred_a[idx], err[idx]
        return {
            "verdict_accuracy": float(np.mean(g == p)),
            "verdict_macro_f1": macro_f1(g, p),
            "code_accuracy": float(np.mean(code_a[idx][e])) if e.any() else 0.0,
            "line_accuracy": float(np.mean(line_a[idx][e])) if e.any() else 0.0,
        }

    out: dict[str, Any] = values(np.arange(len(gold)))
    rng = np.random.default_rng(seed)
    draws = [values(rng.integers(0, len(gold), len(gold))) for _ in range(n_boot)]
    out["ci"] = {k: [float(np.percentile([d[k] for d in draws], q)) for q in (2.5, 97.5)] for k in METRICS}
    majority = int(np.bincount(gold_a).argmax())
    out["majority_macro_f1"] = macro_f1(gold_a, np.full_like(gold_a, majority))
    out["predicted"] = {str(k): int(v) for k, v in zip(*np.unique(pred_a, return_counts=True), strict=True)}
    return out


def pick(samples: list[dict], count: int, max_chars: int, seed: int) -> list[dict]:
    from fedjava.evaluation.evaluate import subset

    short = [s for s in samples if not max_chars or sample_chars(s) <= max_chars]
    return subset(short, count, seed)


def run_arm(
    name: str, overrides: dict[str, Any], train: list[dict], test: list[dict], out: Path, extra: list[str]
) -> dict[str, Any]:
    import torch

    from fedjava.training import DecisionTally, answer_logits, set_seed, train_adapter

    settings = {**COMMON, **overrides}
    cfg = load_config(None, [f"{k}={v}" for k, v in settings.items()] + extra, check_files=False)
    set_seed(cfg.seed)
    model, tok = load_for_training(cfg)
    shown_train = apply_prompt_mode(
        train, cfg.prompt_mode, cfg.tests_dropout, cfg.seed, quote_lines=cfg.quote_lines, localisation=cfg.localisation
    )
    shown_test = apply_prompt_mode(test, cfg.prompt_mode, quote_lines=cfg.quote_lines, localisation=cfg.localisation)
    train_f, _ = tokenize_samples(tok, shown_train, cfg.max_seq_length, cfg.truncation, "train")
    test_f, _ = tokenize_samples(tok, shown_test, cfg.max_seq_length, cfg.truncation, "test")
    started = time.time()
    result = train_adapter(model, tok, cfg, train_f, None, out / f"{name}_ckpt", show_progress=True)
    train_seconds = time.time() - started
    model.save_pretrained(str(out / f"{name}_adapter"))  # kept for fedjava.bench.generation_speed and a closer look
    model.eval()
    collator = AnswerOnlyCollator(tok.pad_token_id)
    tally = DecisionTally()
    started = time.time()
    with torch.no_grad():
        for i in range(0, len(test_f), 4):
            chunk = test_f[i : i + 4]
            batch = collator(chunk)
            logits, _, mask = answer_logits(model, batch)
            tally.add_batch(chunk, logits, mask, batch["input_ids"])
    numbers = bootstrap(tally.gold, tally.pred, tally.code, tally.line, seed=cfg.seed)
    numbers.update(
        {
            "arm": name,
            "settings": {k: v for k, v in settings.items() if k in overrides or k in COMMON},
            "extra": extra,
            "train_samples": len(train_f),
            "test_samples": len(test_f),
            "steps": result.steps,
            "train_loss": result.train_loss,
            "train_seconds": round(train_seconds, 1),
            "eval_seconds": round(time.time() - started, 1),
            "mean_train_tokens": sum(len(f["input_ids"]) for f in train_f) / len(train_f),
        }
    )
    return numbers


def table(results: list[dict[str, Any]]) -> str:
    head = f"{'arm':<18}{'verdict acc':>22}{'verdict macro-F1':>22}{'code acc':>22}{'line acc':>22}{'train s':>9}"
    lines = [head, "-" * len(head)]
    for r in results:
        cells = "".join(f"{r[k]:>8.3f} [{r['ci'][k][0]:.2f}, {r['ci'][k][1]:.2f}]" for k in METRICS)
        lines.append(f"{r['arm']:<18}{cells}{r['train_seconds']:>9.0f}")
    if results:
        lines.append(f"majority baseline verdict macro-F1 on the same samples: {results[0]['majority_macro_f1']:.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arms", default="code_only,code_only_w5,grounded,grounded_w5")
    parser.add_argument("--train-samples", type=int, default=160)
    parser.add_argument("--test-samples", type=int, default=120)
    parser.add_argument("--max-chars", type=int, default=2400, help="only samples of at most this many characters")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--out", default="grader_ablation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config keys for every arm")
    args = parser.parse_args(argv)
    unknown = [a for a in args.arms.split(",") if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; known: {', '.join(ARMS)}")

    data = Path(args.data_dir)
    train = pick(load_samples(data / "train.jsonl"), args.train_samples, args.max_chars, args.seed)
    test = pick(load_samples(data / "test.jsonl"), args.test_samples, args.max_chars, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"{len(train)} training and {len(test)} test samples of at most {args.max_chars} characters; arms: {args.arms}",
        flush=True,
    )
    results = []
    for name in args.arms.split(","):
        path = out / f"{name}.json"
        if path.is_file():
            results.append(json.loads(path.read_text()))
            print(f"{name}: done before ({path})", flush=True)
            continue
        print(f"\n== {name}: {ARMS[name]}", flush=True)
        numbers = run_arm(name, ARMS[name], train, test, out, args.overrides)
        path.write_text(json.dumps(numbers, indent=1) + "\n")
        results.append(numbers)
        print(table([numbers]), flush=True)
    print("\n" + table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
