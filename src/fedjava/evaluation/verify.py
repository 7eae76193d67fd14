"""Checked fixes: the tools try the model's fix, and when it fails, other fixes the model proposes.

A grounded grader has the task's tests at hand, so the fix it shows a student need not be a guess. For an answer
that reports an error, :func:`verify_answers`

1. tries the answer's own fix where the fix check puts it (:func:`fedjava.evaluation.fixcheck.placements`);
2. if no placement compiles and passes every test, samples ``samples`` more fixes from the model: the answer is
   kept as written up to its first error's ``"fix": "``, and only the fix line is sampled (temperature, top-p,
   seeded); and for each line the error likely comes from (:func:`fedjava.java.cause.cause_lines`: the loop
   of an index error, where a null variable was set, ...), ``samples`` rewrites of that line, the fix string
   started with the line's own beginning (:func:`lead`, e.g. ``for (``) and written on by the model; and where javac
   cannot find a class the file does not declare (:func:`fedjava.java.cause.insertions`), ``samples`` lines
   started with ``import`` and inserted at the top of the file; and likewise for the lines the localisation evidence
   singles out (:func:`suspicious_lines`: a verified change's line, the top suspicious lines by coverage and by
   mutants), so a logic error's fix is also tried where the tools point. When the answer's own fix ran away in its
   indentation (:func:`runaway_indent`), its samples start from the reported line's indentation. What the
   branches share is prefilled once, and each branch's rows share its key/value cache;
3. tries each distinct sampled fix, most often sampled first, at the same places and also replacing any line
   within ``window`` of an anchor that it resembles (:func:`fedjava.evaluation.fixcheck.placements`), then each
   rewrite in place of its line;
4. keeps the first fix that passes, and says where it goes: the error gets ``fix_line`` and ``fix_action``
   (replace, insert before, delete). A logic error's ``line`` becomes that line (for a logic error the line is
   where the bug is, and no tool names it; for compile and runtime errors the line stays the one javac or the
   JVM reported).

Every fix shown then comes from the model; the tools only choose among the model's own proposals and place
them. "Passes" means every test of the task passes (a task without tests: the file compiles), run in the
sandbox like all student code. The result of each answer is a :class:`Verification`, whose ``status`` is

* ``first``: the answer's own fix passes;
* ``sampled``: another fix the model proposed passes (the answer now carries it);
* ``failed``: no fix tried passes (the answer is unchanged);
* ``no_fix``: the answer reports no error, or its error has no line to anchor a fix.

``fedjava evaluate --verify-fixes N`` reports the fix check and line of both the first answers and the checked
ones; ``fedjava review``, ``grade`` and ``serve`` show whether the fix shown passed.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fedjava.evaluation.fixcheck import Placement, anchors, first_passing, place, placements
from fedjava.evaluation.parse import json_structure
from fedjava.java.cause import cause_lines, insertions
from fedjava.java.evidence import Evidence, SuspiciousLines, VerifiedChange

FIX_KEY = '"fix": "'
WINDOW = 3
STATUSES = ("first", "sampled", "failed", "no_fix")


@dataclass
class VerifyItem:
    """One answered program: its task (``None`` or a task without tests: compile only), code, prompt and answer."""

    task: Any
    code: str
    prompt: str
    raw: str
    answer: dict[str, Any] | None
    evidence: str | None = None
    """the tool results of the student's program (where the cause lines come from); None: none are tried"""


@dataclass
class Verification:
    status: str
    answer: dict[str, Any] | None
    """the answer to show: the checked fix and where it goes, or the first answer unchanged"""
    tests: int = 0
    """how many tests a passing fix passed (0: the task has none, so passing means compiling)"""
    fixes_tried: int = 0
    programs: int = 0
    sampled: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status in ("first", "sampled")

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "tests": self.tests, "fixes_tried": self.fixes_tried, "programs": self.programs}


def fix_prefix(raw: str) -> str | None:
    """The answer text up to and including the opening quote of its first error's fix; None without one."""
    at = raw.find(FIX_KEY)
    return raw[: at + len(FIX_KEY)] if at >= 0 else None


def string_end(text: str) -> int:
    """The index of the quote that closes the JSON string ``text`` continues, or -1 while it is open."""
    quotes = (i for i, ch in json_structure('"' + text) if ch == '"')
    next(quotes)  # the opening quote put in front
    return next(quotes, 0) - 1


