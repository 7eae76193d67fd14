"""The answer format, chat samples on disk, and chat samples -> tokens with answer-only labels.

A sample is ``{"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}``; the
last message is the assistant's answer. The prompt is everything before it, rendered with the
tokenizer's chat template (``add_generation_prompt=True``); the answer is the rest of the rendered
conversation (the answer text plus the template's end-of-turn marker). Only answer tokens carry
labels; prompt tokens get -100.

Tokenizers without a chat template use this plain template, documented here and in docs/data.md::

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

from fedjava.answer import VERDICTS, Answer
from fedjava.errors import UserError
from fedjava.files import read_text, write_text_atomic
from fedjava.java.cause import cause_lines
from fedjava.java.evidence import Evidence, compile_only, reported_line

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
GROUNDED_SYSTEM_PROMPT = (
    "You are a Java code error evaluator. You get a programming task, a student's Java program with "
    "numbered lines, and what javac and the task's tests reported. Answer with one JSON object: "
    '{"verdict": "<COMPILE_ERROR|LOGIC_ERROR|NO_ERROR|RUNTIME_ERROR>", "errors": [{"type", "code", "line", '
    '"message", "explanation", "fix"}], "score": <0-10>}.'
)
PROMPT_MODES = ("code_only", "grounded")
"""code_only: the task and the code (the paper's setting); grounded: also the tool results in ``meta.evidence``."""
EVIDENCE_SEPARATOR = "\n\nTool results:\n"
TASK_HEADER = "Task:\n"
CODE_HEADER = "\n\nStudent code:\n"
USER_PROMPT = TASK_HEADER + "{task}" + CODE_HEADER + "{numbered_code}"
"""The user turn: the task's requirement, then the student's code numbered by :func:`number_lines`."""
ANSWER_SHAPE = '{"verdict": ..., "errors": [{"type", "code", "line", "message", "explanation", "fix"}], "score": ...}'
IGNORE_INDEX = -100


class SampleError(UserError, ValueError):
    """Malformed sample file; the message lists ``file:line: reason`` for each bad sample."""


def number_lines(code: str) -> str:
    """Prefix each line with its 1-based number, right-aligned: ``' 3 | return x;'``."""
    lines = code.rstrip("\n").split("\n")
    width = len(str(len(lines)))
    return "\n".join(f"{i:>{width}} | {line}" for i, line in enumerate(lines, 1))


def build_user_prompt(requirement: str, code: str) -> str:
    return USER_PROMPT.format(task=requirement.strip(), numbered_code=number_lines(code))


def prompt_spec(prompt_mode: str) -> dict[str, Any]:
    """The prompt format a model of ``prompt_mode`` was trained on, as data (what an export writes down): the
    system prompt, the user turn's template, how code is numbered, where the tool results go, the answer's shape."""
    grounded = prompt_mode == "grounded"
    return {
        "prompt_mode": prompt_mode,
        "system_prompt": GROUNDED_SYSTEM_PROMPT if grounded else SYSTEM_PROMPT,
        "user_prompt": USER_PROMPT,
        "numbered_code": "each line as '<number right-aligned to the widest> | <line>', numbers from 1",
        "evidence_format": (EVIDENCE_SEPARATOR.lstrip("\n") + "javac: ...\ntests: ...") if grounded else None,
        "answer": ANSWER_SHAPE,
    }


_NUMBERED_RE = re.compile(r"^\s*(\d+) \| ?(.*)$")


def unnumber(numbered: str) -> str:
    """Undo :func:`number_lines`: ``' 3 | x'`` lines back to plain code."""
    lines = []
    for line in numbered.split("\n"):
        match = _NUMBERED_RE.match(line)
        lines.append(match.group(2) if match else line)
    return "\n".join(lines) + "\n"


def split_user_prompt(user: str) -> tuple[str, str]:
    """Undo :func:`build_user_prompt` (and a grounded turn's tool results): (requirement, code);
    ``(user, "")`` for a turn of another shape."""
    user = user.partition(EVIDENCE_SEPARATOR)[0]
    head, sep, numbered = user.partition(CODE_HEADER)
    if not sep:
        return user, ""
    requirement = head.removeprefix(TASK_HEADER)
    return requirement, unnumber(numbered)


def format_answer(answer: dict[str, Any]) -> str:
    """The assistant's answer as compact JSON with a fixed key order (:meth:`fedjava.answer.Answer.render`).

    Raises:
        ValueError: ``answer`` does not have the answer's shape (an unknown verdict or error type).
    """
    typed = Answer.from_dict(answer)
    if typed is None:
        raise ValueError(f"not an answer: {str(answer)[:200]}")
    return typed.render()


def build_messages(
    requirement: str,
    code: str,
    answer: dict[str, Any] | None = None,
    evidence: str | None = None,
    quote_lines: str = "error",
    localisation: bool = True,
) -> list[dict[str, str]]:
    """The chat turns for one program; with ``evidence`` (a tool-results block) the grounded form."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": build_user_prompt(requirement, code)},
    ]
    if evidence is not None:
        messages = ground_messages(messages, evidence, quote_lines, localisation)
    if answer is not None:
        messages.append({"role": "assistant", "content": format_answer(answer)})
    return messages


QUOTE_LINES = ("error", "related")


def quote_source_lines(block: str, code: str, quote_lines: str = "error") -> str:
    """``block`` with the student's line that javac or the stack trace names quoted under its tool line::

        javac: error at line 12: compiler.err.expected: ';' expected
        line 12 reads: int total = 0

    The answer's ``fix`` is that line corrected, more often than not; quoted next to the error, the model
    edits it instead of writing a plausible line from nothing. A line number outside ``code`` is not quoted.
    ``quote_lines="related"`` also quotes, at the end, the lines the error likely comes from
    (:func:`fedjava.java.cause.cause_lines`), where the fix goes when it is not the named line::

        line 7 (the loop line 8 is in) reads: for (int i = 0; i <= n; i++) {
    """
    if quote_lines not in QUOTE_LINES:
        raise ValueError(f"quote_lines must be one of {', '.join(QUOTE_LINES)}, not {quote_lines!r}")

    lines = code.rstrip("\n").split("\n") if code else []
    out = []
    for line in block.split("\n"):
        out.append(line)
        n = reported_line(line)
        if n is not None and 1 <= n <= len(lines):
            out.append(f"line {n} reads: {lines[n - 1].strip()}")
    if quote_lines == "related":
        out += [f"line {n} ({what}) reads: {lines[n - 1].strip()}" for n, what in cause_lines(block, code)]
    return "\n".join(out)


def ground_messages(
    messages: list[dict[str, str]], evidence: str, quote_lines: str = "error", localisation: bool = True
) -> list[dict[str, str]]:
    """``messages`` in grounded form: the grounded system prompt, and ``evidence`` after the last user turn's
    code (where the model reads it last, and where truncation of a long prompt's start never reaches), with
    the code line it names quoted (:func:`quote_source_lines`); without ``localisation``, its localisation facts
    left out (a grader trained without them)."""
    if not localisation:
        evidence = Evidence.parse(evidence).without_localisation().render()
    block = evidence.strip()
    if block.startswith("Tool results:"):
        block = block[len("Tool results:") :].lstrip("\n")
    out = [m for m in messages if m["role"] != "system"]
    last_user = max(i for i, m in enumerate(out) if m["role"] == "user")
    block = quote_source_lines(block, split_user_prompt(out[last_user]["content"])[1], quote_lines)
    out[last_user] = {"role": "user", "content": out[last_user]["content"] + EVIDENCE_SEPARATOR + block}
    return [{"role": "system", "content": GROUNDED_SYSTEM_PROMPT}] + out


def apply_prompt_mode(
    samples: list[dict[str, Any]],
    mode: str,
    tests_dropout: float = 0.0,
    seed: int = 0,
    name: str = "data",
    quote_lines: str = "error",
    localisation: bool = True,
) -> list[dict[str, Any]]:
    """The samples as ``mode`` shows them to the model (new dicts; the input is not changed).

    ``grounded`` needs each sample's ``meta.evidence`` (written by ``fedjava data build``); a share
    ``tests_dropout`` of them (seeded, per sample) is shown with the javac line only, as when a task has no
    tests, so that a grader trained on them also answers from javac alone. ``quote_lines``: see
    :func:`quote_source_lines`.
    """
    if mode not in PROMPT_MODES:
        raise SampleError(f"unknown prompt_mode '{mode}' (choose {' or '.join(PROMPT_MODES)})")
    if mode == "code_only":
        return samples
    import random

    missing = sum(1 for s in samples if not isinstance((s.get("meta") or {}).get("evidence"), str))
    if missing:
        raise SampleError(
            f"{name}: {missing} of {len(samples)} sample(s) carry no tool results (meta.evidence), which "
            "prompt_mode=grounded shows the model; use samples made by 'fedjava data build', or prompt_mode=code_only"
        )
    rng = random.Random(f"tests_dropout:{seed}")
    out = []
    for sample in samples:
        evidence = sample["meta"]["evidence"]
        if tests_dropout > 0 and rng.random() < tests_dropout:
            evidence = compile_only(evidence)
        messages = sample["messages"]
        out.append(
            {**sample, "messages": ground_messages(messages[:-1], evidence, quote_lines, localisation) + messages[-1:]}
        )
    return out


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
    text = read_text(path, "data file", SampleError)
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
    """Write samples as JSONL (``.jsonl``) or a JSON array (any other suffix), atomically (a crash leaves the old
    file whole)."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        write_text_atomic(path, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples))
    else:
        write_text_atomic(path, json.dumps(samples, ensure_ascii=False, indent=1) + "\n")


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
            return full[len(prompt) :]
    return messages[-1]["content"] + (tokenizer.eos_token or "")


# The answer's decision: its verdict, and the first error's code and line. A teacher-forced pass over these
# tokens measures what the grader decides (the rest of the answer is mostly templated text), and
# ``decision_weight`` can weigh them more in the loss.
DECISION_FIELDS = ("verdict", "code", "line")
_DECISION_RES = {
    "verdict": re.compile(r'"verdict":\s*"([^"]*)"'),
    "code": re.compile(r'"code":\s*"([^"]*)"'),
    "line": re.compile(r'"line":\s*(-?\d+)'),
}


def decision_char_spans(answer_text: str) -> dict[str, tuple[int, int]]:
    """Character spans of the verdict's value and the first error's code and line in an answer's text."""
    spans = {}
    verdict = _DECISION_RES["verdict"].search(answer_text)
    if verdict is None:
        return spans
    spans["verdict"] = verdict.span(1)
    for name in ("code", "line"):
        match = _DECISION_RES[name].search(answer_text, verdict.end())
        if match is not None and match.end(1) > match.start(1):
            spans[name] = match.span(1)
    return spans


def _token_span(offsets: list[tuple[int, int]], start: int, end: int) -> tuple[int, int] | None:
    inside = [i for i, (a, b) in enumerate(offsets) if b > start and a < end]
    return (inside[0], inside[-1] + 1) if inside else None


_VERDICT_TOKENS: dict[int, list[int] | None] = {}


def verdict_first_tokens(tokenizer) -> list[int] | None:
    """The token each verdict's answer starts with (after ``{"verdict": "``), in :data:`VERDICTS` order.

    None when the tokenizer cannot give offsets. Cached per tokenizer object.
    """
    key = id(tokenizer)
    if key not in _VERDICT_TOKENS:
        firsts: list[int] | None = []
        prefix = '{"verdict": "'
        for verdict in VERDICTS:
            try:
                enc = tokenizer(prefix + verdict + '"', add_special_tokens=False, return_offsets_mapping=True)
            except (NotImplementedError, ValueError, TypeError):
                firsts = None
                break
            span = _token_span(enc["offset_mapping"], len(prefix), len(prefix) + 1)
            firsts.append(enc["input_ids"][span[0]] if span else -1)
        _VERDICT_TOKENS[key] = firsts
    return _VERDICT_TOKENS[key]


def decision_token_spans(tokenizer, answer_text: str) -> tuple[list[int], dict[str, tuple[int, int]]]:
    """(token ids of ``answer_text``, ``{field: (first token, end token)}`` of its decision fields).

    The spans are empty when the answer has no decision fields or the tokenizer gives no offsets.
    """
    try:
        enc = tokenizer(answer_text, add_special_tokens=False, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):
        return tokenizer(answer_text, add_special_tokens=False)["input_ids"], {}
    spans = {}
    for name, (start, end) in decision_char_spans(answer_text).items():
        span = _token_span(enc["offset_mapping"], start, end)
        if span is not None:
            spans[name] = span
    return list(enc["input_ids"]), spans


@dataclass
class TokenStats:
    kept: int = 0
    truncated: int = 0
    dropped: int = 0


def tokenize_sample(tokenizer, sample: dict[str, Any], max_seq_length: int, truncation: str = "prompt"):
    """``{"input_ids", "labels"[, "decision"]}`` for one sample, or None when it must be dropped.

    ``decision`` (answers with a verdict) holds the token spans of the verdict, code and line in
    ``input_ids``, the gold verdict's index in :data:`VERDICTS` and each verdict's first token.
    Returns (features, was_truncated).
    """
    messages = sample["messages"]
    prompt_ids = tokenizer(render_prompt(tokenizer, messages[:-1]), add_special_tokens=False)["input_ids"]
    answer_ids, spans = decision_token_spans(tokenizer, render_answer(tokenizer, messages))
    truncated = False
    overflow = len(prompt_ids) + len(answer_ids) - max_seq_length
    if overflow > 0:
        # Keep the answer whole and the prompt's first token (BOS) and its end; cut what follows BOS.
        keep = len(prompt_ids) - overflow
        if truncation == "drop" or keep < 2:
            return None, False
        prompt_ids = prompt_ids[:1] + prompt_ids[len(prompt_ids) - (keep - 1) :]
        truncated = True
    feature: dict[str, Any] = {
        "input_ids": prompt_ids + answer_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids,
    }
    candidates = verdict_first_tokens(tokenizer) if "verdict" in spans else None
    if candidates:
        verdict = _DECISION_RES["verdict"].search(messages[-1]["content"])
        offset = len(prompt_ids)
        feature["decision"] = {
            "spans": {name: [offset + a, offset + b] for name, (a, b) in spans.items()},
            "verdict": VERDICTS.index(verdict.group(1)) if verdict and verdict.group(1) in VERDICTS else -1,
            "candidates": candidates,
        }
    return feature, truncated


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
            name,
            stats.truncated + stats.dropped,
            max_seq_length,
            stats.truncated,
            stats.dropped,
        )
    if not features:
        raise SampleError(f"{name}: every sample is longer than max_seq_length={max_seq_length}")
    return features, stats


class AnswerOnlyCollator:
    """Pads each batch to its own longest sample (never to max_seq_length); labels pad with -100.

    With ``decision_weight`` > 1 the batch also gets ``weights``: that weight on the decision tokens
    (verdict, code, line) and 1 on every other answer token.
    """

    def __init__(self, pad_token_id: int, pad_to_multiple_of: int | None = None, decision_weight: float = 1.0):
        self.pad_token_id = pad_token_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.decision_weight = decision_weight

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
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if self.decision_weight != 1.0:
            weights = torch.ones((len(features), longest), dtype=torch.float32)
            for row, f in enumerate(features):
                for start, end in (f.get("decision") or {}).get("spans", {}).values():
                    weights[row, start:end] = self.decision_weight
            batch["weights"] = weights
        return batch
