"""The ``fedjava`` command. Heavy imports (torch, transformers, flwr) live inside the commands so
``--help`` is instant. Errors a user can cause end with one clear sentence and exit code 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from fedjava.cli_args import (
    add_config_args,
    add_federation_args,
    add_run_folder_args,
    federated_config,
    preset_and_overrides,
)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C

TRAIN_EPILOG = """examples:
  fedjava train --framework hf --config demo_cpu
  fedjava train --framework hf model_name=/models/Qwen3-8B-Base num_epochs=3 learning_rate=1e-4
  fedjava train --framework unsloth --config centralized_qwen3_8b use_4bit=true
  fedjava train --config demo_cpu --resume          # continue from the last checkpoint in the output folder
"""

FEDERATE_EPILOG = """examples:
  fedjava data split --clients 2                      # first: data/client_0.json, client_1.json, valid.json
  fedjava federate --algorithm fedavg --clients 2 --rounds 3
  fedjava federate --algorithm fedprox --clients 4 --rounds 5 --local-epochs 2 fedprox_mu=0.1
  fedjava federate --algorithm fedadam --config demo_cpu fedadam_eta=0.02
  fedjava federate --algorithm fedadam --rounds 5 --resume   # continue after the last completed round
"""

CONFIG_EPILOG = """examples:
  fedjava config show demo_cpu learning_rate=5e-5
  fedjava config check centralized_qwen3_8b
  fedjava config keys
