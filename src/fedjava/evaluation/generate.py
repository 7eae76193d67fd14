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
) -> list[str]:
    """Greedy completions of ``prompts`` (already rendered with the chat template), in order.

    Prompts are batched by length (fewer pad tokens), left-padded so every row ends where its answer
    starts; a row stops at the tokenizer's end-of-sequence or end-of-turn token, at ``max_new_tokens``,
    or (``stop_at_answer_end``) once an answer that opens with ``{`` has closed that JSON object (see
    :class:`AnswerClosed`): chatter after the answer is not generated; a batch ends when all its rows have.
    """
    import torch
    from transformers import StoppingCriteriaList

    if not prompts:
        return []
    device = next(model.parameters()).device
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
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
                out = model.generate(
                    input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                    do_sample=False, num_beams=1, pad_token_id=pad_id, eos_token_id=stop_ids,
                    use_cache=True,
                    stopping_criteria=StoppingCriteriaList([AnswerClosed(tokenizer, longest)] if stop_at_answer_end
                                                           else []),
                )
            for r, i in enumerate(rows):
                outputs[i] = tokenizer.decode(out[r, longest:], skip_special_tokens=True)
            if progress:
                progress(min(start + batch_size, len(order)), len(order))
    finally:
        tokenizer.padding_side = old_side
        if was_training:
            model.train()
    return outputs


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
