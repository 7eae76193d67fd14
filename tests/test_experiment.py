"""`fedjava experiment`: the whole pipeline on the tiny model, stage skipping, and preset errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from experiment_setup import tiny_preset, write_source
from fedjava.cli import main
from fedjava.experiment import ExperimentError, load_experiment, plan, run_experiment
from fedjava.prompts import load_samples, write_samples


@pytest.fixture
def source(tmp_path):
    return write_source(tmp_path / "source")


def test_experiment_runs_every_stage_on_the_same_data_then_skips_what_is_done(tmp_path, source):
    exp = load_experiment(str(tiny_preset(tmp_path, variants={"fedavg_int8": {"update_compression": "int8"}})))
    printed: list[str] = []
    summary = run_experiment(exp, source_dir=source, printer=printed.append, command="fedjava experiment --preset t")
    out = tmp_path / "exp"
    # data: seeded subsets; the client shards hold exactly the centralized run's training samples
    train = load_samples(out / "data" / "train.jsonl")
    shards = [load_samples(out / "data" / f"client_{i}.json") for i in range(2)]
    assert len(train) == 6 and len(load_samples(out / "data" / "test.jsonl")) == 3
    assert len(load_samples(out / "data" / "valid.jsonl")) == 2
    key = lambda s: json.dumps(s["messages"])  # noqa: E731
    assert sorted(map(key, train)) == sorted(key(s) for shard in shards for s in shard)
    # train: both methods wrote an adapter; evaluate: every run measured on the same 3 test samples
    for run in ("centralized_hf", "fedavg", "fedavg_int8"):
        assert (out / run / "final_model" / "adapter_config.json").is_file()
    measured = {
        run: json.loads((out / run / "metrics.json").read_text())
        for run in ("base", "majority", "centralized_hf", "fedavg", "fedavg_int8")
    }
    assert {m["n_samples"] for m in measured.values()} == {3}
    history = json.loads((out / "fedavg" / "training_history.json").read_text())
    assert history["summary"]["rounds_aggregated"] == 2
    # a variant: the same clients and rounds with its own keys (int8 both ways: far fewer bytes)
    variant = json.loads((out / "fedavg_int8" / "training_history.json").read_text())["summary"]
    assert variant["rounds_aggregated"] == 2 and variant["update_compression"] == "int8"
    assert variant["bytes_sent"] < 0.5 * history["summary"]["bytes_sent"]
    # report: one table with every run, printed, and the files
    for run in measured:
        assert run in summary["table"]
    assert Path(summary["report_md"]).is_file() and Path(summary["report_html"]).is_file()
    assert any(line.strip().startswith("[2/") and "train centralized_hf" in line for line in printed)
    record = json.loads((out / "experiment.json").read_text())
    assert [s["state"] for s in record["stages"]] == ["ran"] * 10  # data, 3 train, 5 evaluate, report
    took = {s["stage"]: s["seconds"] for s in record["stages"]}
    assert took["train fedavg"] > 0 and record["stage_seconds"] == pytest.approx(sum(took.values()), abs=0.5)
    report = Path(summary["report_md"]).read_text()
    assert "## Time" in report and f"| train fedavg | {took['train fedavg'] / 60:.1f} min | ran |" in report
    assert "## How it was run" in report and "| `fedjava experiment --preset t` |" in report

    # Run again: everything but the report is skipped, nothing is rewritten; the stages keep their measured times,
    # and the report keeps the command that made its numbers (this one only wrote the report).
    before = {run: (out / run / "metrics.json").stat().st_mtime_ns for run in measured}
    run_experiment(exp, source_dir=source, printer=printed.append, command="fedjava experiment --preset t x=1")
    record = json.loads((out / "experiment.json").read_text())
    assert record["commands"] == ["fedjava experiment --preset t"]
    assert [s["state"] for s in record["stages"]] == ["done earlier"] * 9 + ["ran"]
    assert {s["stage"]: s["seconds"] for s in record["stages"][:9]} == {k: took[k] for k in list(took)[:9]}
    assert before == {run: (out / run / "metrics.json").stat().st_mtime_ns for run in measured}
    # Results from before the experiment kept times: a training stage's time is its run's own clock.
    (out / "experiment.json").unlink()
    run_experiment(exp, source_dir=source, printer=printed.append)
    kept = {s["stage"]: s["seconds"] for s in json.loads((out / "experiment.json").read_text())["stages"]}
    clock = json.loads((out / "fedavg" / "training_history.json").read_text())["summary"]["seconds"]
    assert kept["train fedavg"] == pytest.approx(clock, abs=0.1) and kept["evaluate fedavg"] == 0
    # A run of some stages (--only) keeps the times of the others.
    run_experiment(exp, source_dir=source, only=["data"], printer=printed.append)
    again = {s["stage"]: s["seconds"] for s in json.loads((out / "experiment.json").read_text())["stages"]}
    measured = lambda times: {k: v for k, v in times.items() if k != "data data" and v > 0}  # noqa: E731
    assert measured(again) == measured(kept) and "train fedavg" in measured(kept)

    # A changed training setting makes the training and its evaluation stale, not the data or baselines.
    changed = load_experiment(str(tiny_preset(tmp_path)), ["learning_rate=5e-3"])
    done = {(s.kind, s.name): s.done() for s in plan(changed, source, printer=lambda _: None)}
    assert done[("data", "data")] and done[("evaluate", "majority")] and done[("evaluate", "base")]
    assert not done[("train", "centralized_hf")] and not done[("train", "fedavg")]


def test_experiment_variants_are_checked_and_each_gets_its_own_run(tmp_path):
    from fedjava.experiment import training_configs

    exp = load_experiment(
        str(
            tiny_preset(
                tmp_path,
                algorithms=["fedavg"],
                num_clients=4,
                variants={
                    "krum_poisoned": {"algorithm": "krum"},
                    "fedavg_dp": {"dp_mode": "server", "dp_noise_multiplier": 0.5},
                },
            )
        )
    )
    runs = training_configs(exp)
    assert set(runs) == {"centralized_hf", "fedavg", "krum_poisoned", "fedavg_dp"}
    kind, krum = runs["krum_poisoned"]
    assert kind == "federated" and krum.algorithm == "krum" and krum.num_clients == 4 and krum.num_rounds == 2
    assert runs["fedavg_dp"][1].dp_noise_multiplier == 0.5 and runs["fedavg"][1].dp_mode == "off"
    assert Path(krum.output_dir) == tmp_path / "exp" / "krum_poisoned"
    with pytest.raises(ExperimentError, match="variant fedavg_x: config tiny_smoke: .*update_compresion"):
        load_experiment(str(tiny_preset(tmp_path, variants={"fedavg_x": {"update_compresion": "int8"}})))
    with pytest.raises(ExperimentError, match="variants: fedavg: expected a new run name"):
        load_experiment(str(tiny_preset(tmp_path, variants={"fedavg": {"update_compression": "int8"}})))


def test_experiment_presets_are_checked_before_anything_runs(tmp_path, source, capsys):
    with pytest.raises(ExperimentError, match="did you mean 'algorithms'"):
        load_experiment(str(tiny_preset(tmp_path, algorithmz=["fedavg"])))
    with pytest.raises(ExperimentError, match="unknown fedx"):
        load_experiment(str(tiny_preset(tmp_path)), ["algorithms=fedavg,fedx"])
    with pytest.raises(ExperimentError, match="unknown key 'lerning_rate'"):
        load_experiment(str(tiny_preset(tmp_path)), ["lerning_rate=1"])
    with pytest.raises(ExperimentError, match="only 0 samples have at most max_sample_chars=10"):
        run_experiment(
            load_experiment(str(tiny_preset(tmp_path)), ["max_sample_chars=10"]),
            source_dir=source,
            printer=lambda _: None,
        )
    assert main(["experiment", "--preset", "no_such_experiment"]) == 2
    assert (
        "not found (known experiment presets: demo_cpu, federated_table, federated_table_gpu, grader, "
        "grader_update_cpu, qwen3_8b_gpu, tradeoffs, tradeoffs_poisoned)"
    ) in capsys.readouterr().err
    assert main(["experiment", "--list"]) == 0
    assert "demo_cpu" in capsys.readouterr().out
    # the shipped presets load, with their training configs
    demo = load_experiment("demo_cpu")
    assert demo.algorithms == ["fedavg", "fedadam"] and demo.overrides["init_adapter"] == "builtin"
    assert load_experiment("qwen3_8b_gpu").num_clients == 4
    tradeoffs = load_experiment("tradeoffs")
    assert set(tradeoffs.variants) == {"fedavg_int8", "fedavg_topk10", "fedavg_dp_eps7", "fedavg_dp_eps2"}
    assert tradeoffs.overrides["init_adapter"] == "builtin"
    assert load_experiment("tradeoffs_poisoned").variants["krum"]["num_malicious_clients"] == 1


def test_experiment_in_both_prompt_modes_reports_them_side_by_side(tmp_path, source):
    exp = load_experiment(str(tiny_preset(tmp_path, algorithms=[], prompt_modes=["code_only", "grounded"])))
    summary = run_experiment(exp, source_dir=source, printer=lambda _: None)
    out = tmp_path / "exp"
    for mode in ("code_only", "grounded"):
        saved = yaml.safe_load((out / f"centralized_hf_{mode}" / "final_model" / "fedjava_config.yaml").read_text())
        assert saved["prompt_mode"] == mode
        for run in (f"centralized_hf_{mode}", f"base_{mode}"):
            metrics = json.loads((out / run / "metrics.json").read_text())
            assert metrics["prompt_mode"] == mode and metrics["n_samples"] == 3
    report = (out / "report.md").read_text()
    assert "| prompt |" in report and "code_only" in report and "grounded" in report
    assert "centralized_hf_code_only" in summary["table"] and "centralized_hf_grounded" in summary["table"]
    with pytest.raises(ExperimentError, match="prompt_modes"):
        load_experiment(str(tiny_preset(tmp_path, prompt_modes=["grounded", "tools"])))


def test_the_command_line_is_rebuilt_as_typed():
    from fedjava.cli import build_parser
    from fedjava.cli.experiment import command_line

    typed = ["experiment", "--preset", "demo_cpu", "--only", "evaluate,report", "--data-dir", "my data", "a=1"]
    assert command_line(build_parser().parse_args(typed)) == (
        "fedjava experiment --preset demo_cpu --only evaluate,report --data-dir 'my data' a=1"
    )
    plain = build_parser().parse_args(["experiment", "--preset", "p", "--force", "--unsafe-run"])
    assert command_line(plain) == "fedjava experiment --preset p --force --unsafe-run"


def test_how_answers_were_run_or_scored_does_not_make_an_evaluation_stale():
    import dataclasses

    from fedjava.evaluation.evaluate import EvalOptions
    from fedjava.experiment import _same_options

    opts = EvalOptions(adapter="x", max_new_tokens=200)
    older = {k: v for k, v in dataclasses.asdict(opts).items() if k != "rescore"}  # saved before --rescore existed
    assert _same_options(older, opts)
    assert _same_options({**older, "rescore": True, "unsafe_run": True}, opts)
    assert not _same_options({**older, "max_new_tokens": 100}, opts)
    # an option added later (teacher_forced) is read as its default, so a newer fedjava does not redo the stage
    assert _same_options({k: v for k, v in older.items() if k != "teacher_forced"}, opts)
    assert not _same_options({**older, "teacher_forced": True}, opts)


def test_models_are_scored_teacher_forced_as_stages_of_their_own_and_the_rules_still_answer(tmp_path, source):
    exp = load_experiment(
        str(tiny_preset(tmp_path, centralized=[], algorithms=[], baselines=["base", "majority", "mutants_only"])),
        ["scoring=both"],
    )
    names = [s.name for s in plan(exp, source, printer=lambda _: None) if s.kind == "evaluate"]
    assert names == ["base", "base:teacher_forced", "majority", "mutants_only"]
    summary = run_experiment(exp, source_dir=source, printer=lambda _: None)
    out = tmp_path / "exp"
    forced = json.loads((out / "base" / "teacher_forced.json").read_text())
    assert forced["teacher_forced"]["n"] == 3 and forced["options"]["teacher_forced"] is True
    generated = json.loads((out / "base" / "metrics.json").read_text())
    assert generated["n_samples"] == 3 and generated["teacher_forced"]["n"] == 3  # the loss pass measures them too
    assert "## Teacher-forced decisions" in Path(summary["report_md"]).read_text()
    run_experiment(exp, source_dir=source, printer=lambda _: None)
    record = json.loads((out / "experiment.json").read_text())
    assert [s["state"] for s in record["stages"]] == ["done earlier"] * 5 + ["ran"]  # data, 4 evaluations, report
    assert json.loads((out / "mutants_only" / "metrics.json").read_text())["options"]["tools_only"] == "mutants"
    only_forced = load_experiment(str(tiny_preset(tmp_path, centralized=[], algorithms=[])), ["scoring=teacher_forced"])
    names = [s.name for s in plan(only_forced, source, printer=lambda _: None) if s.kind == "evaluate"]
    assert names == ["base:teacher_forced", "majority"]
    with pytest.raises(ExperimentError, match="scoring: 'judge'"):
        load_experiment(str(tiny_preset(tmp_path)), ["scoring=judge"])


def test_checked_fixes_reach_every_evaluation_but_the_majority_baseline(tmp_path):
    from fedjava.experiment import eval_options

    exp = load_experiment(str(tiny_preset(tmp_path)), ["verify_fixes=4"])
    assert exp.verify_fixes == 4
    assert eval_options(exp, adapter="x").verify_fixes == 4
    assert eval_options(exp, base=True).verify_fixes == 4
    assert eval_options(exp, majority=True).verify_fixes == 0  # no model to sample from
    assert eval_options(load_experiment(str(tiny_preset(tmp_path))), adapter="x").verify_fixes == 0  # off by default
    with pytest.raises(ExperimentError, match="verify_fixes must be at least 0"):
        load_experiment(str(tiny_preset(tmp_path)), ["verify_fixes=-1"])


def test_checked_fixes_without_a_sandbox_stop_before_any_stage_runs(tmp_path, source, monkeypatch):
    from fedjava.evaluation.fixcheck import jdk_available
    from fedjava.java import sandbox

    if not jdk_available():
        pytest.skip("without a JDK the fix check is not measured, so nothing needs the sandbox")
    monkeypatch.setenv(sandbox.BWRAP_ENV, str(tmp_path / "missing" / "bwrap"))
    exp = load_experiment(str(tiny_preset(tmp_path)), ["verify_fixes=2"])  # fix_check is false in the preset
    with pytest.raises(sandbox.SandboxUnavailableError, match="bubblewrap"):
        run_experiment(exp, source_dir=source, printer=lambda _: None)
    assert not (tmp_path / "exp").exists()  # nothing drawn, trained or measured


@pytest.mark.parametrize("name", ["federated_table", "federated_table_gpu"])
def test_the_table_presets_train_every_row_from_the_base_model_on_the_same_budget(name):
    """Issue 25's table: the real validator loads the preset and every run's config; every row starts from the base
    model with the grader's recipe, on 4 schools by task, with the same sample passes, and DP is client-side."""
    from fedjava.experiment import base_config, training_configs

    exp = load_experiment(name)
    runs = training_configs(exp)
    assert set(runs) == {"centralized_hf", "fedavg", "fedprox", "fedadam", "fedmedian", "fedavg_dp", "fedavg_int8"}
    assert exp.baselines == ["base", "majority", "tools_only", "mutants_only"] and exp.partition == "task_dirichlet"
    assert exp.num_clients == 4 and exp.num_epochs == exp.num_rounds * exp.local_epochs  # the same sample passes
    assert exp.test_samples == 0 or (exp.test_samples >= 240 and exp.stratified_test)
    # on the CPU no row writes valid answers at its budget: every model is scored teacher-forced; the GPU does both
    assert exp.scoring == ("both" if name.endswith("gpu") else "teacher_forced")
    recipe = base_config(exp)
    assert recipe.prompt_mode == "grounded" and recipe.decision_weight == 5
    for run, (_, cfg) in runs.items():
        assert cfg.init_adapter == "" and cfg.prompt_mode == "grounded", run  # from the base model
    assert runs["fedavg_dp"][1].dp_mode == "client" and runs["fedavg_dp"][1].dp_delta == 1e-5
    assert runs["fedavg_int8"][1].update_compression == "int8"
    # the header states the epsilon the accountant gives for these rounds
    from fedjava.federated.privacy import PrivacyLedger

    ledger = PrivacyLedger(runs["fedavg_dp"][1].dp_noise_multiplier, 1e-5, exp.num_clients)
    ledger.compose(exp.num_rounds)
    header = (Path(__file__).resolve().parents[1] / "configs" / "experiments" / f"{name}.yaml").read_text()
    assert f"epsilon {ledger.epsilon():.2f} at delta 1e-5" in header and f"--preset {name}" in header