"""


def build_parser() -> argparse.ArgumentParser:
    from fedjava.javadata.sandbox import add_unsafe_run_option

    parser = argparse.ArgumentParser(
        prog="fedjava",
        description="Fine-tune an LLM with LoRA into a Java code error evaluator, centrally or federated.",
        epilog="Run 'fedjava COMMAND --help' for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="centralized LoRA fine-tuning (HF Trainer or Unsloth)",
                           description="Centralized LoRA fine-tuning on data/train.jsonl, evaluated on data/valid.jsonl.",
                           epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--framework", choices=["hf", "unsloth"], default="hf",
                       help="hf: transformers Trainer + PEFT (CPU or GPU); unsloth: Unsloth (NVIDIA GPU only)")
    add_run_folder_args(train, "last checkpoint")
    add_config_args(train)
    train.set_defaults(func=cmd_train)

    federate = sub.add_parser(
        "federate", help="federated LoRA fine-tuning on Flower (simulation, clients in parallel)",
        description="Federated LoRA fine-tuning: client i trains on data/client_i.json, the server aggregates "
                    "with the chosen algorithm and evaluates on data/valid.json after every round. Outputs go to "
                    "<results_dir>/<algorithm>/.",
        epilog=FEDERATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_federation_args(federate)
    federate.set_defaults(func=cmd_federate)

    evaluate = sub.add_parser(
        "evaluate", help="measure an adapter, the base model or a baseline on a split (exact metrics)",
        description="Greedy, batched generation on a split (default test), then exact metrics from the JSON "
                    "answers with bootstrap 95%% intervals: valid answers, error detection, verdict macro-F1, "
                    "error type/code/line, fix check (needs a JDK), score MAE, a 0-10 grade, eval loss. Writes "
                    "predictions.jsonl and metrics.json beside the adapter, or under <results_dir>/base, "
                    "base_fewshotK, majority or tools_only.",
        epilog=EVALUATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = evaluate.add_mutually_exclusive_group()
    what.add_argument("--adapter", metavar="PATH",
                      help="a trained adapter folder (<results_dir>/<method>/final_model), or 'builtin': the grader "
                           "shipped with fedjava (the default when none of --adapter, --base, --majority is given)")
    what.add_argument("--base", action="store_true", help="the base model without an adapter")
    what.add_argument("--majority", action="store_true", help="the majority-class baseline (no model)")
    what.add_argument("--tools-only", action="store_true",
                      help="the tools-only baseline (no model): the answer a rule reads from javac's and the tests' "
                           "output alone")
    evaluate.add_argument("--localisation", choices=["coverage", "mutants"],
                          help="with --tools-only: also read that localisation evidence (its top suspicious line for a "
                               "logic error; for mutants a change that passes every test, as the fix); run named "
                               "coverage_only or mutants_only")
    evaluate.add_argument("--few-shot", type=int, default=0, metavar="K",
                          help="prepend K examples from the train split as chat turns (default 0)")
    evaluate.add_argument("--split", default="test", help="split name in data_dir or a file path (default test)")
    evaluate.add_argument("--max-samples", type=int, default=0, metavar="N",
                          help="evaluate a seeded random subset of N samples (default 0: all)")
    evaluate.add_argument("--max-new-tokens", type=int, default=384, metavar="N", help="answer length cap (384)")
    evaluate.add_argument("--batch-size", type=int, default=16, metavar="N",
                          help="rows decoded together (16); the eval loss takes at most 8 at a time")
    evaluate.add_argument("--no-fix-check", action="store_true", help="skip compiling and testing predicted fixes")
    evaluate.add_argument("--rescore", action="store_true",
                          help="score the answers of the earlier run with these options again (after a fedjava "
                               "update changed the parser or the metrics): nothing is generated, and no model loads "
                               "unless --verify-fixes samples fixes")
    evaluate.add_argument("--verify-fixes", type=int, default=0, metavar="N",
                          help="check each answer's fix with javac and the task's tests and, where it fails, sample N "
                               "more fixes from the model and keep the first that passes; the table shows the first "
                               "answers' line and fix check beside the checked ones (default 0: off)")
    add_unsafe_run_option(evaluate, "the fix check's programs (model output)")
    evaluate.add_argument("--json", action="store_true", help="print metrics.json instead of the table")
    evaluate.add_argument("--judge-url", metavar="URL",
                          help="optional LLM judge: an OpenAI-compatible API base (e.g. http://localhost:8000/v1) "
                               "or its full /chat/completions URL; scores each answer's explanation 0-10")
    evaluate.add_argument("--judge-model", metavar="NAME", help="the judge's model name (needed with --judge-url)")
    evaluate.add_argument("--judge-key-env", metavar="VAR", default="OPENAI_API_KEY",
                          help="environment variable holding the judge's API key, sent as Bearer when set "
                               "(default OPENAI_API_KEY)")
    evaluate.add_argument("--judge-timeout", type=float, default=60.0, metavar="S",
                          help="seconds per judge request (60); failures are retried 3 times with backoff")
    evaluate.add_argument("--judge-allow-http", action="store_true",
                          help="send the API key over plain http to another machine too (by default it goes only "
                               "over https or to this machine: localhost, 127.0.0.0/8, ::1)")
    add_config_args(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    compare = sub.add_parser(
        "compare", help="write report.md and report.html comparing every run in a results folder",
        description="Find every run in RESULTS_DIR (sub-folders with metrics.json from 'fedjava evaluate' "
                    "and/or training_history.json) and write report.md, a self-contained report.html and "
                    "PNG plots (loss curves, metric bars) there; print the comparison table.")
    compare.add_argument("results_dir", nargs="?", default=None,
                         help="results folder (default: the config's results_dir, java_error_federated_results)")
    compare.set_defaults(func=cmd_compare)

    from fedjava.review import add_review_parser

    add_review_parser(sub)  # fedjava review FILE.java --adapter PATH (src/fedjava/review.py)
    from fedjava.grading.command import add_grade_parser

    add_grade_parser(sub)  # fedjava grade SUBMISSIONS --task TASK (src/fedjava/grading/)
    from fedjava.serve import add_serve_parser

    add_serve_parser(sub)  # fedjava serve: the local web page (src/fedjava/serve.py)
    from fedjava.javadata.taskcheck import add_task_parser

    add_task_parser(sub)  # fedjava task check TASK: the task's tests against its model solution (src/fedjava/javadata/)
    from fedjava.export import add_export_parser

    add_export_parser(sub)  # fedjava export: the merged model for plain transformers (src/fedjava/export.py)

    config = sub.add_parser("config", help="show or check a configuration without loading a model",
                            epilog=CONFIG_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    show = config_sub.add_parser("show", help="print the resolved configuration as YAML")
    add_config_args(show, positional_preset=True)
    show.set_defaults(func=cmd_config_show)
    check = config_sub.add_parser("check", help="validate a configuration (exit 2 listing every problem)")
    add_config_args(check, positional_preset=True)
    check.set_defaults(func=cmd_config_check)
    keys = config_sub.add_parser("keys", help="list every key with its default and meaning")
    keys.set_defaults(func=cmd_config_keys)
    presets = config_sub.add_parser("presets", help="list the shipped presets")
    presets.set_defaults(func=cmd_config_presets)
    config.set_defaults(func=lambda args: (config.print_help(), 0)[1])

    data = sub.add_parser("data", help="build the Java error dataset, split it into clients, import grading data",
                          epilog=DATA_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION")
    build = data_sub.add_parser(
        "build", help="rebuild data/train|valid|test.jsonl and DATASET.md from the tasks with javac and java",
        description="Make correct programs and mutants of every task, label each with what javac and the JVM "
                    "report, split by task 80/10/10 and write data/train.jsonl, valid.jsonl, test.jsonl and "
                    "DATASET.md. The same seed gives byte-identical files. Needs a JDK (17 or newer).")
    build.add_argument("--seed", type=int, default=0, help="random seed (default 0, the shipped data)")
    build.add_argument("--jobs", type=int, default=2, help="JVMs compiling and running at a time (default 2)")
    build.add_argument("--out", default="data", help="output folder (default data)")
    build.add_argument("--force", action="store_true",
                       help="replace the dataset the output folder holds (train/valid/test.jsonl, DATASET.md)")
    build.add_argument("--correct-per-task", type=int, default=8, help="NO_ERROR samples per task (default 8)")
    build.add_argument("--errors-per-family", type=int, default=6,
                       help="samples per task from each mutation family: syntax, compile, runtime, logic (default 6)")
    build.add_argument("--max-tasks", type=int, default=0, help="use only the first N tasks (quick check)")
    build.add_argument("--tasks-dir", default=None, help="folder of task YAML files (default: the shipped tasks)")
    add_unsafe_run_option(build, "the tasks' programs and mutants")
    build.set_defaults(func=cmd_data_build)
    split = data_sub.add_parser("split", help="write data/client_0.json ... and data/valid.json for N clients")
    split.add_argument("--clients", type=int, default=2, help="number of clients, 1 to 64 (default 2)")
    split.add_argument("--partition", choices=["iid", "dirichlet", "task", "quantity"], default="iid",
                       help="iid: equal random shares; dirichlet: skewed error families; task: each client "
                            "its own tasks; quantity: skewed client sizes (default iid)")
    split.add_argument("--alpha", type=float, default=0.5, help="Dirichlet concentration; smaller = more skew")
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--data-dir", default="data", help="folder with train.jsonl and valid.jsonl")
    split.add_argument("--train-file", default="train.jsonl")
    split.add_argument("--valid-file", default="valid.jsonl")
    split.add_argument("--force", action="store_true",
                       help="replace an earlier split in --data-dir (client_*.json, valid.json, clients.json)")
    split.set_defaults(func=cmd_data_split)
    imp = data_sub.add_parser("import", help="convert legacy, chat or alpaca data into the training form")
    imp.add_argument("file", help="JSON or JSONL file to convert")
    imp.add_argument("--format", dest="fmt", choices=["auto", "legacy", "chat", "alpaca"], default="auto")
    imp.add_argument("--on-error", choices=["skip", "stop"], default="skip",
                     help="skip bad rows (each is reported) or stop at the first")
    imp.add_argument("--out", default="data/imported.jsonl", help="output file (.jsonl or .json)")
    imp.add_argument("--force", action="store_true", help="replace --out when it exists")
    imp.set_defaults(func=cmd_data_import)
    loc = data_sub.add_parser(
        "localise", help="add localisation evidence (suspicious lines, a verified change) to sample files",
        description="For every sample whose program compiles and fails a test, run the localisation tools "
                    "(per-test line coverage and mutants, in the sandbox) and add their lines to meta.evidence; the "
                    "files are rewritten in place. fedjava data build already does this.")
    loc.add_argument("files", nargs="+", metavar="FILE", help="sample files (.jsonl or .json)")
    loc.add_argument("--jobs", type=int, default=2, help="JVMs at a time (default 2)")
    loc.add_argument("--max-mutants", type=int, default=40, metavar="N", help="mutants per program (default 40)")
    add_unsafe_run_option(loc, "the samples' programs and their mutants")
    loc.set_defaults(func=cmd_data_localise)
    experiment = sub.add_parser(
        "experiment", help="the main job: data, centralized and federated training, evaluation, report",
        description="Run an experiment preset (configs/experiments/NAME.yaml) end to end: seeded data subsets "
                    "and client shards, centralized and federated training on the same samples, evaluation of "
                    "every model and the baselines on the same test samples, then report.md/report.html. "
                    "Stages already done with the same settings are skipped.",
        epilog=EXPERIMENT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    experiment.add_argument("--preset", help="experiment preset name or YAML path (see --list)")
    experiment.add_argument("--list", action="store_true", help="list the experiment presets and exit")
    experiment.add_argument("--force", action="store_true", help="redo stages that are already done")
    experiment.add_argument("--only", metavar="STAGES",
                            help="comma-separated stages to run: data,train,evaluate,report (default: all)")
    experiment.add_argument("--data-dir", default="data", metavar="DIR",
                            help="where train/valid/test.jsonl are read from (default data)")
    add_unsafe_run_option(experiment, "the fix check's programs (model output)")
    experiment.add_argument("settings", nargs="*", metavar="key=value",
                            help="experiment keys (test_samples=20, algorithms=fedavg,fedprox) or training-config "
                                 "keys for every run (learning_rate=1e-4)")
    experiment.set_defaults(func=cmd_experiment)

    data.set_defaults(func=lambda args: (data.print_help(), 0)[1])
    from fedjava.deploy_cli import register as register_deployment

    register_deployment(sub)  # server, client, certs (distributed mode)
    return parser


DATA_EPILOG = """examples:
  fedjava data build --seed 0 --jobs 2                # rebuild data/*.jsonl with javac and java (a few minutes)
  fedjava data split --clients 2                      # the guide's 50/50 split
  fedjava data split --clients 4 --partition dirichlet --alpha 0.3
  fedjava data import legacy_grading.jsonl --format legacy --out data/legacy.jsonl
  fedjava data split --clients 4 --force              # replace an earlier split
  fedjava data localise data/handwritten/novices.jsonl   # add suspicious lines and verified changes