def decode_fix(text: str) -> str | None:
    """The fix line a sample wrote (the JSON string up to its closing quote), or None when it never closed or is
    not a valid JSON string."""
    end = string_end(text)
    if end < 0:
        return None
    try:
        return json.loads('"' + text[:end] + '"')
    except json.JSONDecodeError:
        return None


@dataclass(frozen=True)
class Proposal:
    """A fix the model wrote, and the line it was asked to write it at (None: placed as the answer's fix is):
    ``action`` replace rewrites that line, insert puts a new line before it."""

    fix: str
    line: int | None = None
    action: str = "replace"


def lead(text: str) -> str:
    """How a cause line's rewrite starts: its indentation and its text up to the first ``(`` or ``=`` (included),
    else up to ``;`` (``for (``, ``int[] sums =``, ``int bottom``, ``} else if (``)."""
    body = text.strip()
    cuts = [i for i in (body.find("("), body.find("=")) if i >= 0]
    head = body[: min(cuts) + 1] if cuts else body.split(";")[0]
    return text[: len(text) - len(text.lstrip())] + head


def propose_fixes(
    model,
    tokenizer,
    item: VerifyItem,
    samples: int,
    temperature: float = 0.8,
    top_p: float = 0.95,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> list[Proposal]:
    """``samples`` fixes after the answer's own ``"fix": "`` and, for each line the error likely comes from
    (:func:`fedjava.java.cause.cause_lines` on ``item.evidence``), ``samples`` rewrites of that line: the fix
    string is started with the line's :func:`lead` and the model writes the rest; and ``samples`` import lines
    (:func:`fedjava.java.cause.insertions`) to insert. Only fixes whose string closes; all branches share one
    prefill of what they have in common."""

    prefix = fix_prefix(item.raw)
    if prefix is None:
        return []
    lines = item.code.rstrip("\n").split("\n")
    branches: list[tuple[str, int | None, str]] = [(_escaped(runaway_indent(item)), None, "replace")]
    rewritten = [n for n, _ in cause_lines(item.evidence or "", item.code)]
    rewritten += [n for n in suspicious_lines(item.evidence) if n not in rewritten and 1 <= n <= len(lines)]
    for n in rewritten:
        branches.append((_escaped(lead(lines[n - 1])), n, "replace"))
    for n, start in insertions(item.evidence or "", item.code):
        branches.append((_escaped(start), n, "insert"))
    ids = [tokenizer(item.prompt + prefix + forced, add_special_tokens=False)["input_ids"] for forced, _, _ in branches]
    rows = sample_branches(
        model,
        tokenizer,
        ids,
        samples,
        max_new_tokens,
        temperature,
        top_p,
        seed,
        done=lambda text: string_end(text) >= 0,
    )
    out = []
    for (forced, line, action), branch in zip(branches, rows, strict=True):
        for row in branch:
            fix = decode_fix(forced + tokenizer.decode(row, skip_special_tokens=True))
            if fix is not None:
                out.append(Proposal(fix, line, action))
    return out


SUSPICIOUS_PER_METHOD = 2


def suspicious_lines(evidence: str | None, per_method: int = SUSPICIOUS_PER_METHOD) -> list[int]:
    """The lines the localisation evidence singles out, in order, each once: the line of a change that passes every
    test, then each method's top ``per_method`` suspicious lines (:mod:`fedjava.java.localise`)."""

    facts = Evidence.parse(evidence or "")
    change = facts.first(VerifiedChange)
    found = [change.line] if change else []
    for ranked in facts.all(SuspiciousLines):
        found += [n for n in ranked.lines[:per_method] if n not in found]
    return found


def _escaped(text: str) -> str:
    """``text`` as it reads inside a JSON string."""
    return json.dumps(text)[1:-1]


def runaway_indent(item: VerifyItem) -> str:
    """The indentation of the line the answer's error names when the answer's fix ran away in its indentation
    (more blanks than any line of the program has, e.g. ``\\t`` written until the token limit), so that the samples
    start past it; "" otherwise (the samples start where the answer's fix started)."""
    prefix = fix_prefix(item.raw)
    if prefix is None:
        return ""
    tail = item.raw[len(prefix) :]
    blanks = re.match(r"(?:\\t|\\n| )*", tail).group(0)
    lines = item.code.rstrip("\n").split("\n")
    deepest = max((len(t) - len(t.lstrip()) for t in lines), default=0)
    if len(blanks.replace("\\t", "\t")) <= deepest and string_end(tail) >= 0:
        return ""
    errors = (item.answer or {}).get("errors") or []
    at = errors[0].get("line") if errors and isinstance(errors[0], dict) else None
    if isinstance(at, int) and 1 <= at <= len(lines):
        return lines[at - 1][: len(lines[at - 1]) - len(lines[at - 1].lstrip())]
    return ""


def sample_rows(
    model,
    tokenizer,
    ids: list[int],
    n: int,
    max_new_tokens: int,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int = 0,
    done: Callable[[str], bool] | None = None,
) -> list[list[int]]:
    """``n`` continuations of the token ids ``ids``: :func:`sample_branches` with one branch."""
    return sample_branches(model, tokenizer, [ids], n, max_new_tokens, temperature, top_p, seed, done)[0]


def sample_branches(
    model,
    tokenizer,
    branches: list[list[int]],
    n: int,
    max_new_tokens: int,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int = 0,
    done: Callable[[str], bool] | None = None,
) -> list[list[list[int]]]:
    """``n`` continuations of each of the token-id lists ``branches``, sampled (temperature 0: greedy), each until a
    stop token, ``done(its text)`` or ``max_new_tokens``.

    What the branches have in common is prefilled once; each branch feeds only its own tokens on a copy of that
    cache, which its ``n`` rows then share (repeated ``n`` times), so a sample costs only its own tokens, and a
    finished row leaves the batch. Seeded: the same seed gives the same rows."""
    import copy

    import torch
    from transformers import DynamicCache

    from fedjava.evaluation.generate import _cache_argument, stop_token_ids

    device = next(model.parameters()).device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    stops = set(stop_token_ids(tokenizer))
    arg = _cache_argument(model)
    common = 0
    while all(len(b) > common + 1 and b[common] == branches[0][common] for b in branches):
        common += 1  # every branch keeps at least its last token, whose logits start its rows
    was_training = model.training
    model.eval()
    out: list[list[list[int]]] = []
    try:
        with torch.no_grad():
            shared = DynamicCache(config=model.config)
            if common:
                model(
                    input_ids=torch.tensor([branches[0][:common]], device=device),
                    use_cache=True,
                    logits_to_keep=1,
                    **{arg: shared},
                )
            for k, ids in enumerate(branches):
                cache = shared if k == len(branches) - 1 else copy.deepcopy(shared)
                first = model(
                    input_ids=torch.tensor([ids[common:]], device=device),
                    position_ids=torch.arange(common, len(ids), device=device)[None],
                    use_cache=True,
                    logits_to_keep=1,
                    **{arg: cache},
                )
                out.append(
                    _sample_rows(
                        model,
                        tokenizer,
                        cache,
                        first.logits[:, -1].float(),
                        len(ids),
                        n,
                        max_new_tokens,
                        temperature,
                        top_p,
                        generator,
                        stops,
                        done,
                        arg,
                    )
                )
    finally:
        if was_training:
            model.train()
    return out


def _sample_rows(
    model,
    tokenizer,
    cache,
    logits,
    position: int,
    n: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    generator,
    stops: set[int],
    done,
    arg: str,
) -> list[list[int]]:
    """The ``n`` rows of one branch, from its cache and the logits after its last token."""
    import torch

    device = logits.device
    rows: list[list[int]] = [[] for _ in range(n)]
    cache.batch_repeat_interleave(n)
    logits = logits.expand(n, -1)
    alive = list(range(n))  # the rows still being written, in cache order
    while alive:
        picked = _sample(logits, temperature, top_p, generator)
        keep = []
        for slot, (r, token) in enumerate(zip(alive, picked.tolist(), strict=True)):
            if token in stops:
                continue
            rows[r].append(token)
            if len(rows[r]) < max_new_tokens and not (done is not None and done(tokenizer.decode(rows[r]))):
                keep.append(slot)
        if not keep:
            break
        if len(keep) < len(alive):  # finished rows leave the batch with their cache rows
            cache.batch_select_indices(torch.tensor(keep, device=device))
            picked = picked[keep]
            alive = [alive[k] for k in keep]
        positions = torch.full((len(alive), 1), position, device=device)
        out = model(
            input_ids=picked[:, None].to(device),
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{arg: cache},
        )
        logits = out.logits[:, -1].float()
        position += 1
    return rows


def _sample(logits, temperature: float, top_p: float, generator):
    """One token per row: softmax(logits / temperature) cut to the smallest set with mass ``top_p``."""
    import torch

    if temperature <= 0:
        return logits.argmax(-1).cpu()
    probs = torch.softmax(logits.cpu() / temperature, dim=-1)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    keep = sorted_probs.cumsum(-1) - sorted_probs < top_p
    sorted_probs = sorted_probs * keep
    choice = torch.multinomial(sorted_probs / sorted_probs.sum(-1, keepdim=True), 1, generator=generator)
    return order.gather(-1, choice).squeeze(-1)


def ranked_fixes(first: str | None, sampled: list[str]) -> list[str]:
    """The first answer's fix, then the distinct sampled fixes, most often sampled first (ties: first sampled);
    fixes that differ only in surrounding blanks count as one."""
    counts = Counter(f.strip() for f in sampled)
    out, seen = [], set()
    if isinstance(first, str):
        out.append(first)
        seen.add(first.strip())
    for fix in sorted(sampled, key=lambda f: -counts[f.strip()]):
        if fix.strip() not in seen:
            seen.add(fix.strip())
            out.append(fix)
    return out


def checked_answer(answer: dict[str, Any], placement: Placement) -> dict[str, Any]:
    """``answer`` with its first error's fix replaced by the one that passed, and where it goes."""
    out = copy.deepcopy(answer)
    error = out["errors"][0]
    error["fix"] = placement.fix
    error["fix_line"] = placement.line
    error["fix_action"] = placement.action
    if out.get("verdict") == "LOGIC_ERROR":
        error["line"] = placement.line
    return out


def verify_answers(
    model,
    tokenizer,
    items: list[VerifyItem],
    samples: int = 8,
    temperature: float = 0.8,
    top_p: float = 0.95,
    seed: int = 0,
    window: int = WINDOW,
    jobs: int = 2,
    unsafe: bool = False,
    progress=None,
    sampler: Callable[[VerifyItem, int], list[Proposal]] | None = None,
) -> list[Verification]:
    """Check every answer's fix and, where it fails, the model's other fixes (see the module docstring).

    ``sampler(item, seed)`` gives the other fixes of one item; by default :func:`propose_fixes` from ``model``."""
    if sampler is None:

        def sampler(item: VerifyItem, item_seed: int) -> list[Proposal]:
            return propose_fixes(model, tokenizer, item, samples, temperature, top_p, seed=item_seed)

    results: list[Verification | None] = [None] * len(items)
    first_groups, owners = [], []
    for i, item in enumerate(items):
        errors = (item.answer or {}).get("errors") or []
        if not errors or not anchors(item.code, errors[0]):
            results[i] = Verification("no_fix", item.answer)
            continue
        first_groups.append((item.task, placements(item.code, errors[0])))
        owners.append(i)
    found = first_passing(first_groups, jobs=jobs, unsafe=unsafe) if first_groups else []
    retry, tried = [], {}
    for i, (_, group), hit in zip(owners, first_groups, found, strict=True):
        tried[i] = {p.code for p in group}
        tests = len(items[i].task.tests) if items[i].task is not None else 0
        if hit is not None:
            results[i] = Verification("first", checked_answer(items[i].answer, hit), tests, 1, len(group))
        else:
            results[i] = Verification("failed", items[i].answer, tests, 1 if group else 0, len(group))
            if samples > 0 and fix_prefix(items[i].raw) is not None:
                retry.append(i)
    groups, owners = [], []
    for n, i in enumerate(retry):
        item = items[i]
        error = item.answer["errors"][0]
        proposals = sampler(item, seed + i)
        candidates: list[Placement | None] = []
        fixes = ranked_fixes(error.get("fix"), [p.fix for p in proposals if p.line is None])
        for fix in fixes:
            candidates += placements(item.code, error, fix=fix, window=window)
        for line, action in dict.fromkeys((p.line, p.action) for p in proposals if p.line is not None):
            rewrites = ranked_fixes(None, [p.fix for p in proposals if (p.line, p.action) == (line, action)])
            fixes += rewrites
            candidates += [place(item.code, line, action, fix) for fix in rewrites]
        group: list[Placement] = []
        seen = set(tried[i])
        for p in candidates:
            if p is not None and p.code not in seen:
                seen.add(p.code)
                group.append(p)
        results[i].sampled = [p.fix for p in proposals]
        results[i].fixes_tried = len(fixes)
        results[i].programs += len(group)
        groups.append((item.task, group))
        owners.append(i)
        if progress:
            progress(n + 1, len(retry))
    for i, hit in zip(owners, first_passing(groups, jobs=jobs, unsafe=unsafe) if groups else [], strict=True):
        if hit is not None:
            results[i].status = "sampled"
            results[i].answer = checked_answer(items[i].answer, hit)
    return results  # type: ignore[return-value]
