"""The sandbox for code fedjava did not write: hostile student programs with the real bwrap, javac and java.

Each hostile program is the student's ``class Solution`` (its attack in a static initializer or in the
method the tests call). Each test checks the harm did not happen on the host, that the run stopped, and
the label it got. The attacks are real: run without the sandbox they succeed (see the ``--unsafe-run`` test).
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from fedjava.java import sandbox
from fedjava.java.runner import Program, check_many, run_program
from fedjava.java.sandbox import Limits, Sandbox, SandboxUnavailableError
from fedjava.java.tasks import TASKS_DIR, load_task

pytestmark = [
    pytest.mark.filterwarnings("ignore"),
    pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK"),
]

SOLUTION = """import java.io.*;
import java.nio.file.*;
import java.util.*;

class Solution {
    static {
%s
    }

    static int sumPositive(int[] nums) {
%s
        int total = 0;
        for (int n : nums) {
            if (n > 0) {
                total += n;
            }
        }
        return total;
    }
}
"""


def hostile(static: str = "", method: str = "") -> str:
    """A correct sumPositive whose class runs ``static`` once and ``method`` at every call."""
    return SOLUTION % (static, method)


@pytest.fixture(scope="module")
def task():
    return load_task(TASKS_DIR / "arrays_sum_positive.yaml")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fake HOME with a canary file and an SSH key, and a secret in the environment."""
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True)
    (folder / "canary.txt").write_text("home canary\n")
    (folder / ".ssh" / "id_rsa").write_text(f"SECRET-KEY-{uuid.uuid4()}\n")
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.setenv("FEDJAVA_TEST_TOKEN", f"SECRET-TOKEN-{uuid.uuid4()}")
    return folder


@pytest.fixture
def outside(tmp_path):
    """Canaries outside HOME: one beside it under /tmp, one on the root file system (/var/tmp)."""
    beside = tmp_path / "outside"
    beside.mkdir()
    (beside / "canary.txt").write_text("outside canary\n")
    rooted = Path("/var/tmp") / f"fedjava-test-{uuid.uuid4().hex}"
    rooted.mkdir()
    (rooted / "canary.txt").write_text("root fs canary\n")
    yield beside, rooted
    shutil.rmtree(rooted, ignore_errors=True)


@pytest.fixture(autouse=True)
def own_tmp(tmp_path, monkeypatch):
    """Every work folder of a test under its tmp_path (tempfile's folder too), for :func:`sandbox_processes`."""
    folder = tmp_path / "tempfile"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


def sandbox_processes(tmp_path: Path) -> list[str]:
    """Processes still inside a sandbox of this test: those whose mounts show a folder under its tmp_path.

    A process cannot leave its mount namespace, so this finds any that outlived its command, whatever its
    user or session, and not those of sandboxes that other tests or programs on this machine run meanwhile.
    """
    token = "/".join(tmp_path.parts[-2:])
    left = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token in (entry / "mountinfo").read_text():
                left.append(entry.name)
        except OSError:
            continue
    return left


