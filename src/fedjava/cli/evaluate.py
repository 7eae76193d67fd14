"""``fedjava evaluate`` and ``fedjava compare``: measure a model on a split, compare the runs of a results folder."""

from __future__ import annotations

import argparse
import sys

from fedjava.cli.common import add_config_args, add_unsafe_run_option, error
from fedjava.cli.options import add_options, options_from
from fedjava.evaluation.options import EvalOptions

EVALUATE_EPILOG = """examples:
  fedjava evaluate --adapter java_error_federated_results/centralized_hf/final_model
  fedjava evaluate --base --config demo_cpu --max-samples 40
  fedjava evaluate --base --few-shot 3 --max-samples 40
  fedjava evaluate --majority
  fedjava evaluate --tools-only                        # what javac and the tests say alone, no model
  fedjava evaluate --tools-only --localisation mutants # ... and the mutants' top line and verified change
  fedjava evaluate --adapter java_error_federated_results/fedavg/final_model \
      --judge-url https://api.openai.com/v1 --judge-model gpt-4o-mini    # key from $OPENAI_API_KEY
"""

# The options whose shape no rule fits: what answers (one of four, and --localisation for --tools-only), a flag that
# sets fix_check False, and --unsafe-run, which several commands share.
HAND_WRITTEN = ("adapter", "base", "majority", "tools_only", "fix_check", "unsafe_run")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` and ``compare`` to the ``fedjava`` sub-commands."""
    evaluate = sub.add_parser(
        "evaluate",
        help="measure an adapter, the base model or a baseline on a split (exact metrics)",
        description="Greedy, batched generation on a split (default test), then exact metrics from the JSON "
        "answers with bootstrap 95%% intervals: valid answers, error detection, verdict macro-F1, "
        "error type/code/line, fix check (needs a JDK), score MAE, a 0-10 grade, eval loss. Writes "
        "predictions.jsonl and metrics.json beside the adapter, or under <results_dir>/base, "
        "base_fewshotK, majority or tools_only.",
        epilog=EVALUATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = evaluate.add_mutually_exclusive_group()
    what.add_argument(
        "--adapter",
        metavar="PATH",
        help="a trained adapter folder (<results_dir>/<method>/final_model), or 'builtin': the grader "
        "shipped with fedjava (the default when none of --adapter, --base, --majority is given)",
    )
    what.add_argument("--base", action="store_true", help="the base model without an adapter")
    what.add_argument("--majority", action="store_true", help="the majority-class baseline (no model)")
    what.add_argument(
        "--tools-only",
        action="store_true",
        help="the tools-only baseline (no model): the answer a rule reads from javac's and the tests' output alone",
    )
    evaluate.add_argument(
        "--localisation",
        choices=["coverage", "mutants"],
        help="with --tools-only: also read that localisation evidence (its top suspicious line for a "
        "logic error; for mutants a change that passes every test, as the fix); run named "
        "coverage_only or mutants_only",
    )
    add_options(evaluate, EvalOptions, hand_written=HAND_WRITTEN)
    evaluate.add_argument("--no-fix-check", action="store_true", help="skip compiling and testing predicted fixes")
    add_unsafe_run_option(evaluate, "the fix check's programs (model output)")
    evaluate.add_argument("--json", action="store_true", help="print metrics.json instead of the table")
    add_config_args(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)
    compare = sub.add_parser(
        "compare",
        help="write report.md and report.html comparing every run in a results folder",
        description="Find every run in RESULTS_DIR (sub-folders with metrics.json from 'fedjava evaluate' "
        "and/or training_history.json) and write report.md, a self-contained report.html and "
        "PNG plots (loss curves, metric bars) there; print the comparison table.",
    )
    compare.add_argument(
        "results_dir",
        nargs="?",
        default=None,
        help="results folder (default: the config's results_dir, java_error_federated_results)",
    )
    compare.add_argument(
        "--publish",
        metavar="DIR",
        help="also copy the report, its plots, experiment.json and each run's metrics and training history (no "
        "adapters or predictions) into DIR, to commit (e.g. docs/results/NAME); DIR must be new, empty or "
        "an earlier publication, which is replaced",
    )
    compare.set_defaults(func=cmd_compare)


def cmd_evaluate(args: argparse.Namespace) -> int:

    from fedjava.config import load_adapter_config
    from fedjava.evaluation.evaluate import adapter_dir, check_options, format_table, run_evaluation

    if args.localisation and not args.tools_only:
        return error("--localisation goes with --tools-only (a grounded model reads the localisation in its prompt)")
    if not (args.adapter or args.base or args.majority or args.tools_only):
        args.adapter = "builtin"
    opts = options_from(
        EvalOptions,
        args,
        tools_only=(args.localisation or "tools") if args.tools_only else "",
        fix_check=not args.no_fix_check,
    )
    check_options(opts)
    # The base model and prompt mode the adapter was trained with, unless --config says otherwise.
    cfg = load_adapter_config(adapter_dir(opts), args.preset, args.overrides)
    metrics, pred_path, metrics_path = run_evaluation(cfg, opts, progress=lambda m: print(m, file=sys.stderr))
    if args.json:
        import json

        print(json.dumps(metrics, indent=1))
    else:
        print(format_table(metrics))
        print("".join(f"\nwrote {p}" for p in (pred_path, metrics_path) if p is not None))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from fedjava.config import Config
    from fedjava.evaluation.compare import write_report

    results = args.results_dir or Config().results_dir
    table, md_path, html_path = write_report(results)
    print(table)
    print(f"\nwrote {md_path}\nwrote {html_path}")
    if args.publish:
        from fedjava.evaluation.publish import publish_report

        written = publish_report(results, args.publish)
        print(f"published {len(written)} files in {args.publish}")
    return 0
