"""Evaluation-time generation speed, three ways, same model, prompts and token budget, in one run.

    python -m fedjava.bench.generation_speed [--model builtin:gemma-3-270m] [--samples 8] [--max-new-tokens 160]
                                             [--batch-size 8] [--split data/test.jsonl]

(a) the adapter kept separate (PEFT LoRA layers), generation runs to the end-of-turn token or the budget;
(b) the adapter merged into the base weights (what ``fedjava evaluate`` and ``review`` do);
(c) merged, and each row also stops once its answer's JSON object is closed (the default).

The adapter is ``--adapter PATH`` (a trained ``final_model``), or else a fresh LoRA adapter whose B matrices
are filled with small random values (the merge then changes the weights as a trained adapter would, but such
a model never writes a closed answer, so (c) equals (b)). Prints seconds, generated tokens and the ratios.
"""

from __future__ import annotations

import argparse
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:gemma-3-270m")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--split", default="data/test.jsonl")
    parser.add_argument("--adapter", help="a trained adapter folder (default: a random LoRA adapter)")
    args = parser.parse_args(argv)

    import torch

    from fedjava.config import load_config
    from fedjava.evaluation.evaluate import subset
    from fedjava.evaluation.generate import generate_answers
    from fedjava.models import apply_lora, load_base_model
    from fedjava.prompts import load_samples, render_prompt

    cfg = load_config(None, [f"model_name={args.model}"], check_files=False)
    base, tokenizer = load_base_model(cfg)
    samples = subset(load_samples(args.split), args.samples, 0)
    prompts = [render_prompt(tokenizer, s["messages"][:-1]) for s in samples]
    lengths = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    if args.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(base, args.adapter)
    else:
        model = apply_lora(base, cfg)
        torch.manual_seed(0)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.normal_(0, 1e-3)
    print(f"{args.model} + {args.adapter or 'random adapter'}: {len(prompts)} prompts of {min(lengths)}-{max(lengths)} tokens, "
          f"max_new_tokens {args.max_new_tokens}, batch {args.batch_size}, {torch.get_num_threads()} threads")

    def timed(label: str, net, stop: bool) -> float:
        start = time.perf_counter()
        texts = generate_answers(net, tokenizer, prompts, args.max_new_tokens, args.batch_size,
                                 stop_at_answer_end=stop)
        seconds = time.perf_counter() - start
        tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
        print(f"{label:<44s} {seconds:7.1f} s  {tokens:5d} tokens  {seconds / len(prompts):5.2f} s/sample")
        return seconds

    separate = timed("(a) adapter separate", model, stop=False)
    merged_model = model.merge_and_unload()
    merged = timed("(b) adapter merged", merged_model, stop=False)
    stopped = timed("(c) merged + stop at the answer's end", merged_model, stop=True)
    print(f"(a)/(b) = {separate / merged:.2f}x   (b)/(c) = {merged / stopped:.2f}x   (a)/(c) = {separate / stopped:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
