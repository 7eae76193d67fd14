"""Copy a trained adapter into the package as the shipped grader (``--adapter builtin``) with its card.

    python scripts/ship_grader.py RESULTS/centralized_hf [--metrics RESULTS/centralized_hf/metrics.json]
                                  [--command "fedjava experiment --preset grader"] [--hardware "2 CPU cores"]
                                  [--checked CHECKED/grader/metrics.json]

Writes ``src/fedjava/grader/``: ``adapter_config.json`` and ``adapter_model.safetensors`` as trained,
``fedjava_config.yaml`` (the training config with this machine's folders reset to the defaults, so that
``fedjava evaluate`` and ``review`` read ``data/`` and write under ``java_error_federated_results/``), and
``GRADER.md``: base model, data, recipe, command, training seconds and the full test-split metrics with
their 95% intervals beside the tools-only rule's and the majority baseline's (``<results>/../tools_only/metrics.json``
and ``<results>/../majority/metrics.json`` when present), what only a model gives beside the tools-only rule, and
with ``--checked``, the same answers' checked fixes (``fedjava evaluate --rescore --verify-fixes N``) beside the
first answers'.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "fedjava" / "grader"
SHOWN = (
    "verdict_macro_f1",
    "detection_f1",
    "false_alarm_rate",
    "detection_recall",
    "detection_precision",
    "type_accuracy",
    "code_accuracy",
    "line_exact",
    "line_within_one",
    "fix_pass_rate",
    "score_mae",
    "grade",
    "valid_rate",
    "repaired_rate",
)


def _cell(metrics: dict | None, key: str) -> str:
    if not metrics or metrics.get(key) is None:
        return "-"
    ci = (metrics.get("ci") or {}).get(key)
    return f"{metrics[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _by_verdict(metrics: dict) -> str:
    rows = [
        f"| {verdict} | {v['n']} | {v['code_accuracy']:.3f} | {v['line_within_one']:.3f} | "
        + (f"{v['fix_pass_rate']:.3f} |" if v.get("fix_pass_rate") is not None else "- |")
        for verdict, v in (metrics.get("by_verdict") or {}).items()
    ]
    if not rows:
        return ""
    return (
        "By kind of error:\n\n| gold verdict | samples | error code | line within one | fix check |\n"
        "|---|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n"
    )


def _checked(checked: dict | None) -> str:
    """The checked-fixes section: first answers and checked ones, overall and by kind of error."""
    ver = (checked or {}).get("verification")
    if not ver:
        return ""
    first = ver["first_answer"]
    rows = [
        f"| all errors | {first['line_within_one']:.3f} | {checked['line_within_one']:.3f} | "
        f"{_cell(first, 'fix_pass_rate')} | {_cell(checked, 'fix_pass_rate')} |"
    ]
    for verdict, v in (checked.get("by_verdict") or {}).items():
        f = first["by_verdict"].get(verdict) or {}
        if v.get("fix_pass_rate") is not None and f:
            rows.append(
                f"| {verdict} | {f['line_within_one']:.3f} | {v['line_within_one']:.3f} | "
                f"{f['fix_pass_rate']:.3f} | {v['fix_pass_rate']:.3f} |"
            )
    st = ver["statuses"]
    sampled = st.get("sampled", 0) + st.get("failed", 0)
    return f"""## Checked fixes (`fedjava evaluate --rescore --verify-fixes {ver["samples"]}`)

The same answers, each fix run through javac and the task's tests in the sandbox. Where it fails, the model
samples {ver["samples"]} more fixes after the answer's own `"fix": "`, {ver["samples"]} rewrites of each line the
error likely comes from (`fedjava.java.cause`), and {ver["samples"]} `import` lines where javac cannot find a
class; the first that passes is kept with where it goes. A logic error's line becomes its passing fix's line. The
tests that choose the fix also measure it: compare models on the first answers.

| errors | line within one, first | checked | fix check, first | checked |
|---|---:|---:|---:|---:|
{chr(10).join(rows)}

