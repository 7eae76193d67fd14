"""``fedjava evaluate``: run a model (or a baseline) on a split and measure it exactly.

Runs:

* ``--adapter PATH``: a trained LoRA adapter (``<results_dir>/<method>/final_model``) on its base model;
  results go beside the adapter, in ``<results_dir>/<method>/``.
* ``--base``: the base model zero-shot, or ``--few-shot K`` with K examples from the train split
  (one per verdict in turn, seeded) given as earlier chat turns; results in
  ``<results_dir>/base/`` or ``<results_dir>/base_fewshotK/``.
* ``--majority``: always answer the train split's most common verdict (with its most common error
  type and code); results in ``<results_dir>/majority/``.
* ``--tools-only``: the answer a rule reads from each sample's tool results alone, no model
  (:mod:`fedjava.evaluation.tools_only`): the floor a model is measured against; results in
  ``<results_dir>/tools_only/`` (``--localisation coverage|mutants``: also from that localisation evidence, in
  ``coverage_only/`` or ``mutants_only/``).

Decoding is greedy and batched. Files written: ``predictions.jsonl`` (one row per sample: gold,
raw prediction, parsed prediction or null, fix check, grade) and ``metrics.json``; for a split other
than ``test`` they are named ``predictions_<split>.jsonl`` and ``metrics_<split>.json``.
The metrics and the 0-10 grading rubric are defined in :mod:`fedjava.evaluation.metrics`. While answers are
generated they are kept in ``predictions.partial.jsonl``, so an interrupted run resumes
(:mod:`fedjava.evaluation.answer_cache`). ``--teacher-forced`` generates nothing: it writes ``teacher_forced.json``,
the loss and the decisions read from one pass over the reference answers (every generating run measures them too).

With ``judge_url`` and ``judge_model`` an OpenAI-compatible LLM judge also scores every answer's
explanation 0-10 (:mod:`fedjava.evaluation.judge`): it is checked once before the model loads, each
row of ``predictions.jsonl`` gets ``"judge": {"score", "rationale"[, "error", "raw"]}`` and
``metrics.json`` gets ``judge_score`` (the mean over the scored samples, interval in ``ci``) and
``judge`` (model, endpoint, mean, interval, scored and not-scored counts).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fedjava.config import Config
from fedjava.errors import UserError
from fedjava.evaluation.answer_cache import AnswerCache, cache_path, prompt_key, weights_digest
from fedjava.evaluation.fixcheck import check_fixes, jdk_available
from fedjava.evaluation.judge import DEFAULT_KEY_ENV, JudgeClient, JudgeSettings, judge_summary
from fedjava.evaluation.metrics import (
    HEADLINE,
    TEACHER_FORCED,
    answer_types,
    compute_metrics,
    grade,
    legacy_metrics,
    teacher_forced_metrics,
)
from fedjava.evaluation.options import EvalOptions
from fedjava.evaluation.parse import parse_answer
from fedjava.evaluation.tools_only import tools_answer
from fedjava.evaluation.verify import STATUSES, VerifyItem, verify_answers
from fedjava.java.evidence import Evidence
from fedjava.java.runner import require_jdk
from fedjava.java.sandbox import require_sandbox
from fedjava.java.tasks import load_tasks, task_for_sample
from fedjava.models import BUILTIN_ADAPTER, ModelLoadError, builtin_adapter_dir, load_adapter
from fedjava.prompts import (
    VERDICTS,
    AnswerOnlyCollator,
    SampleError,
    apply_prompt_mode,
    format_answer,
    load_samples,
    render_prompt,
    split_user_prompt,
    tokenize_samples,
)

log = logging.getLogger("fedjava")


class EvaluationError(UserError, ValueError):
    """A user-fixable problem with an evaluation request (bad option, missing adapter)."""


def adapter_dir(opts: EvalOptions) -> Path | None:
    """The adapter folder to load: ``--adapter builtin`` is the grader shipped in the package."""
    if not opts.adapter:
        return None

    if opts.adapter == BUILTIN_ADAPTER:
        try:
            return builtin_adapter_dir()
        except ModelLoadError as exc:
            raise EvaluationError(str(exc)) from exc
    return Path(opts.adapter)


def _builtin(opts: EvalOptions) -> bool:
    return opts.adapter == BUILTIN_ADAPTER


def run_name(opts: EvalOptions) -> str:
    if opts.run:
        return opts.run
    if opts.majority:
        return "majority"
    if opts.tools_only:
        return "tools_only" if opts.tools_only == "tools" else f"{opts.tools_only}_only"
    if opts.adapter:
        return "grader" if _builtin(opts) else Path(opts.adapter).resolve().parent.name
    return f"base_fewshot{opts.few_shot}" if opts.few_shot else "base"


def output_paths(cfg: Config, opts: EvalOptions) -> tuple[Path, Path]:
    """(predictions file, metrics file) for this run."""
    if opts.adapter and not _builtin(opts):
        folder = Path(opts.adapter).parent
    else:  # the shipped grader's results go to <results_dir>/grader, never into the installed package
        folder = Path(cfg.results_dir) / run_name(opts)
    suffix = "" if opts.split == "test" else f"_{Path(opts.split).stem}"
    if opts.adapter and opts.few_shot:
        suffix += f"_fewshot{opts.few_shot}"
    if opts.teacher_forced:  # beside a generating run's files, never over them
        return folder / f"predictions{suffix}.jsonl", folder / f"teacher_forced{suffix}.json"
    return folder / f"predictions{suffix}.jsonl", folder / f"metrics{suffix}.json"


def check_options(opts: EvalOptions) -> None:
    chosen = sum([bool(opts.adapter), opts.base, opts.majority, bool(opts.tools_only)])
    if chosen != 1:
        raise EvaluationError("choose exactly one of --adapter PATH, --base, --majority or --tools-only")
    if opts.tools_only and opts.tools_only not in TOOLS_ONLY:
        raise EvaluationError(f"--tools-only takes one of {', '.join(TOOLS_ONLY)}, not {opts.tools_only!r}")
    if opts.few_shot < 0 or opts.max_samples < 0:
        raise EvaluationError("--few-shot and --max-samples must be at least 0")
    if opts.few_shot and not model_run(opts):
        raise EvaluationError("--few-shot needs a model; --majority and --tools-only have none")
    if opts.max_new_tokens < 1 or opts.batch_size < 1:
        raise EvaluationError("--max-new-tokens and --batch-size must be at least 1")
    if bool(opts.judge_url) != bool(opts.judge_model):
        raise EvaluationError("--judge-url and --judge-model go together (the endpoint and the judge model's name)")
    if opts.judge_url and opts.judge_timeout <= 0:
        raise EvaluationError("--judge-timeout must be more than 0 seconds")
    if opts.adapter and not (adapter_dir(opts) / "adapter_config.json").is_file():
        raise EvaluationError(
            f"{opts.adapter}: no adapter there (expected adapter_config.json; "
            "trained runs save it in <results_dir>/<method>/final_model)"
        )
    if opts.teacher_forced and not model_run(opts):
        raise EvaluationError("--teacher-forced scores a model; --majority and --tools-only have none")
    if opts.teacher_forced and (opts.rescore or opts.verify_fixes or opts.judge_url or opts.few_shot):
        raise EvaluationError(
            "--teacher-forced generates nothing, so --rescore, --verify-fixes, --judge-url and --few-shot have "
            "nothing to act on"
        )
    if opts.verify_fixes < 0:
        raise EvaluationError("--verify-fixes must be at least 0")
    if opts.verify_fixes and not model_run(opts):
        raise EvaluationError(
            "--verify-fixes needs a model to sample fixes from; --majority and --tools-only have none"
        )
    if opts.verify_fixes:
        if not jdk_available():
            require_jdk()  # JdkMissingError: the fixes cannot be checked without javac and java
    if (opts.fix_check or opts.verify_fixes) and not opts.unsafe_run and not opts.teacher_forced:
        require_fix_check_sandbox()


TOOLS_ONLY = ("tools", "coverage", "mutants")


def model_run(opts: EvalOptions) -> bool:
    """Whether this evaluation runs a model (not a rule: the majority answer or the tools-only rule)."""
    return not (opts.majority or opts.tools_only)


def require_fix_check_sandbox() -> None:
    """Refuse before the model loads when the fix check would run model-written code with no sandbox to
    run it in (without a JDK the check is simply not measured)."""

    if jdk_available():
        require_sandbox()


def split_path(cfg: Config, split: str) -> Path:
    if split.endswith((".json", ".jsonl")) or "/" in split:
        return cfg.data_path(split)
    return cfg.data_path(f"{split}.jsonl")


def subset(samples: list[dict], max_samples: int, seed: int) -> list[dict]:
    """A seeded random subset of ``max_samples`` samples in file order (all when 0 or more than there are)."""
    if not max_samples or max_samples >= len(samples):
        return samples
    keep = sorted(random.Random(seed).sample(range(len(samples)), max_samples))
    return [samples[i] for i in keep]


def majority_answer(train: list[dict]) -> dict[str, Any]:
    """The train split's most common verdict, with its most common error type and code."""
    answers = [a for a in (parse_answer(s["messages"][-1]["content"]) for s in train) if a is not None]
    if not answers:
        return {"verdict": "NO_ERROR", "errors": [], "score": 10}
    verdicts = Counter(a["verdict"] for a in answers)
    verdict = max(VERDICTS, key=lambda v: (verdicts[v], -VERDICTS.index(v)))
    if verdict == "NO_ERROR":
        return {"verdict": verdict, "errors": [], "score": 10}
    kinds = Counter(
        (a["errors"][0]["type"], a["errors"][0]["code"]) for a in answers if a["verdict"] == verdict and a["errors"]
    )
    kind, code = kinds.most_common(1)[0][0] if kinds else ("", "")
    scores = Counter(a["score"] for a in answers if a["verdict"] == verdict)
    error = {"type": kind, "code": code, "line": 0, "message": "", "explanation": "", "fix": ""}
    return {"verdict": verdict, "errors": [error], "score": scores.most_common(1)[0][0]}


