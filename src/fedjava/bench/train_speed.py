"""Training speed, three ways, same model, samples and steps, in one run.

    python -m fedjava.bench.train_speed [--model builtin:gemma-3-270m] [--steps 6] [--samples data/train.jsonl]

(a) ``fedjava train``'s loop: per-batch padding, logits only at answer positions;
(b) plain HF Trainer as the legacy project ran it: every sample padded to 1536 tokens, loss on every token;
(c) plain HF Trainer with per-batch padding and answer-only labels (logits computed everywhere).

Each variant runs in its own process so its peak memory (max RSS) is its own. Prints samples/s,
tokens/s (real, non-padding tokens), peak memory, achieved FLOP/s as a fraction of the measured
fp32 matrix-multiply peak, and the ratios of (a) to (b) and (c).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from fedjava.config import load_config
from fedjava.models import load_for_training
from fedjava.prompts import AnswerOnlyCollator, load_samples, tokenize_samples

LEGACY_LENGTH = 1536


def matmul_peak(seconds: float = 3.0) -> float:
    """Measured fp32 matrix-multiply FLOP/s of this machine with torch's threads."""
    import torch

    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start)


def _flops(model, batches, variant: str) -> float:
    """Approximate FLOPs of forward + backward through frozen weights (4 x params x tokens) plus the head."""
    base = model.get_base_model()
    head = base.get_output_embeddings()
    vocab, hidden = head.weight.shape
    embed = base.get_input_embeddings().weight.numel()
    body = (
        sum(p.numel() for p in base.parameters())
        - embed
        - (0 if head.weight is base.get_input_embeddings().weight else head.weight.numel())
    )
    total = 0.0
    for batch in batches:
        positions = batch["input_ids"].numel()  # padded positions are computed too
        logit_rows = int((batch["labels"][:, 1:] != -100).sum()) if variant == "a" else positions
        total += 4 * body * positions + 4 * hidden * vocab * logit_rows
    return total


def run_variant(variant: str, model_name: str, samples_path: str, steps: int, threads: int) -> dict:
    import torch
    from transformers import Trainer

    from fedjava.training import AnswerOnlyTrainer, training_arguments

    if threads:
        torch.set_num_threads(threads)
    cfg = load_config(
        None,
        [
            f"model_name={model_name}",
            "batch_size=1",
            "gradient_accumulation_steps=1",
            f"max_steps={steps}",
            "warmup_ratio=0",
            "lr_scheduler=constant",
            "save_strategy=no",
            "eval_strategy=no",
            f"max_seq_length={LEGACY_LENGTH}",
            "logging_steps=1000",
            "lora_dropout=0",
            "valid_file=",
        ],
        check_files=False,
    )
    model, tok = load_for_training(cfg)
    features, _ = tokenize_samples(tok, load_samples(samples_path)[:steps], LEGACY_LENGTH)
    pad = tok.pad_token_id
    if variant == "b":

        def collate(items):
            ids = torch.full((len(items), LEGACY_LENGTH), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, f in enumerate(items):
                ids[row, : len(f["input_ids"])] = torch.tensor(f["input_ids"])
                mask[row, : len(f["input_ids"])] = 1
            labels = ids.masked_fill(mask == 0, -100)
            return {"input_ids": ids, "attention_mask": mask, "labels": labels}
    else:
        collate = AnswerOnlyCollator(pad)
    args = training_arguments(cfg, Path("/tmp/fedjava-bench") / variant, has_eval=False)
    args.disable_tqdm = True
    trainer_cls = AnswerOnlyTrainer if variant == "a" else Trainer
    trainer = trainer_cls(model=model, args=args, train_dataset=features, data_collator=collate)
    batches = [collate([f]) for f in features]
    real_tokens = sum(len(f["input_ids"]) for f in features)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    return {
        "variant": variant,
        "steps": steps,
        "seconds": seconds,
        "samples_per_second": steps / seconds,
        "tokens_per_second": real_tokens / seconds,
        "peak_memory_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "flops": _flops(model, batches, variant),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:gemma-3-270m")
    parser.add_argument("--samples", default="data/train.jsonl")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--variant", choices=["a", "b", "c"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.model, args.samples, args.steps, args.threads)))
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    peak = matmul_peak()
    results = {}
    names = {
        "a": "fedjava train",
        "b": "legacy HF (pad 1536, loss everywhere)",
        "c": "HF, per-batch pad, answer-only labels",
    }
    for variant in ("a", "b", "c"):
        print(f"running ({variant}) {names[variant]} ...", file=sys.stderr, flush=True)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "fedjava.bench.train_speed",
                "--variant",
                variant,
                "--model",
                args.model,
                "--samples",
                args.samples,
                "--steps",
                str(args.steps),
                "--threads",
                str(args.threads),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            return 1
        results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nmodel {args.model}, {args.steps} steps of batch 1, matmul peak {peak / 1e9:.1f} GFLOP/s")
    print(f"{'variant':42s} {'samples/s':>10s} {'tokens/s':>10s} {'peak GB':>8s} {'GFLOP/s':>8s} {'of peak':>8s}")
    for v, r in results.items():
        achieved = r["flops"] / r["seconds"]
        print(
            f"({v}) {names[v]:38s} {r['samples_per_second']:10.3f} {r['tokens_per_second']:10.1f} "
            f"{r['peak_memory_gb']:8.2f} {achieved / 1e9:8.1f} {achieved / peak:8.1%}"
        )
    a, b, c = (results[k]["samples_per_second"] for k in "abc")
    print(f"\nspeed-up of (a): {a / b:.2f}x over (b) legacy, {a / c:.2f}x over (c) plain HF answer-only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
