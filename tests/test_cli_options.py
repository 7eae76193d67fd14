"""Every option declared once (issue 26): the commands' parsers are made from the options dataclasses that the library
takes (:mod:`fedjava.cli.options`), and a command line builds the dataclass the library function receives."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from fedjava.cli import build_parser, main
from fedjava.cli.grade import default_out
from fedjava.cli.options import add_options, cli_fields, flag, options_from
from fedjava.dataset.build_options import BuildOptions
from fedjava.evaluation.options import EvalOptions
from fedjava.federated.deployment_options import ClientOptions, ServerOptions
from fedjava.grading.options import GradeOptions

# (command, its options dataclass, the argument a hand-written option sets where it is not the field's name)
COMMANDS = [
    (["evaluate"], EvalOptions, {"fix_check": "no_fix_check"}),
    (["grade"], GradeOptions, {"fix_check": "no_fix_check", "run_tests": "no_run"}),
    (["data", "build"], BuildOptions, {}),
    (["server"], ServerOptions, {}),
    (["client"], ClientOptions, {}),
]

# Each command's options as they were when each was still declared in argparse alone (the same names after issue 26)
FLAGS = {
    "evaluate": "--adapter --base --majority --tools-only --localisation --few-shot --split --max-samples "
    "--max-new-tokens --batch-size --teacher-forced --no-fix-check --rescore --verify-fixes --unsafe-run --json --judge-url "
    "--judge-model --judge-key-env --judge-timeout --judge-allow-http --config",
    "grade": "--task --out --rubric --adapter --max-new-tokens --reference --no-run --unsafe-run --verify-fixes "
    "--no-fix-check --assignment --batch-size --released-only --approve --print-rubric",
    "data build": "--seed --jobs --out --force --correct-per-task --errors-per-family --max-tasks --tasks-dir "
    "--unsafe-run",
    "server": "--host --port --certs --client-keys --insecure --max-request-mb --allow-root --algorithm --clients "
    "--rounds --local-epochs --resume --overwrite --config",
    "client": "--client-id --server --data --ca --key --insecure --node-port --wait",
}


def _actions(command: list[str]) -> tuple[list[argparse.Action], list[argparse.Action]]:
    """(the ``fedjava`` parser's own actions, ``command``'s actions): ``-v`` is fedjava's own."""
    parser = root = build_parser()
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return root._actions, parser._actions


