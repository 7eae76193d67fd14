"""Evaluation-time generation speed, several ways, same model, prompts and token budget, in one run.

    python -m fedjava.bench.generation_speed [--adapter PATH|builtin] [--samples 16] [--max-new-tokens 200]
                                             [--split data/test.jsonl] [--ways a,b,c,d,e,f]

Every way answers the same prompts greedily and stops a row at the end of its answer's JSON object:

(a) ``model.generate``, batch 8, adapter merged: the release before this bench (a finished row is computed
    as padding until the batch's last row ends);
(b) fedjava's decoder (:func:`fedjava.evaluation.generate.greedy_stream`), 8 rows, float32 vocabulary
    projection: a finished row leaves the batch and its key/value cache at once and the next prompt takes its
    place (continuous batching);
(c) as (b) with the exact bfloat16-shortlist head (:class:`fedjava.evaluation.generate.GreedyHead`): the
    default engine;
(d) the default engine, 16 rows (on a CPU one decoding step reads every weight once whatever the number of
    rows, so more rows per step cost little until the arithmetic catches up);
(e) the default engine, 32 rows;
(f) as (d) with int8 dynamic quantisation of every linear layer (``torch.ao``), which changes the numbers.

For each it prints seconds, seconds per sample, the speed-up over (a) and how many answers are identical to
(a)'s, character for character. The prompts are the split's own (``prompt_mode`` of the adapter's config).
"""

from __future__ import annotations

import argparse
import time

from fedjava.config import load_adapter_config
from fedjava.models import load_adapter
from fedjava.prompts import apply_prompt_mode, load_samples, render_prompt

WAYS = {
    "a": ("model.generate, batch 8", "hf", 8, False),
    "b": ("fedjava decoder, 8 rows, float32 head", "fedjava-plain", 8, False),
    "c": ("fedjava decoder, 8 rows", "fedjava", 8, False),
    "d": ("fedjava decoder, 16 rows", "fedjava", 16, False),
    "e": ("fedjava decoder, 32 rows", "fedjava", 32, False),
    "f": ("fedjava decoder, 16 rows, int8 linear", "fedjava", 16, True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--adapter", default="builtin", help="a trained adapter folder, or builtin (the shipped grader)"
    )
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--split", default="data/test.jsonl")
    parser.add_argument("--ways", default="a,b,c,d,e,f", help="which of a-f to run, in order (a is the reference)")
    args = parser.parse_args(argv)

    import torch

    from fedjava.evaluation.evaluate import EvalOptions, adapter_dir, subset
    from fedjava.evaluation.generate import generate_answers

    folder = adapter_dir(EvalOptions(adapter=args.adapter))
    cfg = load_adapter_config(folder)
    model, tokenizer = load_adapter(folder, cfg, merge=True)
    samples = apply_prompt_mode(
        subset(load_samples(args.split), args.samples, 0),
        cfg.prompt_mode,
        quote_lines=cfg.quote_lines,
        localisation=cfg.localisation,
    )
    prompts = [render_prompt(tokenizer, s["messages"][:-1]) for s in samples]
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    print(
        f"{cfg.model_name} + {folder}: {len(prompts)} {cfg.prompt_mode} prompts of {min(lengths)}-{max(lengths)} "
        f"tokens, max_new_tokens {args.max_new_tokens}, {torch.get_num_threads()} threads"
    )

    reference: list[str] | None = None
    first: float | None = None
    quantized = None
    for way in args.ways.split(","):
        label, engine, batch, int8 = WAYS[way]
        net = model
        if int8:
            if quantized is None:
                quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
            net = quantized
        start = time.perf_counter()
        texts = generate_answers(net, tokenizer, prompts, args.max_new_tokens, batch, engine=engine)
        seconds = time.perf_counter() - start
        if reference is None:
            reference, first = texts, seconds
        same = sum(a == b for a, b in zip(texts, reference, strict=True))
        print(
            f"({way}) {label:<40s} {seconds:7.1f} s  {seconds / len(prompts):5.2f} s/sample  "
            f"{first / seconds:5.2f}x  identical answers {same}/{len(prompts)}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
