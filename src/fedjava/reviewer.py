"""The one path that reviews student files with a trained adapter: ``fedjava review``, ``grade`` and ``serve``.

A :class:`Reviewer` holds a loaded adapter (merged into its base model for speed), its config and the
answer length. Reviewing is two steps, so that a batch of students shares one generation:

1. :meth:`Reviewer.prepare` checks one file against the model and builds its prompt: for a grounded adapter
   (``prompt_mode: grounded`` in its ``fedjava_config.yaml``) it first runs javac and the task's tests through
   :func:`fedjava.java.localise.review_evidence` (javac, the tests, the localisation); it refuses (:class:`fedjava.review_inputs.ReviewError`) a
   prompt that does not fit the model's context window, and notes one longer than ``max_seq_length``;
2. :meth:`Reviewer.generate` answers many prepared files at once (greedy, batched by length), and parses
   each answer (:func:`fedjava.evaluation.parse.parse_answer`; ``None`` when it is not valid JSON).

:meth:`Reviewer.review` does both for one file. Why this split: a class of 30 students reviewed one at a time
spends most of the time on batch-of-one generation; the tools and the checks are per file, the model is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedjava.config import SAVED_CONFIG, load_adapter_config
from fedjava.evaluation.parse import parse_answer
from fedjava.evaluation.verify import VerifyItem, verify_answers
from fedjava.grading.tests_table import tests_table
from fedjava.java.runner import JdkMissingError
from fedjava.java.sandbox import require_sandbox
from fedjava.models import ModelLoadError, builtin_adapter_dir, load_adapter
from fedjava.prompts import build_messages, render_prompt
from fedjava.review_inputs import ReviewError, check_adapter, count_lines
from fedjava.tracking import log


class ToolsUnavailableError(ReviewError):
    """javac or java is missing: no grounded review can run on this machine (unlike a problem with one file)."""


@dataclass
class Prepared:
    """One file ready for the model: its prompt, and what the tools said (grounded adapters)."""

    label: str
    code: str
    prompt: str
    prompt_tokens: int
    evidence: str | None = None
    tools: str = ""
    """what the tools did, e.g. "compiled and ran 5 test(s)"; "" when they did not run"""
    tool_seconds: float = 0.0
    note: str | None = None
    task: Any = None
    """the task whose tests ran (None: compiled only, or not grounded): what a checked fix must pass"""
    tests: list[dict[str, Any]] = field(default_factory=list)
    """the table of the task's tests (:mod:`fedjava.grading.tests_table`); [] when they did not run"""


@dataclass
class Review:
    """The model's review of one file: the parsed answer (None: not valid JSON) and the raw text."""

    label: str
    code: str
    answer: dict[str, Any] | None
    raw: str
    evidence: str | None = None
    note: str | None = None
    tool_seconds: float = 0.0
    model_seconds: float = 0.0
    fix_check: dict[str, Any] | None = None
    """what checking the fix found (:meth:`Verification.as_dict <fedjava.evaluation.verify.Verification.as_dict>`);
    None when it was not checked"""
    tests: list[dict[str, Any]] = field(default_factory=list)
    """the table of the task's tests (:mod:`fedjava.grading.tests_table`); [] when they did not run"""


