"""The answer format, chat samples on disk, and chat samples -> tokens with answer-only labels.

A sample is ``{"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}``; the
last message is the assistant's answer. The prompt is everything before it, rendered with the
tokenizer's chat template (``add_generation_prompt=True``); the answer is the rest of the rendered
conversation (the answer text plus the template's end-of-turn marker). Only answer tokens carry
labels; prompt tokens get -100.

Tokenizers without a chat template use this plain template, documented here and in README::

    ### System:
    {system}

    ### User:
    {user}

    ### Assistant:
    {answer}{eos_token}
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("fedjava")

SYSTEM_PROMPT = (
    "You are a Java code error evaluator. You get a programming task and a student's Java program "
    "with numbered lines. Answer with one JSON object and nothing else: "
    '{"verdict": "NO_ERROR|COMPILE_ERROR|RUNTIME_ERROR|LOGIC_ERROR", "errors": [{"type": '
    '"Syntax Error|Runtime Error|Logical Error", "code": "<javac key | exception class | '
    'wrong_output | timeout>", "line": <line number>, "message": "...", "explanation": "<one '
    'sentence>", "fix": "<the corrected line>"}], "score": <0-10>}. '
    'Use "errors": [] and "score": 10 when the program is correct.'
)
VERDICTS = ("NO_ERROR", "COMPILE_ERROR", "RUNTIME_ERROR", "LOGIC_ERROR")
ERROR_TYPES = ("Syntax Error", "Runtime Error", "Logical Error")
ANSWER_KEYS = ("type", "code", "line", "message", "explanation", "fix")
IGNORE_INDEX = -100


class SampleError(ValueError):
    """Malformed sample file; the message lists ``file:line: reason`` for each bad sample."""


def number_lines(code: str) -> str:
    """Prefix each line with its 1-based number, right-aligned: ``' 3 | return x;'``."""
    lines = code.rstrip("\n").split("\n")
    width = len(str(len(lines)))
    return "\n".join(f"{i:>{width}} | {line}" for i, line in enumerate(lines, 1))


def build_user_prompt(requirement: str, code: str) -> str:
    return f"Task:\n{requirement.strip()}\n\nStudent code:\n{number_lines(code)}"


_NUMBERED_RE = re.compile(r"^\s*(\d+) \| ?(.*)$")


def unnumber(numbered: str) -> str:
    """Undo :func:`number_lines`: ``' 3 | x'`` lines back to plain code."""
    lines = []
    for line in numbered.split("\n"):
        match = _NUMBERED_RE.match(line)
        lines.append(match.group(2) if match else line)
    return "\n".join(lines) + "\n"


def split_user_prompt(user: str) -> tuple[str, str]:
    """Undo :func:`build_user_prompt`: (requirement, code); ``(user, "")`` for a turn of another shape."""
    head, sep, numbered = user.partition("\n\nStudent code:\n")
    if not sep:
        return user, ""
    requirement = head[len("Task:\n"):] if head.startswith("Task:\n") else head
    return requirement, unnumber(numbered)


def format_answer(answer: dict[str, Any]) -> str:
    """The assistant's answer as compact JSON with a fixed key order."""
    errors = [{k: e.get(k, "") for k in ANSWER_KEYS} for e in answer.get("errors", [])]
    ordered = {"verdict": answer["verdict"], "errors": errors, "score": answer["score"]}
    return json.dumps(ordered, ensure_ascii=False)


def build_messages(requirement: str, code: str, answer: dict[str, Any] | None = None) -> list[dict[str, str]]:
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": build_user_prompt(requirement, code)},
    ]
    if answer is not None:
        messages.append({"role": "assistant", "content": format_answer(answer)})
    return messages


# ---------------------------------------------------------------- reading sample files