"""


EXPERIMENT_EPILOG = """examples:
  fedjava experiment --preset demo_cpu                 # what make demo runs (about 15 minutes on 2 CPU cores)
  fedjava experiment --preset demo_cpu test_samples=40 max_new_tokens=256
  fedjava experiment --preset qwen3_8b_gpu model_name=/models/Qwen3-8B-Base
  fedjava experiment --preset demo_cpu --only evaluate,report --force
  fedjava experiment --list
"""


def cmd_experiment(args: argparse.Namespace) -> int:
    from fedjava.experiment import list_experiments, load_experiment, run_experiment

    if args.list:
        from fedjava.config import ConfigError, read_yaml_mapping

        for path in list_experiments():
            try:
                description = read_yaml_mapping(path).get("description", "")
            except ConfigError as exc:
                description = f"(cannot be read: {exc.problems[0]})"
            print(f"{path.stem:20s} {description}")
        return 0
    if not args.preset:
        return _error("give --preset NAME (fedjava experiment --list shows them)")
    exp = load_experiment(args.preset, args.settings)
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    run_experiment(exp, source_dir=args.data_dir, force=args.force, only=only, unsafe_run=args.unsafe_run)
    return 0


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


def cmd_evaluate(args: argparse.Namespace) -> int:

    from fedjava.config import load_adapter_config
    from fedjava.evaluation.evaluate import EvalOptions, adapter_dir, check_options, format_table, run_evaluation

    if args.localisation and not args.tools_only:
        return _error("--localisation goes with --tools-only (a grounded model reads the localisation in its prompt)")
    if not (args.adapter or args.base or args.majority or args.tools_only):
        args.adapter = "builtin"
    opts = EvalOptions(
        adapter=args.adapter, base=args.base, majority=args.majority, tools_only=(args.localisation or "tools") if args.tools_only else "",
        few_shot=args.few_shot, split=args.split,
        max_samples=args.max_samples, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
        fix_check=not args.no_fix_check, unsafe_run=args.unsafe_run, judge_url=args.judge_url,
        judge_model=args.judge_model, judge_key_env=args.judge_key_env, judge_timeout=args.judge_timeout,
        judge_allow_http=args.judge_allow_http, rescore=args.rescore, verify_fixes=args.verify_fixes,
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
        print(f"\nwrote {pred_path}\nwrote {metrics_path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from fedjava.config import Config
    from fedjava.evaluation.compare import write_report

    table, md_path, html_path = write_report(args.results_dir or Config().results_dir)
    print(table)
    print(f"\nwrote {md_path}\nwrote {html_path}")
    return 0


def cmd_data_build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from fedjava.javadata.build import BuildOptions, build_dataset
    from fedjava.javadata.tasks import TASKS_DIR

    if args.jobs < 1 or args.correct_per_task < 0 or args.errors_per_family < 0 or args.max_tasks < 0:
        return _error("--jobs must be at least 1; --correct-per-task, --errors-per-family, --max-tasks at least 0")
    options = BuildOptions(
        seed=args.seed, jobs=args.jobs, out_dir=Path(args.out), correct_per_task=args.correct_per_task,
        errors_per_family=args.errors_per_family, max_tasks=args.max_tasks,
        tasks_dir=Path(args.tasks_dir) if args.tasks_dir else TASKS_DIR, force=args.force,
        unsafe_run=args.unsafe_run,
    )
    report = build_dataset(options, progress=print)
    counts = ", ".join(f"{split} {len(items)}" for split, items in report.samples.items())
    print(f"Built {counts} samples from {report.programs} programs in {report.seconds:.0f}s")
    for path in report.files:
        print(f"  wrote {path}")
    return 0


def cmd_data_split(args: argparse.Namespace) -> int:
    from fedjava.javadata.split import run_split

    print(run_split(args.data_dir, args.clients, args.partition, args.alpha, args.seed,
                    args.train_file, args.valid_file, force=args.force))
    return 0


def cmd_data_import(args: argparse.Namespace) -> int:
    from fedjava.javadata.importers import run_import

    print(run_import(args.file, args.out, args.fmt, args.on_error, force=args.force))
    return 0


def cmd_data_localise(args: argparse.Namespace) -> int:
    from fedjava.javadata.localise import localise_samples
    from fedjava.javadata.runner import require_jdk
    from fedjava.javadata.sandbox import require_sandbox
    from fedjava.javadata.tasks import load_tasks
    from fedjava.prompts import load_samples, write_samples

    if args.jobs < 1 or args.max_mutants < 0:
        return _error("--jobs must be at least 1 and --max-mutants at least 0")
    require_jdk()
    if not args.unsafe_run:
        require_sandbox()
    samples = {path: load_samples(path) for path in args.files}  # every file read before any is rewritten
    tasks = {t.id: t for t in load_tasks()}
    for path, rows in samples.items():
        done = localise_samples(rows, tasks, max_mutants=args.max_mutants, jobs=args.jobs, unsafe=args.unsafe_run,
                                progress=print)
        write_samples(rows, path)
        print(f"{path}: {done} of {len(rows)} sample(s) localised")
    return 0


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_train(args: argparse.Namespace) -> int:
    from fedjava.config import load_config, warnings_for

    cfg = load_config(args.preset, args.overrides)
    for note in warnings_for(cfg):
        print(f"warning: {note}", file=sys.stderr)
    from fedjava.centralized import run_centralized
    from fedjava.training import NonFiniteLossError

    try:
        run_centralized(cfg, framework=args.framework, resume=args.resume, overwrite=args.overwrite)
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_federate(args: argparse.Namespace) -> int:
    cfg = federated_config(args)
    from fedjava.federated.common import FederatedSetupError, check_federated_data

    try:
        check_federated_data(cfg)  # before Flower and Ray start
        from fedjava.federated.simulation import run_federated

        summary = run_federated(cfg, resume=args.resume, verbose=args.verbose, overwrite=args.overwrite)
    except FederatedSetupError as exc:
        return _error(str(exc))
    except KeyboardInterrupt:
        from fedjava.federated.simulation import mute_flower, stop_process

        mute_flower()  # Flower's threads would report each Ray actor that Ctrl-C ended, with a traceback
        print("\nerror: interrupted; the completed rounds' checkpoints are kept: continue with --resume",
              file=sys.stderr)
        stop_process(EXIT_INTERRUPTED)
    if summary["rounds_aggregated"] == 0 and summary["num_rounds"] > 0:
        print("error: no round aggregated any client update (every client failed or was rejected; "
              "see the reasons above and in training.log)", file=sys.stderr)
        return 1
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    from fedjava.config import ConfigError, load_config, to_yaml, validate

    preset, overrides = preset_and_overrides(args)
    cfg = load_config(preset, overrides, check_files=False)
    print(to_yaml(cfg), end="")
    try:
        file_problems = validate(cfg, check_files=True)
    except ConfigError:
        file_problems = []
    for problem in file_problems:
        print(f"warning: {problem}", file=sys.stderr)
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from fedjava.config import load_config, warnings_for

    preset, overrides = preset_and_overrides(args)
    cfg = load_config(preset, overrides)
    for note in warnings_for(cfg):
        print(f"warning: {note}", file=sys.stderr)
    print(f"config OK{f' ({preset})' if preset else ''}: model {cfg.model_name}, "
          f"train {cfg.data_path(cfg.train_file)}")
    return 0


def cmd_config_keys(args: argparse.Namespace) -> int:
    from fedjava.config import field_docs

    for name, default, doc in field_docs():
        print(f"{name} = {default}" + (f"\n    {doc}" if doc else ""))
    return 0


def cmd_config_presets(args: argparse.Namespace) -> int:
    from fedjava.config import list_presets

    for path in list_presets():
        header = next((line[1:].strip() for line in path.read_text().splitlines() if line.startswith("#")), "")
        print(f"{path.stem:28s} {header}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from fedjava.errors import UserError
    from fedjava.tracking import setup_logging

    setup_logging(verbose=args.verbose)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UserError as exc:
        return _error(str(exc))
    except OSError as exc:
        if exc.filename is None or args.verbose:
            raise  # not about a file the user named: a bug to see in full
        return _error(f"{exc.filename}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        print("\nerror: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
