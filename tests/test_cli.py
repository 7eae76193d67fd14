from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import interruptible

from fedjava.cli import main

REPO = Path(__file__).resolve().parents[1]


def _env():
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["train"],
        ["config"],
        ["config", "show"],
        ["config", "check"],
        ["config", "keys"],
        ["config", "presets"],
        ["data"],
        ["data", "split"],
        ["data", "import"],
    ],
)
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: fedjava" in out
    if argv == ["train"]:
        assert "--framework {hf,unsloth}" in out and "examples:" in out


def test_help_does_not_import_torch():
    code = "import sys; from fedjava.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")


def test_config_keys_lists_documented_keys(capsys):
    assert main(["config", "keys"]) == 0
    out = capsys.readouterr().out
    assert "learning_rate = 0.0001" in out and "use_nested_quant = False" in out
    assert "double quantization" in out


def test_unsloth_without_gpu_gives_the_clear_message(tiny_overrides, capsys):
    assert main(["train", "--framework", "unsloth", *tiny_overrides]) == 2
    err = capsys.readouterr().err
    assert "--framework unsloth cannot run here" in err and "Use --framework hf instead" in err
    assert "Traceback" not in err


def test_malformed_data_fails_before_any_model_loads(tiny_overrides, data_dir, capsys):
    (data_dir / "train.jsonl").write_text('{"messages": []}\nnot json\n')
    assert main(["train", *tiny_overrides]) == 2
    err = capsys.readouterr().err
    assert "train.jsonl:1: 'messages' is empty" in err and "train.jsonl:2: not valid JSON" in err