def processes_with(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            continue
    return found


ENDLESS_THREADS = """
        for (int i = 0; i < 1_000_000; i++) {
            new Thread(() -> {
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    return;
                }
            }).start();
        }"""


def test_files_in_home_and_elsewhere_survive(task, home, outside, tmp_path):
    beside, rooted = outside
    attack = f"""
        File home = new File("{home}");
        System.out.println("home-canary-visible=" + new File(home, "canary.txt").exists());
        String[] victims = {{"{home}/canary.txt", "{beside}/canary.txt", "{rooted}/canary.txt"}};
        for (String victim : victims) {{
            System.out.println("deleted " + victim + "=" + new File(victim).delete());
        }}
        String[] planted = {{"{home}/evil.txt", "{beside}/evil.txt", "{rooted}/evil.txt", "evil.txt", "out/evil.txt"}};
        for (String path : planted) {{
            try (FileOutputStream f = new FileOutputStream(path)) {{
                System.out.println("wrote " + path);
            }} catch (IOException e) {{
                System.out.println("refused " + path);
            }}
        }}"""
    outcome = run_program(task, hostile(static=attack))
    assert outcome.all_passed and outcome.status == "passed"
    assert "home-canary-visible=false" in outcome.stdout and "=true" not in outcome.stdout
    assert (home / "canary.txt").read_text() == "home canary\n"
    assert (beside / "canary.txt").read_text() == "outside canary\n"
    assert (rooted / "canary.txt").read_text() == "root fs canary\n"
    for folder in (home, beside, rooted):
        assert not (folder / "evil.txt").exists()
    assert "refused evil.txt" in outcome.stdout and "refused out/evil.txt" in outcome.stdout  # work is read-only
    assert not sandbox_processes(tmp_path)


def test_ssh_key_and_environment_stay_secret(task, home):
    attack = f"""
        String[] keys = {{"{home}/.ssh/id_rsa", System.getenv("HOME") + "/.ssh/id_rsa",
                          System.getProperty("user.home") + "/.ssh/id_rsa", "/root/.ssh/id_rsa"}};
        for (String key : keys) {{
            try {{
                System.out.println("read " + key + ": " + new String(Files.readAllBytes(Paths.get(key))));
            }} catch (Throwable t) {{
                System.out.println("cannot read " + key + ": " + t);
            }}
        }}
        System.out.println("env " + System.getenv());"""
    outcome = run_program(task, hostile(static=attack))
    seen = outcome.stdout + outcome.stderr
    assert outcome.all_passed and "cannot read" in seen and "env {" in seen
    assert "SECRET-KEY" not in seen and os.environ["FEDJAVA_TEST_TOKEN"] not in seen


def test_no_connection_reaches_a_listening_socket(task):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        attack = f"""
        try (java.net.Socket s = new java.net.Socket()) {{
            s.connect(new java.net.InetSocketAddress("127.0.0.1", {port}), 2000);
            s.getOutputStream().write("stolen".getBytes());
            System.out.println("socket-connected");
        }} catch (IOException e) {{
            System.out.println("socket-refused " + e);
        }}"""
        outcome = run_program(task, hostile(method=attack))
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert outcome.all_passed and "socket-refused" in outcome.stdout and "socket-connected" not in outcome.stdout


def test_a_child_process_that_lives_on_is_killed(task, tmp_path):
    # The JDK is the one program in the sandbox (no sh), and a sealed sandbox has no place to write a file: the
    # child is a JVM started on a class of the student's own file, that says its uid and sleeps.
    marker = f"fedjava-marker-{uuid.uuid4().hex}"
    sleeper = (
        "\nclass Sleeper { public static void main(String[] a) throws Exception { "
        'System.out.println("started"); for (String line : java.nio.file.Files.readAllLines('
        'java.nio.file.Paths.get("/proc/self/status"))) { if (line.startsWith("Uid:")) '
        "{ System.out.println(line); } } System.out.flush(); Thread.sleep(300_000); } }\n"
    )
    attack = f"""
        try {{
            String classes = Paths.get(Sleeper.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                .toString();
            Process p = new ProcessBuilder("java", "-Xmx32m", "-cp", classes, "Sleeper", "{marker}").start();
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));
            System.out.println("child-said=" + r.readLine() + " uid=" + r.readLine());
        }} catch (Exception e) {{
            System.out.println("exec-failed " + e);
        }}"""
    outcome = run_program(task, hostile(static=attack) + sleeper)
    assert outcome.all_passed and "child-said=started" in outcome.stdout
    if os.geteuid() == 0:
        assert "uid=Uid:\t0\t" not in outcome.stdout and "uid=Uid:\t" in outcome.stdout  # not as root
    assert not processes_with(marker)
    assert not sandbox_processes(tmp_path)


def test_endless_threads_hit_the_process_limit(task, tmp_path):
    attack = ENDLESS_THREADS
    outcome = run_program(task, hostile(method=attack))
    errors = [c for c in outcome.cases if c.status == "ERROR"]
    assert errors and errors[0].exception == "java.lang.OutOfMemoryError"
    assert "unable to create native thread" in errors[0].message
    # Stopped by the process limit, not by a clock (a time bound here failed on a machine with 6x its load).
    assert outcome.status == "failed" and not outcome.timed_out and not outcome.stopped
    assert not sandbox_processes(tmp_path)


def test_printing_gigabytes_is_cut_off(task, tmp_path):
    attack = """
        String chunk = "x".repeat(1 << 20);
        for (long i = 0; i < (1L << 20); i++) {
            System.out.print(chunk);
        }"""
    outcome = run_program(task, hostile(method=attack), timeout=30)
    assert outcome.stopped == "output_limit" and outcome.status == "output_limit"
    assert not outcome.all_passed
    assert len(outcome.stdout) + len(outcome.stderr) <= sandbox.OUTPUT_BYTES + (1 << 16)
    assert not sandbox_processes(tmp_path)


def test_system_exit_is_labelled(task):
    outcome = run_program(task, hostile(static="        System.exit(3);"))
    assert outcome.compiled and outcome.exited and outcome.status == "exited" and not outcome.all_passed


def test_sleeping_forever_times_out(task, tmp_path):
    # In the batch JVM the harness stops it (its per-case wall clock); a run of its own (when it ended the
    # batch's JVM) is killed by the sandbox's wall clock.
    sleep = """
        while (System.nanoTime() != 0) {  // never false, but javac cannot tell
            try {
                Thread.sleep(Long.MAX_VALUE);
            } catch (Throwable t) {
                continue;
            }
        }"""
    alone_only = f"""
        if (Solution.class.getClassLoader() instanceof java.net.URLClassLoader) {{
            System.exit(0);
        }}
{sleep}"""
    started = time.perf_counter()
    outcome = run_program(task, hostile(static=alone_only), timeout=2)
    assert outcome.stopped == "timeout" and outcome.timed_out and outcome.status == "timeout"
    assert time.perf_counter() - started < 60
    batch = check_many([Program("sleeper", task, hostile(method=sleep))], tmp_path, jobs=1, timeout=0.25)
    assert batch["sleeper"].timed_out and batch["sleeper"].status == "timeout"
    assert not sandbox_processes(tmp_path)


def test_a_batch_with_hostile_programs_labels_the_others_as_alone(task, tmp_path):
    """Many programs per JVM: hostile ones do not change the labels of those run after them."""
    threads = ENDLESS_THREADS
    programs = {
        "ok": task.solution,
        "threads": hostile(method=threads),
        "after_threads": task.solution,
        "exits": hostile(static="        System.exit(3);"),
        "wrong": task.solution.replace("n > 0", "n >= -1"),
        "endless": task.solution.replace("total += n;", "while (n > 0) { total += 0; }"),
        "child": hostile(
            static='        try { new ProcessBuilder("sleep", "300").start(); } catch (IOException e) { }'
        ),
        "last": task.solution,
    }
    outcomes = check_many([Program(k, task, code) for k, code in programs.items()], tmp_path, jobs=1)
    assert {k: outcomes[k].status for k in programs} == {
        "ok": "passed",
        "threads": "failed",
        "after_threads": "passed",
        "exits": "exited",
        "wrong": "failed",
        "endless": "timeout",
        "child": "passed",
        "last": "passed",
    }
    assert not sandbox_processes(tmp_path)


def test_review_tools_run_in_the_sandbox(task, tmp_path):
    """fedjava review's javac and test runs (gather_evidence): the student's static initializer cannot write."""
    from fedjava.java.evidence import gather_evidence

    target = tmp_path / "written-by-review.txt"
    code = hostile(static=f'        try {{ new FileOutputStream("{target}").close(); }} catch (IOException e) {{ }}')
    block, outcome = gather_evidence(code, task)
    assert outcome.status == "passed" and f"tests: {len(task.tests)} of {len(task.tests)} passed" in block
    assert not target.exists()


# ---------------------------------------------------------------- the sandbox's own limits


def test_wall_clock_cpu_and_memory_limits(tmp_path):
    box = Sandbox(tmp_path, tools=("sleep",))
    started = time.perf_counter()
    slept = box.run(["sh", "-c", "sleep 300 & sleep 300"], Limits(cpu_seconds=10, wall_seconds=1))
    assert slept.stopped == "timeout" and time.perf_counter() - started < 10
    spun = box.run(["sh", "-c", "while :; do :; done"], Limits(cpu_seconds=1, wall_seconds=60))
    assert spun.stopped == "killed"
    big = box.run(
        ["java", "-Xms512m", "-Xmx512m", "-version"], Limits(cpu_seconds=10, wall_seconds=60, memory_bytes=256 << 20)
    )
    said = big.stdout + big.stderr  # the JVM says why it cannot start on stdout
    assert big.returncode != 0 and "Could not reserve enough space" in said and "openjdk version" not in said
    assert not sandbox_processes(tmp_path)


def test_a_fork_bomb_is_capped_and_cleared(tmp_path):
    """Processes without end: the process limit refuses the growth early, and none of them is left."""
    marker = f"fedjava-bomb-{uuid.uuid4().hex}"
    started = time.perf_counter()
    bomb = Sandbox(tmp_path, tools=("sleep",)).run(
        ["sh", "-c", f"while :; do sh -c 'sleep 300; :' {marker} & done"],
        Limits(cpu_seconds=10, wall_seconds=5, processes=32),
    )
    assert time.perf_counter() - started < 30
    assert bomb.stopped == "timeout" or "fork" in bomb.stderr.lower()  # sh was refused a new process
    assert not processes_with(marker) and not sandbox_processes(tmp_path)


def test_input_and_output_pass_through(tmp_path):
    (tmp_path / "in.txt").write_text("hello\n")
    done = Sandbox(tmp_path, tools=("cat",)).run(
        ["sh", "-c", "cat in.txt; cat; pwd; echo err >&2"], Limits(10, 30), stdin="x\n" * 50_000
    )
    assert done.returncode == 0 and not done.stopped
    assert done.stdout == "hello\n" + "x\n" * 50_000 + sandbox.WORK_INSIDE + "\n" and done.stderr == "err\n"


# ---------------------------------------------------------------- no sandbox: refuse, or --unsafe-run


@pytest.fixture
def no_bwrap(tmp_path, monkeypatch):
    monkeypatch.setenv(sandbox.BWRAP_ENV, str(tmp_path / "missing" / "bwrap"))


def test_without_bwrap_untrusted_code_is_refused_unless_unsafe(task, no_bwrap, tmp_path):
    with pytest.raises(SandboxUnavailableError) as refused:
        run_program(task, task.solution)
    message = str(refused.value)
    assert "bubblewrap" in message and "apt-get install bubblewrap" in message and "--unsafe-run" in message
    with pytest.raises(SandboxUnavailableError):
        check_many([Program("ok", task, task.solution)], tmp_path / "batch")
    assert run_program(task, task.solution, unsafe=True).all_passed


def test_without_bwrap_review_tools_are_refused_unless_unsafe(task, no_bwrap):
    from fedjava.java.evidence import gather_evidence

    for args in [(task.solution,), (task.solution, task)]:  # compile only; compile and run the tests
        with pytest.raises(SandboxUnavailableError):
            gather_evidence(*args)
        block, outcome = gather_evidence(*args, unsafe=True)
        assert outcome.compiled and block.startswith("Tool results:\njavac: compiles")


def test_a_bwrap_that_cannot_make_namespaces_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv(sandbox.BWRAP_ENV, str(fake))
    with pytest.raises(SandboxUnavailableError, match="No permissions to create new namespace.*--unsafe-run"):
        sandbox.require_sandbox()


def test_unsafe_run_really_is_unsafe(task, tmp_path):
    """The attacks above are real: without namespaces the same program reaches the host."""
    target = tmp_path / "written-by-the-student.txt"
    outcome = run_program(
        task,
        hostile(static=f'        try {{ new FileOutputStream("{target}").close(); }} catch (IOException e) {{ }}'),
        unsafe=True,
    )
    assert outcome.all_passed and target.exists()


def test_commands_refuse_before_running_anything(no_bwrap, tmp_path, capsys):
    from fedjava.cli import main

    assert main(["data", "build", "--max-tasks", "1", "--out", str(tmp_path / "out")]) == 2
    assert main(["evaluate", "--majority", f"data_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert err.count("error: untrusted Java code") == 2 and "--unsafe-run" in err and not (tmp_path / "out").exists()
    for command in ("evaluate", "review", "experiment"):
        assert "--unsafe-run" in _help(main, command)


def test_unsafe_run_checks_fixes_without_bwrap(no_bwrap, task, data_dir, tmp_path):
    from tests.conftest import BAD, BAD_ANSWER, REQUIREMENT

    from fedjava.cli import main
    from fedjava.evaluation.fixcheck import check_fixes
    from fedjava.prompts import build_messages, write_samples

    broken = task.solution.replace("return total;", "return total")
    line = broken.split("\n").index("        return total") + 1
    fix = {
        "verdict": "COMPILE_ERROR",
        "score": 0,
        "errors": [
            {
                "type": "Syntax Error",
                "code": "compiler.err.expected",
                "line": line,
                "message": "';' expected",
                "explanation": "",
                "fix": "        return total;",
            }
        ],
    }
    with pytest.raises(SandboxUnavailableError):
        check_fixes([(task.id, broken, fix)])
    assert check_fixes([(task.id, broken, fix)], unsafe=True) == [True]
    write_samples([{"messages": build_messages(REQUIREMENT, BAD, BAD_ANSWER)}], data_dir / "test.jsonl")
    args = ["evaluate", "--majority", f"data_dir={data_dir}", f"results_dir={tmp_path / 'results'}"]
    assert main(args) == 2
    assert main([*args, "--unsafe-run"]) == 0
    metrics = (tmp_path / "results" / "majority" / "metrics.json").read_text()
    assert '"unsafe_run": true' in metrics


def _help(main, command: str) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main([command, "--help"])
    return out.getvalue()


def test_a_sealed_sandbox_has_no_place_to_write(tmp_path):
    """Sandbox(sealed=True), as a program fedjava did not write runs: its scratch folders are read-only too."""
    script = 'for d in /tmp /dev/shm "$HOME" /run .; do (: > "$d/x") 2>/dev/null && echo "wrote $d"; done; echo end'
    usual = Sandbox(tmp_path).run(["sh", "-c", script], Limits(10, 30))
    sealed = Sandbox(tmp_path, sealed=True).run(["sh", "-c", script], Limits(10, 30))
    assert "wrote /tmp" in usual.stdout and "wrote /dev/shm" in usual.stdout
    assert sealed.returncode == 0 and sealed.stdout == "end\n"
    assert not sandbox_processes(tmp_path)