class Reviewer:
    """A trained adapter loaded for reviewing (see the module's docstring)."""

    def __init__(self, adapter: Path, cfg, model, tokenizer, max_new_tokens: int = 384, unsafe: bool = False):
        self.adapter, self.cfg, self.model, self.tokenizer = adapter, cfg, model, tokenizer
        self.max_new_tokens = max_new_tokens
        self.unsafe = unsafe
        """run the student's code without the sandbox (``--unsafe-run``)"""

    @property
    def grounded(self) -> bool:
        return self.cfg.prompt_mode == "grounded"

    @classmethod
    def load(cls, folder: Path, cfg, max_new_tokens: int = 384, unsafe: bool = False) -> Reviewer:
        """Load the adapter in ``folder`` (checked by :func:`open_adapter`) on ``cfg``'s base model, merged.

        A grounded adapter runs the student's code, in the sandbox: without one (and without ``unsafe``) this
        refuses before the model loads (SandboxUnavailableError names how to install it)."""
        if max_new_tokens < 1:
            raise ReviewError("--max-new-tokens must be at least 1")
        if cfg.prompt_mode == "grounded" and not unsafe:
            require_sandbox()

        if cfg.num_threads:
            import torch

            torch.set_num_threads(cfg.num_threads)
        log.info(f"Loading {folder} on {cfg.model_name} ...")
        model, tokenizer = load_adapter(folder, cfg, merge=True)  # ModelLoadError names the model it was trained on
        return cls(folder, cfg, model, tokenizer, max_new_tokens, unsafe)

    def prepare(self, code: str, label: str, task: str, task_spec=None, run_tests: bool = True) -> Prepared:
        """The prompt for one file (tools run first for a grounded adapter); ReviewError when it cannot fit."""

        evidence, tools, seconds, table = None, "", 0.0, []
        if self.grounded:
            started = time.perf_counter()
            evidence, tools, table = run_tools(code, task_spec, run_tests, self.unsafe)
            seconds = time.perf_counter() - started
        prompt = render_prompt(
            self.tokenizer,
            build_messages(
                task, code, evidence=evidence, quote_lines=self.cfg.quote_lines, localisation=self.cfg.localisation
            ),
        )
        n_tokens = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        note = check_fits(
            label, n_tokens, count_lines(code), self.max_new_tokens, self.cfg.max_seq_length, context_window(self.model)
        )
        tested = self.grounded and run_tests and task_spec is not None and bool(task_spec.tests)
        return Prepared(
            label, code, prompt, n_tokens, evidence, tools, seconds, note, task_spec if tested else None, table
        )

    def generate(
        self, prepared: list[Prepared], batch_size: int = 16, progress: Callable[[int, int], None] | None = None
    ) -> list[Review]:
        """Answer every prepared file (batched greedy generation) and parse each answer, in order; ``progress`` is
        told (answers done, of all) as answers finish."""
        from fedjava.evaluation.generate import generate_answers

        if not prepared:
            return []
        started = time.perf_counter()
        raws = generate_answers(
            self.model,
            self.tokenizer,
            [p.prompt for p in prepared],
            self.max_new_tokens,
            batch_size=max(1, batch_size),
            progress=progress,
        )
        share = (time.perf_counter() - started) / len(prepared)
        return [
            Review(p.label, p.code, parse_answer(raw), raw, p.evidence, p.note, p.tool_seconds, share, tests=p.tests)
            for p, raw in zip(prepared, raws, strict=True)
        ]

    def check_fixes(
        self, prepared: list[Prepared], reviews: list[Review], samples: int = 0, temperature: float = 0.8
    ) -> list[Review]:
        """Check each review's fix with the tools (the task's tests where they ran, else javac alone) and, where it
        fails, sample ``samples`` more fixes from the model (:func:`fedjava.evaluation.verify.verify_answers`).
        The reviews get the checked answer and ``fix_check``; only grounded adapters (which run the tools
        anyway) check."""
        if not self.grounded:
            return reviews

        items = [
            VerifyItem(p.task, p.code, p.prompt, r.raw, r.answer, p.evidence)
            for p, r in zip(prepared, reviews, strict=True)
        ]
        started = time.perf_counter()
        results = verify_answers(
            self.model, self.tokenizer, items, samples=samples, temperature=temperature, jobs=1, unsafe=self.unsafe
        )
        share = (time.perf_counter() - started) / max(1, len(reviews))
        for review, result in zip(reviews, results, strict=True):
            if review.answer is not None and result.status != "no_fix":
                review.answer = result.answer
                review.fix_check = {**result.as_dict(), "seconds": round(share, 3)}
        return reviews

    def review(
        self,
        code: str,
        label: str,
        task: str,
        task_spec=None,
        run_tests: bool = True,
        check: int | None = None,
        stage: Callable[[str], None] | None = None,
    ) -> Review:
        """One file, start to end (what the web page does); ``check`` not None: the fix is checked, with that many
        more sampled where it fails (:meth:`check_fixes`). ``stage`` is told each step as it starts ("tools",
        "model", "fix check"), so that a page can show how far the review is."""
        tell = stage or (lambda _: None)
        if self.grounded:
            tell("tools")
        prepared = self.prepare(code, label, task, task_spec, run_tests)
        tell("model")
        review = self.generate([prepared], batch_size=1)[0]
        if check is not None and review.answer is not None and self.grounded:
            tell("fix check")
            review = self.check_fixes([prepared], [review], samples=check)[0]
        return review