def test_unreachable_hub_model_names_the_model_and_the_fix(tiny_overrides, capsys):
    args = [o for o in tiny_overrides if not o.startswith("model_name=")]
    assert main(["train", *args, "model_name=fedjava-test/no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "fedjava-test/no-such-model" in err and "model_name=DIR" in err


def test_console_script_trains_end_to_end(tiny_overrides, tmp_path):
    out = subprocess.run(
        ["fedjava", "train", "--framework", "hf", *tiny_overrides, "num_epochs=1", f"output_dir={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"Model saved to: {tmp_path / 'run' / 'final_model'}" in out.stdout
    assert (tmp_path / "run" / "final_model" / "adapter_config.json").is_file()


def test_guide_script_passes_framework_and_gpu(tiny_overrides):
    script = REPO / "scripts" / "run_centralized.sh"
    out = subprocess.run(
        ["bash", str(script), "--framework", "unsloth", "--gpu", "0", *tiny_overrides],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert out.returncode == 2 and "--framework unsloth cannot run here" in out.stderr


def test_data_split_writes_the_guides_layout(data_dir, capsys):
    assert main(["data", "split", "--clients", "2", "--data-dir", str(data_dir)]) == 0
    assert "client_0.json" in capsys.readouterr().out
    from fedjava.prompts import load_samples

    shards = [load_samples(data_dir / f"client_{i}.json") for i in range(2)]
    assert [len(s) for s in shards] == [4, 4] and (data_dir / "valid.json").is_file()
    assert main(["data", "split", "--clients", "9", "--data-dir", str(data_dir), "--force"]) == 2
    assert "use at most 8 clients" in capsys.readouterr().err


def test_data_import_reports_bad_rows(tmp_path, capsys):
    src = tmp_path / "legacy.jsonl"
    src.write_text(
        '{"system_prompt": "s", "user_prompt": "Java code requirement: add. student code: class A {}", '
        '"feedback": "No errors found. Code is correct."}\nnot json\n'
    )
    assert main(["data", "import", str(src), "--out", str(tmp_path / "out.jsonl")]) == 0
    out = capsys.readouterr().out
    assert f"{src}:2" in out and (tmp_path / "out.jsonl").is_file()
    assert main(["data", "import", str(src), "--on-error", "stop", "--out", str(tmp_path / "o2.jsonl")]) == 2


def _user_mistakes(tmp_path: Path, data_dir: Path) -> dict[str, tuple[list[str], str]]:
    """{case: (fedjava arguments, what the one error line says)}."""
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00\x01")
    (tmp_path / "latin1.jsonl").write_bytes("caf\xe9\n".encode("latin-1"))
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    train = ["train", "model_name=builtin:tiny-qwen3", f"data_dir={data_dir}", f"results_dir={tmp_path / 'results'}"]
    return {
        "binary data": ([*train, f"train_file={tmp_path / 'binary.jsonl'}"], "not a text file (it has binary content)"),
        "non-UTF-8 data": ([*train, f"train_file={tmp_path / 'latin1.jsonl'}"], "not UTF-8 text (byte 3"),
        "folder as data file": ([*train, f"train_file={tmp_path / 'a_folder'}"], "is a folder, not a file of training"),
        "output_dir is a file": ([*train, f"output_dir={tmp_path / 'a_file'}"], "output_dir /"),
        "output_dir cannot be made": ([*train, "output_dir=/proc/fedjava/run"], "cannot be created"),
        "import --out is a folder": (
            ["data", "import", str(data_dir / "train.jsonl"), "--out", str(tmp_path / "a_folder")],
            "is a folder; give a file name",
        ),
        "import a folder": (["data", "import", str(tmp_path / "a_folder")], "is a folder, not a file"),
        "split binary data": (
            ["data", "split", "--data-dir", str(tmp_path), "--train-file", "binary.jsonl"],
            "not a text file",
        ),
        "certs --out is a file": (
            ["certs", "--client-key", "c0", "--out", str(tmp_path / "a_file")],
            "is a file, not a folder",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "binary data",
        "non-UTF-8 data",
        "folder as data file",
        "output_dir is a file",
        "output_dir cannot be made",
        "import --out is a folder",
        "import a folder",
        "split binary data",
        "certs --out is a file",
    ],
)
def test_a_users_mistake_is_one_line_and_exit_2(case, tmp_path, data_dir, capsys):
    argv, expected = _user_mistakes(tmp_path, data_dir)[case]
    assert main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], err
    assert "Traceback" not in err


def test_a_bad_port_is_refused_by_the_option(capsys):
    with pytest.raises(SystemExit) as info:
        main(["server", "--port", "70000", "--insecure"])
    assert info.value.code == 2
    assert "argument --port: 70000 is not a port number (1 to 65535)" in capsys.readouterr().err


def test_data_build_never_replaces_a_dataset_without_force(data_dir, capsys):
    import shutil

    if not shutil.which("javac"):
        pytest.skip("no JDK")
    before = (data_dir / "train.jsonl").read_bytes()
    assert main(["data", "build", "--max-tasks", "2", "--out", str(data_dir)]) == 2
    err = capsys.readouterr().err
    assert f"{data_dir} holds a dataset already (train.jsonl, valid.jsonl): pass --force" in err
    assert (data_dir / "train.jsonl").read_bytes() == before
    from fedjava.dataset.build import check_output

    check_output(data_dir, force=True)  # --force lets the build replace it


def test_ctrl_c_exits_130(tiny_overrides, tmp_path):
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "fedjava.cli", "train", *tiny_overrides, "num_epochs=200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(),
        cwd=REPO,
        preexec_fn=interruptible,
    )
    log = tmp_path / "results" / "centralized_hf" / "training_history.json"
    deadline = time.time() + 240
    while not log.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)  # the history appears with the first logged step: training is under way
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output[-2000:]
    assert "error: interrupted" in output and "Traceback" not in output


def test_the_console_log_writes_to_stderr_as_it_is_now():
    """A command's warnings reach the stderr of the moment (a caller's redirection, a test's capture), not the stream
    that was stderr when the first command set up logging."""
    import contextlib
    import io

    from fedjava.tracking import log, setup_logging

    setup_logging()
    later = io.StringIO()
    with contextlib.redirect_stderr(later):
        setup_logging()  # a second command in the same process
        log.warning("judge: 2 of 6 answer(s) not scored")
    assert later.getvalue() == "judge: 2 of 6 answer(s) not scored\n"