def test_the_test_subset_is_stratified_on_request_and_schools_hold_whole_tasks(tmp_path):
    from collections import Counter

    from conftest import BAD_ANSWER, GOOD, GOOD_ANSWER, REQUIREMENT
    from fedjava.dataset.split import sample_label
    from fedjava.prompts import build_messages

    folder = tmp_path / "source"
    samples = []
    for i in range(40):  # 10 tasks of 4; a quarter compile errors, the rest correct
        answer = BAD_ANSWER if i % 4 == 0 else GOOD_ANSWER
        samples.append(
            {
                "messages": build_messages(f"{REQUIREMENT} ({i % 10})", f"{GOOD}// {i}\n", answer),
                "meta": {"task_id": f"t{i % 10}", "family": "compile" if i % 4 == 0 else "none"},
            }
        )
    for split in ("train", "valid", "test"):
        write_samples(samples, folder / f"{split}.jsonl")
    exp = load_experiment(
        str(
            tiny_preset(
                tmp_path,
                train_samples=0,
                test_samples=8,
                stratified_test=True,
                num_clients=3,
                partition="task_dirichlet",
                alpha=1.0,
            )
        )
    )
    run_experiment(exp, source_dir=folder, only=["data"], printer=lambda _: None)
    data = tmp_path / "exp" / "data"
    assert Counter(map(sample_label, load_samples(data / "test.jsonl"))) == {"none": 6, "compile": 2}
    shards = [load_samples(data / f"client_{i}.json") for i in range(3)]
    tasks = [{s["meta"]["task_id"] for s in shard} for shard in shards]
    assert sum(map(len, shards)) == 40 and not (tasks[0] & tasks[1] or tasks[0] & tasks[2] or tasks[1] & tasks[2])
    assert json.loads((data / "clients.json").read_text())["partition"] == "task_dirichlet"
    with pytest.raises(ExperimentError, match="partition: unknown topic"):
        load_experiment(str(tiny_preset(tmp_path)), ["partition=topic"])