def open_adapter(adapter: str | Path, preset: str | None = None, overrides: list[str] | tuple = ()):
    """(the adapter folder, its config), both checked before any model loads; ``builtin`` is the shipped grader."""
    folder = check_adapter(adapter)
    return folder, load_review_config(folder, preset, list(overrides))


def adapter_label(folder: Path) -> str:
    """How pages name the adapter: "the shipped grader" for ``--adapter builtin``, else its folder."""

    try:
        builtin = builtin_adapter_dir().resolve()
    except ModelLoadError:
        builtin = None
    return "the shipped grader" if folder.resolve() == builtin else str(folder)


def load_review_config(adapter: Path, preset: str | None, overrides: list[str]):
    """The adapter's own ``fedjava_config.yaml`` (its base model and prompt mode) unless a preset is given."""

    if preset is None and not (adapter / SAVED_CONFIG).is_file():
        log.warning(f"note: {adapter} has no {SAVED_CONFIG}; using the default config's model")
    return load_adapter_config(adapter, preset, overrides)  # the base model the adapter was trained on


def check_fits(
    path: str | Path, prompt_tokens: int, lines: int, max_new_tokens: int, max_seq_length: int, context: int | None
) -> str | None:
    """ReviewError beyond the model's context window; a note (returned) beyond max_seq_length; else None."""
    total = prompt_tokens + max_new_tokens
    what = f"its prompt ({lines} lines of code with the task) is {prompt_tokens} tokens"
    if context and total > context:
        raise ReviewError(
            f"{path}: too long for the model: {what}, and with up to {max_new_tokens} answer tokens that is "
            f"{total}, over the {context} tokens the model can read (room for {max(0, context - max_new_tokens)} "
            "prompt tokens); review a shorter file or lower --max-new-tokens"
        )
    if total > max_seq_length:
        return (
            f"note: {path}: {what}; with up to {max_new_tokens} answer tokens that is over "
            f"max_seq_length={max_seq_length}, the length the adapter was trained on, so the review may "
            "be less reliable"
        )
    return None


def context_window(model) -> int | None:
    """The most tokens the model can read (its config's max_position_embeddings), when it says."""
    value = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return value if isinstance(value, int) and value > 0 else None


def run_tools(code: str, task_spec, run_tests: bool, unsafe: bool = False) -> tuple[str, str, list[dict[str, Any]]]:
    """Compile (and test, and localise) the student's file for a grounded review: (the evidence block, what was done,
    the table of the task's tests: [] when they did not run)."""
    # imported here, not at the top: tests monkeypatch it on its module
    from fedjava.java.localise import review_evidence

    try:
        evidence, outcome = review_evidence(code, task_spec, run_tests, unsafe=unsafe)
    except JdkMissingError as exc:
        raise ToolsUnavailableError(
            f"{exc} (grounded reviews compile the file; the adapter was trained on javac's output)"
        ) from exc
    except RuntimeError as exc:  # the runner could not finish this one program (e.g. its JVM failed to start)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ReviewError(f"the tools failed on this file: {first}") from exc
    tested = task_spec is not None and bool(task_spec.tests) and run_tests
    table = tests_table(task_spec, outcome) if tested else []
    return evidence, (f"compiled and ran {len(task_spec.tests)} test(s)" if tested else "compiled"), table