def few_shot_examples(train: list[dict], k: int, seed: int) -> list[dict[str, str]]:
    """K train samples as chat turns (user, assistant), one per verdict in turn, seeded."""
    if k <= 0:
        return []
    rng = random.Random(seed)
    by_verdict: dict[str, list[dict]] = {}
    for s in train:
        answer = parse_answer(s["messages"][-1]["content"])
        by_verdict.setdefault(answer["verdict"] if answer else "legacy", []).append(s)
    pools = [rng.sample(v, len(v)) for _, v in sorted(by_verdict.items())]
    chosen: list[dict] = []
    while len(chosen) < k and any(pools):
        for pool in pools:
            if pool and len(chosen) < k:
                chosen.append(pool.pop())
    turns = []
    for s in chosen:
        user = next(m for m in reversed(s["messages"][:-1]) if m["role"] == "user")
        turns += [{"role": "user", "content": user["content"]}, s["messages"][-1]]
    return turns


def prompt_messages(sample: dict, shots: list[dict[str, str]]) -> list[dict[str, str]]:
    messages = sample["messages"][:-1]
    if not shots:
        return messages
    system = [m for m in messages if m["role"] == "system"][:1]
    rest = [m for m in messages if m["role"] != "system"]
    return system + shots + rest


def _loss(
    model, tokenizer, samples: list[dict], cfg: Config, batch_size: int, n_boot: int = 1000
) -> dict[str, Any] | None:
    """The eval loss and perplexity on the reference answers, and (``teacher_forced``) the decisions read from the
    same pass (:func:`~fedjava.evaluation.metrics.teacher_forced_metrics`); None when no sample fits."""
    from fedjava.training import DecisionTally, evaluate_loss

    try:
        features, _ = tokenize_samples(tokenizer, samples, cfg.max_seq_length, name="evaluation split")
    except SampleError as exc:
        log.warning("eval loss not measured: %s", exc)
        return None
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    tally = DecisionTally()
    out: dict[str, Any] = evaluate_loss(model, features, AnswerOnlyCollator(pad), batch_size=batch_size, tally=tally)
    out["teacher_forced"] = (
        teacher_forced_metrics(
            tally.gold, tally.pred, tally.code, tally.line, tally.code_line_verdict, n_boot=n_boot, seed=cfg.seed
        )
        if tally.gold
        else None
    )
    return out


