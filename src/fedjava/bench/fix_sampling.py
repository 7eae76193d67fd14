"""Sampling other fixes (``--verify-fixes N``), two ways, same model, prompts, seeds' budget, in one run.

    python -m fedjava.bench.fix_sampling [--adapter PATH|builtin] [--samples 8] [--fixes 8] [--max-new-tokens 64]
                                         [--split data/test.jsonl]

For ``--samples`` answers of the split that report an error, the answer's text up to its fix (``"fix": "``) is
the prefix, and ``--fixes`` fix lines are sampled after it (temperature 0.8, top-p 0.95), each until its string
closes or ``--max-new-tokens``:

(a) ``model.generate(do_sample=True, num_return_sequences=N)``: the prompt is repeated N times and prefilled N
    times, and a finished row is computed as padding until the last one ends;
(b) fedjava's sampler (:func:`fedjava.evaluation.verify.sample_rows`): one prefill whose key/value cache the N rows
    share, and a finished row leaves the batch.

It prints seconds per answer for each, the ratio, and how many fixes each wrote that close their string. The two
draw different random numbers, so the fixes differ; the point is the cost of the same amount of sampling.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from fedjava.config import load_adapter_config
from fedjava.evaluation.verify import FIX_KEY, decode_fix, sample_rows, string_end
from fedjava.models import load_adapter
from fedjava.prompts import apply_prompt_mode, load_samples, render_prompt

# prefix token ids, seed -> the token ids of each fix line sampled after the prefix
Sampler = Callable[[list[int], int], list[list[int]]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--adapter", default="builtin", help="a trained adapter folder, or builtin (the shipped grader)"
    )
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--fixes", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--split", default="data/test.jsonl")
    args = parser.parse_args(argv)

    import torch

    from fedjava.evaluation.evaluate import EvalOptions, adapter_dir

    folder = adapter_dir(EvalOptions(adapter=args.adapter))
    cfg = load_adapter_config(folder)
    model, tokenizer = load_adapter(folder, cfg, merge=True)
    prefixes = _fix_prefixes(tokenizer, cfg, args.split, args.samples)

    print(
        f"{len(prefixes)} answers, {args.fixes} fixes each, up to {args.max_new_tokens} tokens, "
        f"{torch.get_num_threads()} threads"
    )
    results = {}
    for name, way in (
        ("a", _generate_sampler(model, tokenizer, args.fixes, args.max_new_tokens)),
        ("b", _fedjava_sampler(model, tokenizer, args.fixes, args.max_new_tokens)),
    ):
        results[name], closed = _sample_fixes(way, prefixes, tokenizer)
        label = "(a) model.generate, num_return_sequences" if name == "a" else "(b) fedjava sampler, one prefill"
        print(
            f"{label:<44} {results[name] / len(prefixes):6.2f} s per answer, {closed} of "
            f"{len(prefixes) * args.fixes} fixes closed"
        )
    print(f"speed-up of (b) over (a): {results['a'] / results['b']:.2f}x")
    return 0


def _fix_prefixes(tokenizer, cfg, split: str, count: int) -> list[list[int]]:
    """The token ids of the first ``count`` prompts of the split whose answer has a fix, each followed by its
    reference answer up to the fix (standing in for the model's first answer)."""
    from fedjava.evaluation.evaluate import subset

    samples = [s for s in load_samples(split) if FIX_KEY in s["messages"][-1]["content"]]
    samples = apply_prompt_mode(
        subset(samples, count, 0), cfg.prompt_mode, quote_lines=cfg.quote_lines, localisation=cfg.localisation
    )
    prefixes = []
    for s in samples:
        answer = s["messages"][-1]["content"]
        prompt = render_prompt(tokenizer, s["messages"][:-1]) + answer[: answer.index(FIX_KEY) + len(FIX_KEY)]
        prefixes.append(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    return prefixes


def _generate_sampler(model, tokenizer, fixes: int, max_new_tokens: int) -> Sampler:
    """(a): ``fixes`` fix lines after a prefix from ``model.generate``, each stopping once its string closes."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from fedjava.evaluation.generate import stop_token_ids

    class Closed(StoppingCriteria):
        def __init__(self, start: int):
            self.start = start

        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, self.start :], skip_special_tokens=True)
            return torch.tensor([string_end(t) >= 0 for t in texts], dtype=torch.bool)

    def hf(ids: list[int], seed: int) -> list[list[int]]:
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            do_sample=True,
            temperature=0.8,
            top_p=0.95,
            top_k=0,
            num_return_sequences=fixes,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=stop_token_ids(tokenizer),
            stopping_criteria=StoppingCriteriaList([Closed(len(ids))]),
        )
        return [row[len(ids) :].tolist() for row in out]

    return hf


def _fedjava_sampler(model, tokenizer, fixes: int, max_new_tokens: int) -> Sampler:
    """(b): the same from :func:`fedjava.evaluation.verify.sample_rows`."""

    def ours(ids: list[int], seed: int) -> list[list[int]]:
        return sample_rows(
            model, tokenizer, ids, fixes, max_new_tokens, 0.8, 0.95, seed, done=lambda text: string_end(text) >= 0
        )

    return ours


def _sample_fixes(way: Sampler, prefixes: list[list[int]], tokenizer) -> tuple[float, int]:
    """Sample with ``way`` after every prefix (seed = its index): the seconds taken, and how many fixes closed."""
    import torch

    started = time.perf_counter()
    closed = 0
    with torch.no_grad():
        for k, ids in enumerate(prefixes):
            rows = way(ids, k)
            closed += sum(decode_fix(tokenizer.decode(r, skip_special_tokens=True)) is not None for r in rows)
    return time.perf_counter() - started, closed


if __name__ == "__main__":
    raise SystemExit(main())