{st.get("first", 0)} first fixes passed, {st.get("sampled", 0)} sampled ones, {st.get("failed", 0)} answers had none;
{ver["programs"]} programs compiled and tested in {ver["seconds"]:.0f} s ({ver["seconds"] / max(1, sampled):.1f} s \
per answer whose first fix failed) on {checked.get("hardware") or "2 CPU cores (shared)"}.
"""


def _model_only(metrics: dict, tools: dict | None) -> str:
    """What only a model gives (metrics.json's ``model_only``), the grader beside the tools-only rule."""
    from fedjava.evaluation.compare import MODEL_ONLY_LABELS

    mine, theirs = metrics.get("model_only") or {}, (tools or {}).get("model_only") or {}
    if not mine:
        return ""
    rows = "\n".join(
        f"| {label} | {_cell(mine, key)} | {_cell(theirs, key)} |" for key, label in MODEL_ONLY_LABELS.items()
    )
    return (
        "What only a model gives (the tools-only rule reads javac's and the tests' output and already gives the "
        "verdict, the error code and a compile or runtime error's line):\n\n| metric | grader | tools-only rule |\n"
        "|---|---|---|\n" + rows + "\n"
    )


def card(
    cfg,
    run: dict,
    history: dict,
    metrics: dict,
    majority: dict | None,
    command: str,
    hardware: str,
    by_length: str,
    eval_hardware: str = "",
    checked: dict | None = None,
    tools: dict | None = None,
) -> str:
    from fedjava.evaluation.evaluate import LABELS

    summary = history.get("summary") or {}
    rows = "\n".join(
        f"| {LABELS.get(k, k)} | {_cell(metrics, k)} | {_cell(tools, k)} | {_cell(majority, k)} |" for k in SHOWN
    )
    confusion = metrics.get("confusion") or {}
    columns = list(next(iter(confusion.values()), {}).keys())
    matrix = "\n".join(
        f"| {gold} | " + " | ".join(str(row.get(c, 0)) for c in columns) + " |" for gold, row in confusion.items()
    )
    return f"""# The shipped grader

`--adapter builtin` (the default of `fedjava review` and `fedjava evaluate`). A LoRA adapter (r={cfg.lora_r},
alpha={cfg.lora_alpha}, on {", ".join(cfg.lora_target_modules)}) for `{cfg.model_name}` (Gemma 3 270M; Gemma terms
of use apply to the base weights), trained with `prompt_mode: {cfg.prompt_mode}`: it reads the task, the
student's code with numbered lines and what javac and the task's tests reported, and answers in the JSON format
of docs/data.md.

## How it was made
- Command: `{command}` (recipe: `configs/grader.yaml`; budget: `configs/experiments/grader.yaml`).
- Data: {summary.get("train_samples", "?")} samples drawn (seed {run.get("seed", 0)}) from `data/train.jsonl` (123 tasks);
  test: the whole `data/test.jsonl`, {metrics.get("n_samples")} samples of 15 tasks never seen in training.
- Recipe: learning rate {cfg.learning_rate:g} ({cfg.lr_scheduler}, warmup {cfg.warmup_ratio:g}), batch
  {cfg.batch_size} x {cfg.gradient_accumulation_steps}, {summary.get("steps", "?")} optimizer steps, decision tokens
  (verdict, code, line) weighted x{cfg.decision_weight:g}, test results hidden from {cfg.tests_dropout:.0%} of the
  training samples (so that it also answers from javac alone), max_seq_length {cfg.max_seq_length}.
- Training: {summary.get("train_seconds", 0):.0f} s on {hardware}; final train loss
  {summary.get("train_loss", float("nan")):.4f}, validation loss {summary.get("eval_loss", float("nan")):.4f}.

## Test split ({metrics.get("n_samples")} samples, greedy answers, 95% bootstrap intervals)

| metric | grader | tools-only rule | majority baseline |
|---|---|---|---|
{rows}

{_model_only(metrics, tools)}
{_by_verdict(metrics)}
"Repaired" answers broke off (cut off at max_new_tokens, or not valid JSON from some point on) and were closed at
their last complete value: their decisions count, a fix that was cut does not.

Evaluation took {metrics.get("seconds_per_sample", 0):.2f} s per sample (generation) on {eval_hardware or hardware}.

Verdicts (rows: gold, columns: predicted):

| gold | {" | ".join(columns)} |
|---|{"---:|" * len(columns)}
{matrix}

{by_length}
{_checked(checked)}
## Limits
- The grader is as good as the tool results it is shown: without a task's tests (`tests: not run`) it must judge
  logic errors from the code alone, which a 270M model does poorly.
- The explanation is one sentence in the style of the dataset's templates; the line of a logic error and the fix
  are the model's own guesses (see the table by kind of error above).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the training run's folder (with final_model/ and training_history.json)")
    parser.add_argument("--metrics", help="metrics.json of the full test split (default: RUN/metrics.json)")
    parser.add_argument("--command", default="fedjava experiment --preset grader")
    parser.add_argument("--hardware", default="2 CPU cores (no GPU)", help="where it was trained")
    parser.add_argument("--eval-hardware", default="", help="where it was evaluated (default: --hardware)")
    parser.add_argument(
        "--checked",
        help="metrics.json of `fedjava evaluate --rescore --verify-fixes N` on the same "
        "answers: adds the checked fixes beside the first answers'",
    )
    args = parser.parse_args(argv)

    import yaml

    from fedjava.config import Config, load_saved_config, to_yaml

    run = Path(args.run)
    final = run / "final_model"
    metrics = json.loads(Path(args.metrics or run / "metrics.json").read_text(encoding="utf-8"))
    majority_path = Path(args.metrics or run / "metrics.json").parent.parent / "majority" / "metrics.json"
    majority = json.loads(majority_path.read_text(encoding="utf-8")) if majority_path.is_file() else None
    tools_path = majority_path.parent.parent / "tools_only" / "metrics.json"
    tools = json.loads(tools_path.read_text(encoding="utf-8")) if tools_path.is_file() else None
    history = json.loads((run / "training_history.json").read_text(encoding="utf-8"))
    checked = json.loads(Path(args.checked).read_text(encoding="utf-8")) if args.checked else None
    cfg = load_saved_config(final)
    defaults = Config()
    shipped = dataclasses.replace(
        cfg,
        data_dir=defaults.data_dir,
        results_dir=defaults.results_dir,
        output_dir="",
        train_file=defaults.train_file,
        valid_file=defaults.valid_file,
        model_cache_dir="",
        max_train_samples=0,
        max_eval_samples=0,
    )
    experiment = run.parent / "experiment.json"
    exp = json.loads(experiment.read_text(encoding="utf-8")) if experiment.is_file() else {}
    by_length = ""
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(final / name, TARGET / name)
    (TARGET / "fedjava_config.yaml").write_text(to_yaml(shipped), encoding="utf-8")
    (TARGET / "GRADER.md").write_text(
        card(
            shipped,
            exp.get("experiment", exp),
            history,
            metrics,
            majority,
            args.command,
            args.hardware,
            by_length,
            args.eval_hardware,
            checked,
            tools,
        ),
        encoding="utf-8",
    )
    print(f"shipped {final} -> {TARGET} ({(TARGET / 'adapter_model.safetensors').stat().st_size / 1e6:.1f} MB)")
    print(yaml.safe_dump({k: metrics.get(k) for k in SHOWN}, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