@pytest.mark.parametrize(("command", "cls", "renamed"), COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_each_option_field_is_exactly_one_argument_of_its_command(command, cls, renamed):
    root, own = _actions(command)
    for f in cli_fields(cls):
        dest = renamed.get(f.name, f.name)
        found = [a for a in (root if f.name == "verbose" else own) if a.dest == dest]
        assert len(found) == 1 and not [a for a in root + own if a.dest == dest and a not in found], f.name
        if "help" in f.metadata:  # made from the field: its flag, its help text, its default
            assert found[0].option_strings == [flag(f)] and found[0].help == f.metadata["help"]
            assert found[0].required or found[0].default == f.default
    options = {f.name for f in cli_fields(cls)}
    for f in dataclasses.fields(cls):
        if f.name not in options:  # no option: no argument of its name or flag
            assert all(a.dest != f.name and flag(f) not in a.option_strings for a in root + own), f.name


@pytest.mark.parametrize("command", FLAGS)
def test_each_command_keeps_its_options(command):
    _, own = _actions(command.split())
    assert sorted(s for a in own for s in a.option_strings if s.startswith("--") and s != "--help") == sorted(
        FLAGS[command].split()
    )


class Received(Exception):
    """Raised by a library function's stand-in with the options it was given, ending the command there."""


def _run(argv: list[str], monkeypatch, target: str, cls: type):
    """The ``cls`` that ``fedjava ARGV`` gives the library function ``target`` (module:function)."""
    module, name = target.split(":")

    def stand_in(*args, **kwargs):
        raise Received(next(a for a in args if isinstance(a, cls)))

    monkeypatch.setattr(f"{module}.{name}", stand_in)
    with pytest.raises(Received) as received:
        main(argv)
    return received.value.args[0]


def test_evaluate_builds_eval_options(monkeypatch):
    opts = _run(
        [
            "evaluate",
            "--tools-only",
            "--localisation",
            "mutants",
            "--split",
            "valid",
            "--max-samples",
            "5",
            "--batch-size",
            "4",
            "--no-fix-check",
            "--unsafe-run",
            "--json",
        ],
        monkeypatch,
        "fedjava.evaluation.evaluate:run_evaluation",
        EvalOptions,
    )
    assert opts == EvalOptions(
        tools_only="mutants", split="valid", max_samples=5, batch_size=4, fix_check=False, unsafe_run=True
    )
    opts = _run(
        [
            "evaluate",
            "--base",
            "--few-shot",
            "2",
            "--max-new-tokens",
            "50",
            "--rescore",
            "--no-fix-check",
            "--judge-url",
            "http://127.0.0.1:9/v1",
            "--judge-model",
            "m",
            "--judge-timeout",
            "2.5",
            "--judge-allow-http",
        ],
        monkeypatch,
        "fedjava.evaluation.evaluate:run_evaluation",
        EvalOptions,
    )
    assert opts == EvalOptions(
        base=True,
        few_shot=2,
        max_new_tokens=50,
        rescore=True,
        fix_check=False,
        judge_url="http://127.0.0.1:9/v1",
        judge_model="m",
        judge_timeout=2.5,
        judge_allow_http=True,
    )
    assert type(opts.judge_timeout) is float and type(opts.few_shot) is int
    # no --adapter, --base, --majority or --tools-only: the shipped grader
    opts = _run(["evaluate", "--no-fix-check"], monkeypatch, "fedjava.evaluation.evaluate:run_evaluation", EvalOptions)
    assert opts == EvalOptions(adapter="builtin", fix_check=False)


def test_grade_builds_grade_options(monkeypatch, tmp_path):
    klass = tmp_path / "class"
    opts = _run(
        [
            "grade",
            str(klass),
            "--task",
            "task.yaml",
            "--rubric",
            "r.yaml",
            "--reference",
            "Model.java",
            "--no-run",
            "--unsafe-run",
            "--verify-fixes",
            "2",
            "--no-fix-check",
            "--assignment",
            "HW 1",
            "--batch-size",
            "3",
            "--released-only",
            "--max-new-tokens",
            "100",
        ],
        monkeypatch,
        "fedjava.grading.grade:run_grade",
        GradeOptions,
    )
    assert opts == GradeOptions(
        str(klass),
        "task.yaml",
        str(default_out(str(klass))),
        rubric="r.yaml",
        reference="Model.java",
        run_tests=False,
        unsafe_run=True,
        verify_fixes=2,
        fix_check=False,
        assignment="HW 1",
        batch_size=3,
        released_only=True,
        max_new_tokens=100,
    )
    opts = _run(
        ["grade", str(klass), "--task", "t.txt", "--out", "o", "--adapter", "a"],
        monkeypatch,
        "fedjava.grading.grade:run_grade",
        GradeOptions,
    )
    assert opts == GradeOptions(str(klass), "t.txt", "o", adapter="a")


def test_data_build_builds_build_options(monkeypatch, tmp_path):
    opts = _run(
        [
            "data",
            "build",
            "--seed",
            "3",
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "d"),
            "--force",
            "--correct-per-task",
            "2",
            "--errors-per-family",
            "1",
            "--max-tasks",
            "2",
            "--tasks-dir",
            str(tmp_path / "tasks"),
            "--unsafe-run",
        ],
        monkeypatch,
        "fedjava.dataset.build:build_dataset",
        BuildOptions,
    )
    assert opts == BuildOptions(
        seed=3,
        jobs=1,
        out_dir=tmp_path / "d",
        force=True,
        correct_per_task=2,
        errors_per_family=1,
        max_tasks=2,
        tasks_dir=tmp_path / "tasks",
        unsafe_run=True,
    )
    assert _run(["data", "build"], monkeypatch, "fedjava.dataset.build:build_dataset", BuildOptions) == BuildOptions()


def test_server_and_client_build_their_options(monkeypatch):
    import fedjava.cli.deploy

    monkeypatch.setattr(fedjava.cli.deploy, "_stop_on_sigterm", lambda: None)  # not in the test process
    opts = _run(
        [
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            "9100",
            "--certs",
            "c",
            "--client-keys",
            "k",
            "--insecure",
            "--max-request-mb",
            "0.5",
            "--allow-root",
            "--resume",
            "--rounds",
            "2",
        ],
        monkeypatch,
        "fedjava.federated.deployment:run_server",
        ServerOptions,
    )
    assert opts == ServerOptions(
        host="127.0.0.1",
        port=9100,
        certs_dir=Path("c"),
        client_keys=Path("k"),
        insecure=True,
        max_request_mb=0.5,
        allow_root=True,
        resume=True,
    )
    assert _run(["server"], monkeypatch, "fedjava.federated.deployment:run_server", ServerOptions) == ServerOptions()
    opts = _run(
        [
            "client",
            "--client-id",
            "1",
            "--server",
            "h:9092",
            "--data",
            "d.json",
            "--key",
            "k.key",
            "--node-port",
            "0",
            "--wait",
            "1.5",
            "--insecure",
        ],
        monkeypatch,
        "fedjava.federated.deployment_client:run_client",
        ClientOptions,
    )
    assert opts == ClientOptions(
        client_id=1, server="h:9092", data=Path("d.json"), key=Path("k.key"), wait=1.5, insecure=True
    )
    # fedjava's own -v reaches both
    for argv, cls in (
        (["-v", "server"], ServerOptions),
        (["-v", "client", "--client-id", "0", "--server", "h:1"], ClientOptions),
    ):
        assert options_from(cls, build_parser().parse_args(argv)).verbose is True


