"""What an evaluation runs and how: :class:`EvalOptions`, which :func:`fedjava.evaluation.evaluate.run_evaluation`
takes and whose fields are the options of ``fedjava evaluate`` (:mod:`fedjava.cli.options` reads their metadata).

A module of its own, importing nothing, so that the ``fedjava`` parser is built without the evaluation's imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalOptions:
    """One evaluation run. ``adapter``, ``base``, ``majority`` and ``tools_only`` choose what answers (exactly one
    of them); ``fedjava evaluate`` declares them, ``fix_check`` and ``unsafe_run`` itself."""

    adapter: str | None = None
    base: bool = False
    majority: bool = False
    tools_only: str = ""
    """answer with the tools-only rule: "tools" (javac's and the tests' output), "coverage" or "mutants" (also that
    localisation evidence); "" for a model or the majority baseline"""
    few_shot: int = field(
        default=0,
        metadata={"metavar": "K", "help": "prepend K examples from the train split as chat turns (default 0)"},
    )
    split: str = field(default="test", metadata={"help": "split name in data_dir or a file path (default test)"})
    max_samples: int = field(
        default=0, metadata={"metavar": "N", "help": "evaluate a seeded random subset of N samples (default 0: all)"}
    )
    max_new_tokens: int = field(default=384, metadata={"metavar": "N", "help": "answer length cap (384)"})
    batch_size: int = field(
        default=16,
        metadata={"metavar": "N", "help": "rows decoded together (16); the eval loss takes at most 8 at a time"},
    )
    teacher_forced: bool = field(
        default=False,
        metadata={
            "help": "generate nothing: read the model's loss and its decisions (the verdict it ranks first, and whether "
            "the gold error code and line are its first choices) from one teacher-forced pass over the reference "
            "answers, into teacher_forced.json; minutes where generating takes a quarter of an hour, and "
            "measurable for a model that does not yet write valid answers (every generating run measures it too)"
        },
    )
    fix_check: bool = True
    """compile and test each predicted fix (``--no-fix-check`` turns it off)"""
    rescore: bool = field(
        default=False,
        metadata={
            "help": "score the answers of the earlier run with these options again (after a fedjava update changed the "
            "parser or the metrics): nothing is generated, and no model loads unless --verify-fixes samples "
            "fixes"
        },
    )
    verify_fixes: int = field(
        default=0,
        metadata={
            "metavar": "N",
            "help": "check each answer's fix with javac and the task's tests and, where it fails, sample N more fixes "
            "from the model and keep the first that passes; the table shows the first answers' line and fix "
            "check beside the checked ones (default 0: off)",
        },
    )
    unsafe_run: bool = False
    """run the fix check's programs without the sandbox (--unsafe-run)"""
    judge_url: str | None = field(
        default=None,
        metadata={
            "metavar": "URL",
            "help": "optional LLM judge: an OpenAI-compatible API base (e.g. http://localhost:8000/v1) or its full "
            "/chat/completions URL; scores each answer's explanation 0-10",
        },
    )
    judge_model: str | None = field(
        default=None, metadata={"metavar": "NAME", "help": "the judge's model name (needed with --judge-url)"}
    )
    judge_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={
            "metavar": "VAR",
            "help": "environment variable holding the judge's API key, sent as Bearer when set (default OPENAI_API_KEY)",
        },
    )
    judge_timeout: float = field(
        default=60.0,
        metadata={"metavar": "S", "help": "seconds per judge request (60); failures are retried 3 times with backoff"},
    )
    judge_allow_http: bool = field(
        default=False,
        metadata={
            "help": "send the API key over plain http to another machine too (by default it goes only over https or to "
            "this machine: localhost, 127.0.0.0/8, ::1)"
        },
    )
    n_boot: int = field(default=1000, metadata={"cli": False})
    """bootstrap resamples of each metric's 95% interval"""
    jobs: int = field(default=2, metadata={"cli": False})
    """JVMs checking fixes at a time"""
    eval_loss: bool = field(default=True, metadata={"cli": False})
    """also measure the model's loss on the split's gold answers"""
    run: str = field(default="", metadata={"cli": False})
    """the run's name, i.e. its folder under results_dir (default: grader, base, base_fewshotK or majority)"""