def run_evaluation(
    cfg: Config,
    opts: EvalOptions,
    progress: Callable[[str], None] = print,
    model_and_tokenizer=None,
) -> tuple[dict[str, Any], Path, Path]:
    """Evaluate as ``opts`` says. Returns (metrics, predictions path, metrics path).

    The steps: the samples (and the train split where the baseline or the few-shot examples need it), the answers
    (generated, a baseline's, or an earlier run's with ``--rescore``), one row per sample with its gold answer and
    task, the fix sampling of ``--verify-fixes``, the fix check, the metrics, the LLM judge, and the files.
    """
    check_options(opts)
    path = split_path(cfg, opts.split)
    samples, train = _eval_samples(cfg, opts, path)
    name = run_name(opts)
    if opts.teacher_forced:
        return _teacher_forced_run(cfg, opts, samples, model_and_tokenizer, progress)
    progress(f"Evaluating {name} on {len(samples)} {opts.split} sample(s) ({cfg.prompt_mode} prompts)")
    judge = _start_judge(opts, progress)  # before the expensive part: a judge that cannot work stops here

    got = _answers(cfg, opts, samples, train, path, model_and_tokenizer, progress)
    rows = _rows(samples, got.texts)
    structured = [r for r in rows if r["gold"] is not None]
    verification = None
    if opts.verify_fixes:
        verification = _verify(got.model, got.tokenizer, samples, got.shots, rows, opts, cfg, progress)
    fix_status = _check_fixes(structured, verification is not None, opts, progress)

    metrics: dict[str, Any] = {**_header(cfg, opts, len(samples)), "fix_check": fix_status}
    metrics.update(
        compute_metrics(
            [r["gold"] for r in structured],
            [r["parsed"] for r in structured],
            [r["fix_passed"] for r in structured],
            n_boot=opts.n_boot,
            seed=cfg.seed,
        )
    )
    if verification is not None:
        verification["first_answer"] = _first_answer_metrics(structured, opts, cfg)
    metrics["verification"] = verification
    metrics["legacy"] = _legacy_metrics([r for r in rows if r["gold"] is None])
    metrics.update(_judged(judge, rows, metrics, opts, cfg, progress))
    metrics["eval_loss"] = got.loss["eval_loss"] if got.loss else None
    metrics["eval_perplexity"] = got.loss["eval_perplexity"] if got.loss else None
    metrics["teacher_forced"] = got.loss.get("teacher_forced") if got.loss else None
    metrics["generation_seconds"] = round(got.seconds, 3)
    generated = len(samples) - got.reused
    metrics["seconds_per_sample"] = round(got.seconds / generated, 4) if generated else None
    metrics["answers_resumed"] = got.reused
    written = _write_outputs(cfg, opts, rows, metrics)
    if model_run(opts) and not opts.rescore:
        cache_path(written[0]).unlink(missing_ok=True)  # the answers are in the predictions now
    return (metrics, *written)


