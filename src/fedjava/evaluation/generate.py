"""Batched greedy generation with left padding."""

from __future__ import annotations

from collections.abc import Callable

from transformers import StoppingCriteria  # this module is imported only where generation happens


def generate_answers(
    model,
    tokenizer,
    prompts: list[str],
    max_new_tokens: int = 384,
    batch_size: int = 4,
    progress: Callable[[int, int], None] | None = None,
    stop_at_answer_end: bool = True,
    engine: str = "fedjava",
) -> list[str]:
    """Greedy completions of ``prompts`` (already rendered with the chat template), in order.

    Prompts are batched by length (fewer pad tokens), left-padded so every row ends where its answer
    starts; a row stops at the tokenizer's end-of-sequence or end-of-turn token, at ``max_new_tokens``,
    or (``stop_at_answer_end``) once an answer that opens with ``{`` has closed that JSON object (see
    :func:`json_object_closed`): chatter after the answer is not generated.

    ``engine="fedjava"`` (default) decodes with :func:`greedy_rows`, which takes a finished row out of the
    batch and its key/value cache at once; ``"hf"`` uses ``model.generate``, where a finished row keeps being
    computed as padding until the batch's last row ends (``fedjava.bench.generation_speed`` compares them).
    """
    import torch

    if not prompts:
        return []
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stop_ids = stop_token_ids(tokenizer)
    encoded = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            longest = max(len(encoded[i]) for i in rows)
            ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
            mask = torch.zeros((len(rows), longest), dtype=torch.long)
            for r, i in enumerate(rows):
                n = len(encoded[i])
                ids[r, longest - n:] = torch.tensor(encoded[i])
                mask[r, longest - n:] = 1
            with torch.no_grad():
                if engine == "hf":
                    new_tokens = _hf_generate(model, tokenizer, ids.to(device), mask.to(device), max_new_tokens,
                                              pad_id, stop_ids, stop_at_answer_end)
                else:
                    done = (lambda text: json_object_closed(text)) if stop_at_answer_end else None
                    new_tokens = greedy_rows(model, tokenizer, ids.to(device), mask.to(device), max_new_tokens,
                                             set(stop_ids), done)
            for r, i in enumerate(rows):
                outputs[i] = tokenizer.decode(new_tokens[r], skip_special_tokens=True)
            if progress:
                progress(min(start + batch_size, len(order)), len(order))
    finally:
        if was_training:
            model.train()
    return outputs


def greedy_rows(model, tokenizer, ids, mask, max_new_tokens: int, stop_ids: set[int],
                done: Callable[[str], bool] | None = None) -> list[list[int]]:
    """Greedy decoding of a left-padded batch with a key/value cache; each row's new tokens (stop token excluded).

    A row that stops (a token in ``stop_ids``, or ``done(its text so far)``) leaves the batch and its cache rows
    are dropped, so the rest of the batch runs on fewer rows. Positions follow the attention mask, as in
    ``model.generate`` with left padding.
    """
    import torch
    from transformers import DynamicCache

    batch = ids.shape[0]
    new_tokens: list[list[int]] = [[] for _ in range(batch)]
    active = list(range(batch))
    cache = DynamicCache(config=model.config)
    with_cache = {_cache_argument(model): cache, "use_cache": True}
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1, **with_cache)
    next_pos = positions[:, -1:] + 1
    for _ in range(max_new_tokens):
        picked = out.logits[:, -1].argmax(-1)
        keep = []
        for slot, row in enumerate(active):
            token = int(picked[slot])
            if token in stop_ids:
                continue
            new_tokens[row].append(token)
            if done is not None and "}" in tokenizer.decode([token]) \
                    and done(tokenizer.decode(new_tokens[row], skip_special_tokens=True)):
                continue
            keep.append(slot)
        if not keep or len(new_tokens[active[keep[0]]]) >= max_new_tokens:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, device=ids.device)
            cache.batch_select_indices(index)
            mask, next_pos, picked = mask[index], next_pos[index], picked[index]
            active = [active[k] for k in keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(input_ids=picked[:, None], attention_mask=mask, position_ids=next_pos, **with_cache)
        next_pos = next_pos + 1
    return new_tokens


def _cache_argument(model) -> str:
    """The forward argument that takes the key/value cache: ``cache`` (transformers 5.2x), ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _hf_generate(model, tokenizer, ids, mask, max_new_tokens, pad_id, stop_ids, stop_at_answer_end) -> list[list[int]]:
    from transformers import StoppingCriteriaList

    longest = ids.shape[1]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
            do_sample=False, num_beams=1, pad_token_id=pad_id, eos_token_id=stop_ids, use_cache=True,
            stopping_criteria=StoppingCriteriaList([AnswerClosed(tokenizer, longest)] if stop_at_answer_end else []),
        )
    finally:
        tokenizer.padding_side = old_side
    rows = []
    for r in range(out.shape[0]):
        tokens = out[r, longest:].tolist()
        cut = next((i for i, t in enumerate(tokens) if t in stop_ids or t == pad_id), len(tokens))
        rows.append(tokens[:cut])
    return rows


END_OF_TURN = ("<end_of_turn>", "<|im_end|>", "<|eot_id|>", "<|end|>")


def stop_token_ids(tokenizer) -> list[int]:
    """End-of-sequence plus the chat template's end-of-turn tokens that the vocabulary has."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    vocab = tokenizer.get_vocab()
    ids += [vocab[t] for t in END_OF_TURN if t in vocab and vocab[t] not in ids]
    return ids


def json_object_closed(text: str) -> bool:
    """True when ``text`` (after blanks and an optional ```json fence) opens with ``{`` and that object is
    closed: braces counted outside JSON strings, escapes honoured."""
    body = text.lstrip()
    if body.startswith("```"):
        body = body[3:].lstrip("json").lstrip()
    if not body.startswith("{"):
        return False
    depth, in_string, escaped = 0, False, False
    for ch in body:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return True
    return False


class AnswerClosed(StoppingCriteria):
    """Per-row stop once the generated answer's JSON object is complete (rows that are done wait as padding)."""

    def __init__(self, tokenizer, prompt_length: int):
        self.tokenizer = tokenizer
        self.prompt_length = prompt_length

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_length:], skip_special_tokens=True)
        return torch.tensor([json_object_closed(t) for t in texts], dtype=torch.bool, device=input_ids.device)