def _iter_json_array(text: str):
    """Yield (line_number, element_or_error) for each element of a top-level JSON array."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] == "]":
            return
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield line, exc
            return
        yield line, value


def check_sample(sample: Any) -> str | None:
    """Why ``sample`` is not a usable chat sample, or None when it is."""
    if not isinstance(sample, dict) or not isinstance(sample.get("messages"), list):
        return "expected an object with a 'messages' list"
    messages = sample["messages"]
    if not messages:
        return "'messages' is empty"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            return f"message {i}: role must be system, user or assistant"
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            return f"message {i} ({m.get('role')}): empty content"
    if messages[-1]["role"] != "assistant":
        return "no assistant answer at the end"
    if not any(m["role"] == "user" for m in messages):
        return "no user turn"
    return None


def load_samples(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON array or JSONL file of chat samples; SampleError lists every bad one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SampleError(f"{path}: file not found") from exc
    items: list[tuple[int, Any]] = []
    if text.lstrip().startswith("["):
        items = list(_iter_json_array(text))
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                items.append((number, exc))
    samples, problems = [], []
    for number, item in items:
        if isinstance(item, json.JSONDecodeError):
            problems.append(f"{path}:{number}: not valid JSON ({item.msg})")
            continue
        reason = check_sample(item)
        if reason:
            problems.append(f"{path}:{number}: {reason}")
        else:
            samples.append(item)
    if problems:
        raise SampleError(f"{len(problems)} malformed sample(s):\n" + "\n".join(problems))
    if not samples:
        raise SampleError(f"{path}: no samples")
    return samples


def write_samples(samples: list[dict[str, Any]], path: str | Path) -> None:
    """Write samples as JSONL (``.jsonl``) or a JSON array (any other suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), encoding="utf-8")
    else:
        path.write_text(json.dumps(samples, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- tokens


def render_prompt(tokenizer, messages: list[dict[str, str]]) -> str:
    """The text the model sees before it answers (ends with the assistant turn's opening)."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    parts = [f"### {m['role'].capitalize()}:\n{m['content']}\n\n" for m in messages]
    return "".join(parts) + "### Assistant:\n"


def render_answer(tokenizer, messages: list[dict[str, str]]) -> str:
    """The text the model must produce for the final assistant message, end-of-turn included."""
    prompt = render_prompt(tokenizer, messages[:-1])
    if tokenizer.chat_template:
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        if full.startswith(prompt):
            return full[len(prompt):]
    return messages[-1]["content"] + (tokenizer.eos_token or "")


@dataclass
class TokenStats:
    kept: int = 0
    truncated: int = 0
    dropped: int = 0


def tokenize_sample(tokenizer, sample: dict[str, Any], max_seq_length: int, truncation: str = "prompt"):
    """``{"input_ids", "labels"}`` for one sample, or None when it must be dropped.

    Returns (features, was_truncated).
    """
    messages = sample["messages"]
    prompt_ids = tokenizer(render_prompt(tokenizer, messages[:-1]), add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(render_answer(tokenizer, messages), add_special_tokens=False)["input_ids"]
    truncated = False
    overflow = len(prompt_ids) + len(answer_ids) - max_seq_length
    if overflow > 0:
        # Keep the answer whole and the prompt's first token (BOS) and its end; cut what follows BOS.
        keep = len(prompt_ids) - overflow
        if truncation == "drop" or keep < 2:
            return None, False
        prompt_ids = prompt_ids[:1] + prompt_ids[len(prompt_ids) - (keep - 1):]
        truncated = True
    return {
        "input_ids": prompt_ids + answer_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids,
    }, truncated


def tokenize_samples(
    tokenizer, samples: list[dict[str, Any]], max_seq_length: int, truncation: str = "prompt", name: str = "data"
) -> tuple[list[dict[str, list[int]]], TokenStats]:
    """Tokenize every sample; log (never hide) how many were truncated or dropped."""
    features, stats = [], TokenStats()
    for sample in samples:
        item, truncated = tokenize_sample(tokenizer, sample, max_seq_length, truncation)
        if item is None:
            stats.dropped += 1
            continue
        stats.kept += 1
        stats.truncated += truncated
        features.append(item)
    if stats.truncated or stats.dropped:
        log.warning(
            "%s: %d sample(s) longer than max_seq_length=%d: %d truncated on the prompt side, %d dropped",
            name, stats.truncated + stats.dropped, max_seq_length, stats.truncated, stats.dropped,
        )
    if not features:
        raise SampleError(f"{name}: every sample is longer than max_seq_length={max_seq_length}")
    return features, stats


class AnswerOnlyCollator:
    """Pads each batch to its own longest sample (never to max_seq_length); labels pad with -100."""

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            m = self.pad_to_multiple_of
            longest = (longest + m - 1) // m * m
        ids = torch.full((len(features), longest), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(features), longest), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for row, f in enumerate(features):
            n = len(f["input_ids"])
            ids[row, :n] = torch.tensor(f["input_ids"])
            labels[row, :n] = torch.tensor(f["labels"])
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}