def test_a_commands_own_converter_and_required_options_keep_their_messages(capsys):
    with pytest.raises(SystemExit) as info:
        main(["server", "--port", "0"])
    assert info.value.code == 2 and "0 is not a port number (1 to 65535)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["client", "--node-port", "70000", "--client-id", "0", "--server", "h:1"])
    assert info.value.code == 2 and "70000 is not a port number (1 to 65535)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["client", "--server", "h:1"])
    assert info.value.code == 2 and "the following arguments are required: --client-id" in capsys.readouterr().err


# ------------------------------------------------------------------ the rules, on dataclasses of the test's own


@dataclass
class Sample:
    name: str = field(metadata={"help": "a name (needed)"})
    mode: Literal["fast", "slow"] = field(default="fast", metadata={"help": "how fast, 100% sure"})
    limit: int | None = field(default=None, metadata={"help": "at most this many"})
    ratio: float = field(default=0.5, metadata={"help": "a share"})
    folder: Path = field(default=Path("out"), metadata={"flag": "--out", "metavar": "DIR", "help": "where to"})
    dry_run: bool = field(default=False, metadata={"help": "only say what would happen"})
    cache: dict[str, int] = field(default_factory=dict, metadata={"cli": False})


def _sample_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sample")
    add_options(parser, Sample)
    return parser


def test_each_annotation_gives_its_type_default_and_choices():
    parser = _sample_parser()
    opts = options_from(
        Sample,
        parser.parse_args(["--name", "x", "--mode", "slow", "--limit", "3", "--ratio", "2", "--out", "o", "--dry-run"]),
        cache={"k": 1},
    )
    assert opts == Sample(name="x", mode="slow", limit=3, ratio=2.0, folder=Path("o"), dry_run=True, cache={"k": 1})
    assert type(opts.ratio) is float and type(opts.limit) is int and isinstance(opts.folder, Path)
    assert options_from(Sample, parser.parse_args(["--name", "y"])) == Sample(name="y")
    text = parser.format_help()
    assert "{fast,slow}" in text and "100% sure" in text and "--out DIR" in text and "--limit LIMIT" in text
    assert "--cache" not in text and "--dry-run " in text and "DRY_RUN" not in text


@pytest.mark.parametrize("argv", [["--mode", "medium", "--name", "x"], ["--limit", "many", "--name", "x"], []])
def test_a_bad_value_or_a_missing_required_option_is_argparses_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        _sample_parser().parse_args(argv)
    assert info.value.code == 2 and "error:" in capsys.readouterr().err


@dataclass
class UnknownType:
    weights: dict[str, float] = field(default_factory=dict, metadata={"help": "per-name weights"})


@dataclass
class TrueFlag:
    check: bool = field(default=True, metadata={"help": "check"})


@dataclass
class NoHelp:
    seed: int = 0


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (UnknownType, "UnknownType.weights: no command-line option has the type dict"),
        (TrueFlag, "TrueFlag.check: a bool option is a flag that sets True, so it must default to False"),
        (NoHelp, "NoHelp.seed: an option needs help text"),
    ],
)
def test_a_field_with_no_rule_fails_when_the_parser_is_built(cls, message):
    with pytest.raises(TypeError, match=message):
        add_options(argparse.ArgumentParser(), cls)


def test_hand_written_names_must_be_fields_and_their_values_must_reach_the_dataclass():
    with pytest.raises(TypeError, match="Sample has no field colour"):
        add_options(argparse.ArgumentParser(), Sample, hand_written=["colour"])
    parser = argparse.ArgumentParser()
    add_options(parser, Sample, hand_written=["dry_run"])
    parser.add_argument("--for-real", action="store_true")
    args = parser.parse_args(["--name", "x", "--for-real"])
    with pytest.raises(TypeError, match="Sample.dry_run: the command has no argument of that name"):
        options_from(Sample, args)
    assert options_from(Sample, args, dry_run=not args.for_real).dry_run is False