def _header(cfg: Config, opts: EvalOptions, n_samples: int) -> dict[str, Any]:
    """What every metrics file starts with: the run, the split, the model and the options."""
    return {
        "run": run_name(opts),
        "split": opts.split,
        "n_samples": n_samples,
        "model_name": cfg.model_name,
        "prompt_mode": cfg.prompt_mode,
        "adapter": str(opts.adapter) if opts.adapter else None,
        "options": asdict(opts),
    }


def _teacher_forced_run(
    cfg: Config, opts: EvalOptions, samples: list[dict], model_and_tokenizer, progress: Callable[[str], None]
) -> tuple[dict[str, Any], None, Path]:
    """``--teacher-forced``: the loss and the decisions from one pass over the reference answers, nothing
    generated. Returns (metrics, None: no predictions, the metrics file)."""
    name = run_name(opts)
    progress(f"Scoring {name} teacher-forced on {len(samples)} {opts.split} sample(s) ({cfg.prompt_mode} prompts)")
    model, tokenizer = _load_model(cfg, opts, model_and_tokenizer)
    start = time.perf_counter()
    loss = _loss(model, tokenizer, samples, cfg, min(opts.batch_size, 8), opts.n_boot)
    if loss is None:
        raise EvaluationError(f"every sample is longer than max_seq_length={cfg.max_seq_length}: nothing to score")
    metrics = {
        **_header(cfg, opts, len(samples)),
        "eval_loss": loss["eval_loss"],
        "eval_perplexity": loss["eval_perplexity"],
        "teacher_forced": loss["teacher_forced"],
        "seconds": round(time.perf_counter() - start, 3),
    }
    out = output_paths(cfg, opts)[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return metrics, None, out


def _eval_samples(cfg: Config, opts: EvalOptions, path: Path) -> tuple[list[dict], list[dict]]:
    """(the samples evaluated, in the run's prompt mode; the train split where the majority baseline or the few-shot
    examples need it, else [])."""
    samples = apply_prompt_mode(
        subset(load_samples(path), opts.max_samples, cfg.seed),
        cfg.prompt_mode,
        name=str(path),
        quote_lines=cfg.quote_lines,
        localisation=cfg.localisation,
    )
    train = load_samples(cfg.data_path(cfg.train_file)) if opts.majority or opts.few_shot else []
    if opts.few_shot:
        train = apply_prompt_mode(
            train,
            cfg.prompt_mode,
            name=str(cfg.data_path(cfg.train_file)),
            quote_lines=cfg.quote_lines,
            localisation=cfg.localisation,
        )
    return samples, train


@dataclass
class _Answers:
    """What the answering step gives: the answer texts, how long they took, the eval loss, and the model with its
    few-shot examples when one was loaded (the fix sampling of ``--verify-fixes`` uses them)."""

    texts: list[str]
    seconds: float
    loss: dict[str, float] | None
    model: Any = None
    tokenizer: Any = None
    shots: list = field(default_factory=list)
    reused: int = 0
    """how many answers an interrupted run had generated (:mod:`fedjava.evaluation.answer_cache`)"""


def _answers(
    cfg: Config,
    opts: EvalOptions,
    samples: list[dict],
    train: list[dict],
    path: Path,
    model_and_tokenizer,
    progress: Callable[[str], None],
) -> _Answers:
    """The answer of each sample: an earlier run's (``--rescore``), a baseline's, or the model's, generated."""
    loss = None
    start = time.perf_counter()
    model = tokenizer = None
    reused = 0
    if opts.rescore:
        texts, seconds, loss = _earlier_answers(cfg, opts, samples)  # checked before any model loads
    if model_run(opts) and (not opts.rescore or opts.verify_fixes):
        model, tokenizer = _load_model(cfg, opts, model_and_tokenizer)
    shots = few_shot_examples(train, opts.few_shot, cfg.seed) if model is not None else []
    if opts.majority and not opts.rescore:
        texts = [format_answer(majority_answer(train))] * len(samples)
    elif opts.tools_only and not opts.rescore:
        texts = [format_answer(_tools_answer(sample, path, opts.tools_only)) for sample in samples]
    elif not opts.rescore:
        prompts = [render_prompt(tokenizer, prompt_messages(s, shots)) for s in samples]
        start = time.perf_counter()
        texts, reused = _generated(cfg, opts, model, tokenizer, prompts, model_and_tokenizer is None, progress)
    if not opts.rescore:
        seconds = time.perf_counter() - start
    if model_run(opts) and not opts.rescore and opts.eval_loss:
        loss = _loss(model, tokenizer, samples, cfg, min(opts.batch_size, 8), opts.n_boot)
    return _Answers(texts, seconds, loss, model, tokenizer, shots, reused)


def _generated(
    cfg: Config,
    opts: EvalOptions,
    model,
    tokenizer,
    prompts: list[str],
    resumable: bool,
    progress: Callable[[str], None],
) -> tuple[list[str], int]:
    """The model's answers to ``prompts`` and how many of them an interrupted run had already generated.

    Each answer is kept in :func:`~fedjava.evaluation.answer_cache.cache_path` as it is generated, so a run that
    is stopped resumes there (``resumable``: the model was loaded from ``opts``, so its fingerprint is known)."""
    from fedjava.evaluation.generate import generate_answers

    cache = None
    kept: dict[str, str] = {}
    if resumable:
        cache = AnswerCache(cache_path(output_paths(cfg, opts)[0]), _fingerprint(cfg, opts))
        kept, said = cache.load()
        if said:
            progress(f"  {said}")
    todo = [i for i, p in enumerate(prompts) if prompt_key(p) not in kept]
    texts = [kept.get(prompt_key(p), "") for p in prompts]
    try:
        fresh = generate_answers(
            model,
            tokenizer,
            [prompts[i] for i in todo],
            opts.max_new_tokens,
            opts.batch_size,
            progress=lambda done, total: progress(f"  generated {done + len(prompts) - len(todo)}/{len(prompts)}"),
            on_answer=(lambda k, text: cache.add(prompts[todo[k]], text)) if cache is not None else None,
        )
    finally:
        if cache is not None:
            cache.close()
    for i, text in zip(todo, fresh, strict=True):
        texts[i] = text
    return texts, len(prompts) - len(todo)


def _fingerprint(cfg: Config, opts: EvalOptions) -> dict[str, Any]:
    """What decides the answers besides the prompt: the model, its adapter's weights and the generation settings."""
    return {
        "model_name": cfg.model_name,
        "use_4bit": cfg.use_4bit,
        "precision": cfg.precision,
        "adapter": weights_digest(adapter_dir(opts)),
        "max_new_tokens": opts.max_new_tokens,
    }


def _rows(samples: list[dict], texts: list[str]) -> list[dict[str, Any]]:
    """One row per sample: its task (and the task's tests, for the fix check), code, gold answer and prediction."""

    catalogue = {t.id: t for t in load_tasks()}
    rows = []
    for i, (sample, text) in enumerate(zip(samples, texts, strict=True)):
        gold_text = sample["messages"][-1]["content"]
        user = next(m for m in reversed(sample["messages"][:-1]) if m["role"] == "user")["content"]
        task, code = split_user_prompt(user)
        rows.append(
            {
                "task_spec": task_for_sample(sample.get("meta"), task, catalogue),
                "index": i,
                "task_id": (sample.get("meta") or {}).get("task_id", ""),
                "meta": sample.get("meta"),
                "task": task,
                "code": code,
                "gold_text": gold_text,
                "gold": parse_answer(gold_text),
                "prediction": text,
                "parsed": parse_answer(text),
            }
        )
    return rows


def _check_fixes(structured: list[dict], verified: bool, opts: EvalOptions, progress: Callable[[str], None]) -> str:
    """Run each answer's fix (and, after ``--verify-fixes``, the first answer's too) against the task's tests; set
    each row's ``fix_passed`` and ``grade``. Returns what the metrics say of the fix check."""
    fix_status = "off"
    if opts.fix_check and structured:
        targets = [r for r in structured if r["gold"]["errors"]]
        if jdk_available():
            progress(f"  fix check: {len(targets)} program(s) with an error")
            fix_status = "measured"
        else:
            fix_status = "not measured (no JDK)"
        results = check_fixes(
            [(r["task_spec"], r["code"], r["parsed"]) for r in targets], jobs=opts.jobs, unsafe=opts.unsafe_run
        )
        for r, ok in zip(targets, results, strict=True):
            r["fix_passed"] = ok
        if verified:
            first = check_fixes(
                [(r["task_spec"], r["code"], r["parsed_first"]) for r in targets],
                jobs=opts.jobs,
                unsafe=opts.unsafe_run,
            )
            for r, ok in zip(targets, first, strict=True):
                r["fix_passed_first"] = ok
        if fix_status == "measured" and targets and all(ok is None for ok in results):
            fix_status = (
                "not measured (the samples' tasks are not in the task catalogue and carry no tests of "
                "their own, meta.tests)"
            )
    for r in structured:
        r.setdefault("fix_passed", None)
        r["grade"] = grade(r["gold"], r["parsed"], r["fix_passed"] if r["gold"]["errors"] else None)
    return fix_status


def _first_answer_metrics(structured: list[dict], opts: EvalOptions, cfg: Config) -> dict[str, Any]:
    """The first (greedy) answers' metrics, beside the checked ones of ``--verify-fixes``."""
    first = compute_metrics(
        [r["gold"] for r in structured],
        [r["parsed_first"] for r in structured],
        [r.get("fix_passed_first") for r in structured],
        n_boot=opts.n_boot,
        seed=cfg.seed,
    )
    out = {k: first[k] for k in FIRST_ANSWER_KEYS}
    out["ci"] = {k: (first.get("ci") or {}).get(k) for k in FIRST_ANSWER_KEYS}
    out["by_verdict"] = first.get("by_verdict")
    return out


def _legacy_metrics(legacy: list[dict]) -> dict[str, Any] | None:
    """The error-type metrics of the rows whose gold answer is in the legacy grading format (None: no such row)."""
    if not legacy:
        return None
    gold_types, pred_types = [], []
    for r in legacy:
        g = answer_types(r["gold_text"])
        r["legacy_gold_types"] = g
        r["legacy_pred_types"] = answer_types(r["prediction"], r["parsed"])
        if g is not None:
            gold_types.append(g)
            pred_types.append(r["legacy_pred_types"])
    out = legacy_metrics(gold_types, pred_types)
    out["unparsed_gold"] = len(legacy) - len(gold_types)
    return out


def _judged(
    judge, rows: list[dict], metrics: dict[str, Any], opts: EvalOptions, cfg: Config, progress: Callable[[str], None]
) -> dict[str, Any]:
    """The LLM judge's keys of the metrics (None without ``--judge-url``); each row gets its judgement."""
    if judge is None:
        return {"judge_score": None, "judge": None}

    progress(f"  judging {len(rows)} answer(s) with {opts.judge_model}")
    results = judge.judge_all(
        [(r["task"], r["code"], r["gold"], r["gold_text"], r["prediction"]) for r in rows],
        progress=lambda done, total: progress(f"  judged {done}/{total}"),
    )
    for r, result in zip(rows, results, strict=True):
        r["judge"] = result.as_dict()
    summary = judge_summary(results, opts.n_boot, cfg.seed)
    if summary["not_scored"]:
        reasons = Counter(r.error for r in results if r.score is None)
        log.warning(
            "judge: %d of %d answer(s) not scored: %s",
            summary["not_scored"],
            len(results),
            "; ".join(f"{reason} (x{count})" for reason, count in reasons.most_common(3)),
        )
    metrics.setdefault("ci", {})["judge_score"] = summary["ci"]
    return {"judge_score": summary["mean"], "judge": {"model": opts.judge_model, "url": judge.url, **summary}}


def _write_outputs(cfg: Config, opts: EvalOptions, rows: list[dict], metrics: dict[str, Any]) -> tuple[Path, Path]:
    """Write predictions.jsonl (one row per sample, without its code and task) and metrics.json; their paths."""
    pred_path, metrics_path = output_paths(cfg, opts)
    pred_path.parent.mkdir(parents=True, exist_ok=True)
    with pred_path.open("w", encoding="utf-8") as fh:
        for r in rows:
            r = {k: v for k, v in r.items() if k not in ("code", "task", "task_spec")}
            r["valid"] = r["parsed"] is not None
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    metrics_path.write_text(json.dumps(metrics, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return pred_path, metrics_path


def _tools_answer(sample: dict, path: Path, localisation: str) -> dict[str, Any]:
    """The tools-only rule's answer for one sample, from its ``meta.evidence``."""

    block = (sample.get("meta") or {}).get("evidence")
    if not isinstance(block, str):
        raise EvaluationError(
            f"{path}: --tools-only reads each sample's tool results (meta.evidence, written by "
            "fedjava data build), and a sample has none"
        )
    user = next(m for m in reversed(sample["messages"][:-1]) if m["role"] == "user")["content"]
    return tools_answer(
        Evidence.parse(block), split_user_prompt(user)[1], "" if localisation == "tools" else localisation
    )


FIRST_ANSWER_KEYS = ("line_exact", "line_within_one", "fix_pass_rate", "grade")


def _load_model(cfg: Config, opts: EvalOptions, model_and_tokenizer=None):
    if model_and_tokenizer is not None:
        return model_and_tokenizer
    if opts.adapter:
        return load_adapter(adapter_dir(opts), cfg, merge=True)
    # imported here, not at the top: tests monkeypatch it on its module
    from fedjava.models import load_base_model

    return load_base_model(cfg)


def _verify(
    model,
    tokenizer,
    samples: list[dict],
    shots: list[dict[str, str]],
    rows: list[dict],
    opts: EvalOptions,
    cfg: Config,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Check every answer's fix and sample others where it fails (:mod:`fedjava.evaluation.verify`): each row's
    ``parsed`` becomes the checked answer, ``parsed_first`` keeps the model's first one, and ``verification`` says
    what happened. Returns the summary for metrics.json (``first_answer`` is added once the fix check ran)."""

    items = [
        VerifyItem(
            r["task_spec"],
            r["code"],
            render_prompt(tokenizer, prompt_messages(s, shots)),
            r["prediction"],
            r["parsed"],
            (r["meta"] or {}).get("evidence"),
        )
        for s, r in zip(samples, rows, strict=True)
    ]
    progress(
        f"  checking fixes: {sum(bool((i.answer or {}).get('errors')) for i in items)} answer(s) with an "
        f"error; up to {opts.verify_fixes} more fixes sampled where the first fails"
    )
    started = time.perf_counter()
    results = verify_answers(
        model,
        tokenizer,
        items,
        samples=opts.verify_fixes,
        seed=cfg.seed,
        jobs=opts.jobs,
        unsafe=opts.unsafe_run,
        progress=lambda done, total: (
            progress(f"  sampled fixes {done}/{total}") if done % 10 == 0 or done == total else None
        ),
    )
    for r, v in zip(rows, results, strict=True):
        r["parsed_first"] = r["parsed"]
        r["parsed"] = v.answer
        r["verification"] = v.as_dict()
    counts = Counter(v.status for v in results)
    return {
        "samples": opts.verify_fixes,
        "statuses": {k: counts[k] for k in STATUSES},
        "programs": sum(v.programs for v in results),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _earlier_answers(cfg: Config, opts: EvalOptions, samples: list[dict]) -> tuple[list[str], float, dict | None]:
    """(the answers, generation seconds, loss) of the earlier run ``--rescore`` scores again; EvaluationError when
    there is none or it was made on other samples."""
    pred_path, metrics_path = output_paths(cfg, opts)
    if not pred_path.is_file() or not metrics_path.is_file():
        raise EvaluationError(f"--rescore: no earlier run to score again ({pred_path} and {metrics_path.name})")
    rows = [json.loads(line) for line in pred_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = [(s.get("meta") or {}).get("task_id", "") for s in samples]
    if len(rows) != len(samples) or [r.get("task_id", "") for r in rows] != ids:
        raise EvaluationError(
            f"--rescore: {pred_path} holds {len(rows)} answers to other samples than these "
            f"{len(samples)} (same --split, --max-samples and seed are needed)"
        )
    old = json.loads(metrics_path.read_text(encoding="utf-8"))
    loss = (
        {"eval_loss": old["eval_loss"], "eval_perplexity": old.get("eval_perplexity")}
        if old.get("eval_loss") is not None
        else None
    )
    return [r["prediction"] for r in rows], float(old.get("generation_seconds") or 0.0), loss


def _start_judge(opts: EvalOptions, progress: Callable[[str], None]):
    """The judge client, checked with one request (JudgeError when it cannot be used); None without a judge."""
    if not opts.judge_url:
        return None
    import os

    if opts.judge_key_env != DEFAULT_KEY_ENV and not os.environ.get(opts.judge_key_env):
        log.warning("judge: $%s is not set; sending no API key", opts.judge_key_env)
    client = JudgeClient(
        JudgeSettings(
            opts.judge_url,
            str(opts.judge_model),
            opts.judge_key_env,
            opts.judge_timeout,
            allow_http=opts.judge_allow_http,
        )
    )
    progress(f"Checking the judge {opts.judge_model} at {client.url}")
    client.check()
    return client


LABELS = {
    "valid_rate": "valid answers",
    "repaired_rate": "  of them repaired",
    "detection_accuracy": "detection accuracy",
    "detection_precision": "detection precision",
    "detection_recall": "detection recall",
    "detection_f1": "detection F1",
    "false_alarm_rate": "false-alarm rate",
    "verdict_macro_f1": "verdict macro-F1",
    "type_accuracy": "error type accuracy",
    "code_accuracy": "error code accuracy",
    "line_exact": "line exact",
    "line_within_one": "line within one",
    "fix_pass_rate": "fix check pass rate",
    "score_mae": "score MAE",
    "grade": "grade (0-10)",
    "judge_score": "judge score (0-10)",
}
FIRST_ANSWER_NOTE = {"line_exact", "line_within_one", "fix_pass_rate", "grade"}


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def format_table(metrics: dict[str, Any]) -> str:
    """The metrics as an aligned text table with 95% intervals."""
    lines = [f"{metrics['run']} on {metrics['split']} ({metrics['n_samples']} samples)", ""]
    width = max(len(v) for v in LABELS.values()) + 2
    ci = metrics.get("ci") or {}
    if metrics.get("n"):
        for key in HEADLINE:
            value = metrics.get(key)
            note = ""
            if key == "fix_pass_rate" and value is None:
                note = f"  ({metrics.get('fix_check')})"
            interval = ci.get(key)
            ci_text = f"  [{interval[0]:.3f}, {interval[1]:.3f}]" if interval and value is not None else ""
            first = (metrics.get("verification") or {}).get("first_answer") or {}
            if key in FIRST_ANSWER_NOTE and key in first:
                note += f"  (first answers: {_fmt(first[key])})"
            lines.append(f"{LABELS[key]:<{width}}{_fmt(value):>8}{ci_text}{note}")
    for verdict, row in (metrics.get("by_verdict") or {}).items():
        fix = f", fix {row['fix_pass_rate']:.3f}" if row.get("fix_pass_rate") is not None else ""
        lines.append(
            f"  {verdict} ({row['n']}): recall {row['verdict_recall']:.3f}, code {row['code_accuracy']:.3f}, "
            f"line {row['line_exact']:.3f} (within one {row['line_within_one']:.3f}){fix}"
        )
    judge = metrics.get("judge")
    if judge:
        interval = judge.get("ci")
        ci_text = f"  [{interval[0]:.3f}, {interval[1]:.3f}]" if interval and judge.get("mean") is not None else ""
        lines.append(
            f"{LABELS['judge_score']:<{width}}{_fmt(judge.get('mean')):>8}{ci_text}  "
            f"({judge['scored']} scored, {judge['not_scored']} not scored; judge {judge['model']})"
        )
    verification = metrics.get("verification")
    if verification:
        st = verification["statuses"]
        lines.append(
            f"checked fixes: {st['first']} first fix passed, {st['sampled']} passed with a sampled fix "
            f"({verification['samples']} sampled per failed fix), {st['failed']} failed, "
            f"{st['no_fix']} without a fix; {verification['programs']} programs, "
            f"{verification['seconds']:.0f} s"
        )
    legacy = metrics.get("legacy")
    if legacy:
        lines.append(f"legacy samples: {legacy['n']}")
        for key in ("error_count_accuracy", "error_type_precision", "error_type_recall"):
            lines.append(f"{key.replace('_', ' '):<{width}}{_fmt(legacy[key]):>8}")
    lines += format_teacher_forced(metrics.get("teacher_forced"), width)
    for key in ("eval_loss", "eval_perplexity", "seconds_per_sample"):
        if key in metrics:
            lines.append(f"{key.replace('_', ' '):<{width}}{_fmt(metrics.get(key)):>8}")
    return "\n".join(lines)


def format_teacher_forced(forced: dict[str, Any] | None, width: int = 24) -> list[str]:
    """The teacher-forced decisions as table lines, with their intervals (none when not measured)."""
    if not forced:
        return []
    lines = [f"teacher-forced, on the reference answers ({forced['n']} samples):"]
    label = max(width - 2, *(len(k) + 2 for k in TEACHER_FORCED))
    for key in TEACHER_FORCED:
        value, interval = forced.get(key), (forced.get("ci") or {}).get(key)
        ci_text = f"  [{interval[0]:.3f}, {interval[1]:.3f}]" if interval and value is not None else ""
        lines.append(f"  {key.replace('_', ' '):<{label}}{_fmt(value):>8}{ci_text}")
    return lines
