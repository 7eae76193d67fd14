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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="builtin", help="a trained adapter folder, or builtin (the shipped grader)")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--fixes", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--split", default="data/test.jsonl")
    args = parser.parse_args(argv)

    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from fedjava.config import load_adapter_config
    from fedjava.evaluation.evaluate import EvalOptions, adapter_dir, subset
    from fedjava.evaluation.generate import stop_token_ids
    from fedjava.evaluation.verify import FIX_KEY, decode_fix, sample_rows, string_end
    from fedjava.models import load_adapter
    from fedjava.prompts import apply_prompt_mode, load_samples, render_prompt

    folder = adapter_dir(EvalOptions(adapter=args.adapter))
    cfg = load_adapter_config(folder)
    model, tokenizer = load_adapter(folder, cfg, merge=True)
    samples = [s for s in load_samples(args.split) if FIX_KEY in s["messages"][-1]["content"]]
    samples = apply_prompt_mode(subset(samples, args.samples, 0), cfg.prompt_mode, quote_lines=cfg.quote_lines,
                                localisation=cfg.localisation)
    prefixes = []
    for s in samples:  # the reference answer up to its fix stands in for the model's first answer
        answer = s["messages"][-1]["content"]
        prompt = render_prompt(tokenizer, s["messages"][:-1]) + answer[:answer.index(FIX_KEY) + len(FIX_KEY)]
        prefixes.append(tokenizer(prompt, add_special_tokens=False)["input_ids"])

    class Closed(StoppingCriteria):
        def __init__(self, start: int):
            self.start = start

        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, self.start:], skip_special_tokens=True)
            return torch.tensor([string_end(t) >= 0 for t in texts], dtype=torch.bool)

    def hf(ids: list[int], seed: int) -> list[list[int]]:
        torch.manual_seed(seed)
        out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             do_sample=True, temperature=0.8, top_p=0.95, top_k=0,
                             num_return_sequences=args.fixes, max_new_tokens=args.max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_token_ids(tokenizer),
                             stopping_criteria=StoppingCriteriaList([Closed(len(ids))]))
        return [row[len(ids):].tolist() for row in out]

    def ours(ids: list[int], seed: int) -> list[list[int]]:
        return sample_rows(model, tokenizer, ids, args.fixes, args.max_new_tokens, 0.8, 0.95, seed,
                           done=lambda text: string_end(text) >= 0)

    print(f"{len(prefixes)} answers, {args.fixes} fixes each, up to {args.max_new_tokens} tokens, "
          f"{torch.get_num_threads()} threads")
    results = {}
    for name, way in (("a", hf), ("b", ours)):
        started = time.perf_counter()
        closed = 0
        with torch.no_grad():
            for k, ids in enumerate(prefixes):
                rows = way(ids, k)
                closed += sum(decode_fix(tokenizer.decode(r, skip_special_tokens=True)) is not None for r in rows)
        results[name] = time.perf_counter() - started
        label = "(a) model.generate, num_return_sequences" if name == "a" else "(b) fedjava sampler, one prefill"
        print(f"{label:<44} {results[name] / len(prefixes):6.2f} s per answer, {closed} of "
              f"{len(prefixes) * args.fixes} fixes closed")
    print(f"speed-up of (b) over (a): {results['a'] / results['b']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