def test_the_drawn_data_stays_done_for_the_same_source_data_in_another_folder(tmp_path, source):
    """A second checkout (a new path, new file times) holds the same data: nothing is redrawn, so nothing trained on
    it is redone. Other data, even of the same size, is redrawn."""
    import shutil

    from fedjava.experiment import plan

    exp = load_experiment(str(tiny_preset(tmp_path)))
    run_experiment(exp, source_dir=source, only=["data"], printer=lambda _: None)
    data_done = lambda folder: plan(exp, folder, printer=lambda _: None)[0].done()  # noqa: E731
    assert data_done(source)
    copy = shutil.copytree(source, tmp_path / "checkout" / "data")
    assert data_done(copy)
    train = copy / "train.jsonl"
    text = train.read_text(encoding="utf-8")
    train.write_text(text.replace("twice", "thrice", 1).replace("x", "", 1), encoding="utf-8")
    assert train.stat().st_size == (source / "train.jsonl").stat().st_size
    assert not data_done(copy) and data_done(source)


def test_where_the_schools_ran_does_not_make_a_trained_run_stale():
    from fedjava.config import load_config, to_yaml
    from fedjava.experiment import same_settings

    saved = to_yaml(load_config(None, ["client_num_cpus=1"], check_files=False))
    assert same_settings(saved, load_config(None, ["client_num_cpus=2", "client_num_gpus=0.5"], check_files=False))
    assert not same_settings(saved, load_config(None, ["client_num_cpus=2", "lora_r=8"], check_files=False))
    assert not same_settings("not: [a mapping", load_config(None, [], check_files=False))
    # a centralized run reads no federated key: changing one (or adding a new one) leaves it done, not a federated run
    federated_change = load_config(None, ["num_rounds=5", "client_lr_schedule=restart"], check_files=False)
    assert same_settings(saved, federated_change, "hf") and not same_settings(saved, federated_change, "federated")
    older = yaml.safe_load(saved)
    del older["client_lr_schedule"]  # saved before the key existed
    assert same_settings(yaml.safe_dump(older), load_config(None, [], check_files=False), "hf")
    assert not same_settings(yaml.safe_dump(older), load_config(None, [], check_files=False), "federated")
    assert not same_settings(saved, load_config(None, ["learning_rate=1e-3"], check_files=False), "hf")
