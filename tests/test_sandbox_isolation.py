"""Issue 22's hostile-student probe, items 4 and 6, with the real bwrap, JDK and cgroups: a student's program sees
nothing of the host but the JDK (a classmate's file elsewhere cannot be read), and one run's processes together
cannot take more than its memory cap or start more than its process cap."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from fedjava.java import cgroups
from fedjava.java.runner import run_program
from fedjava.java.sandbox import Limits, Sandbox
from fedjava.java.tasks import TASKS_DIR, load_task

pytestmark = pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def task():
    return load_task(TASKS_DIR / "arrays_sum_positive.yaml")


def attacking(task, attack: str) -> str:
    """The task's solution, running ``attack`` (Java statements) at the start of every call."""
    return "import java.io.*;\nimport java.nio.file.*;\n" + task.solution.replace(
        "int total = 0;", attack + "\n        int total = 0;", 1
    )


@pytest.fixture
def classmates():
    """(secret, files): a classmate's file holding ``secret`` in class folders outside any work folder, made
    here under /srv and /var/tmp (where writable) and removed afterwards."""
    secret = f"CLASSMATE-SECRET-{uuid.uuid4().hex}"
    folders = []
    for base in ("/srv", "/var/tmp"):
        if os.access(base, os.W_OK):
            folder = Path(base) / f"fedjava-test-{uuid.uuid4().hex}"
            folder.mkdir()
            (folder / "carol.java").write_text(f"class Solution {{ /* {secret} */ }}\n")
            folders.append(folder)
    yield secret, [folder / "carol.java" for folder in folders]
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_classmates_file_elsewhere_on_the_host_cannot_be_read(task, classmates):
    secret, files = classmates
    assert files
    paths = json.dumps([*map(str, files), "/etc/passwd"])[1:-1]
    # What was read goes to the page through the exception message, as in the probe.
    attack = f"""
        for (String path : new String[] {{{paths}}}) {{
            System.out.println("exists " + path + "=" + new File(path).exists());
            try {{
                System.out.println("read " + path + ": " + new String(Files.readAllBytes(Paths.get(path))));
            }} catch (IOException e) {{
                System.out.println("cannot read " + path + ": " + e);
            }}
        }}
        System.out.println("root holds " + Arrays.toString(new File("/").list()));
        try {{
            String text = new String(Files.readAllBytes(Paths.get("{files[0]}")));
            if (nums != null) {{
                throw new IllegalStateException(text);
            }}
        }} catch (IOException e) {{
            throw new IllegalStateException(e.toString());
        }}"""
    code = "import java.util.*;\n" + attacking(task, attack)
    outcome = run_program(task, code)
    seen = outcome.stdout + outcome.stderr + "".join(c.message for c in outcome.cases)
    assert outcome.cases and all(c.status == "ERROR" for c in outcome.cases)
    assert secret not in seen and "root:x:0:0" not in seen
    assert "NoSuchFileException" in outcome.cases[0].message
    for path in [*files, "/etc/passwd"]:
        assert f"exists {path}=false" in outcome.stdout and f"cannot read {path}" in outcome.stdout
    listed = outcome.stdout.split("root holds [")[1].split("]")[0].split(", ")
    assert "srv" not in listed and "var" not in listed and "home" not in listed and "usr" in listed
    bare = run_program(task, code, unsafe=True)  # the attack is real: without the sandbox it reads the file
    assert secret in bare.cases[0].message


def test_the_jdk_works_in_the_allow_list(tmp_path, monkeypatch):
    """javac, a class run with java, the source launcher (as BatchCompile.java runs) and java started by java,
    with the same output inside as outside ("été" passes through as it does there)."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    (tmp_path / "Hello.java").write_text(
        "public class Hello { public static void main(String[] a) throws Exception {\n"
        '  if (a.length > 0) { System.out.println("child " + a[0]); return; }\n'
        '  Process p = new ProcessBuilder("java", "-cp", ".", "Hello", "\\u00e9t\\u00e9").inheritIO().start();\n'
        '  System.out.println("parent " + System.getProperty("file.encoding") + " " + p.waitFor()); } }\n'
    )
    limits = Limits(cpu_seconds=60, wall_seconds=120)
    compiled = Sandbox(tmp_path, writable=True).run(["javac", "-J-Xmx256m", "Hello.java"], limits)
    assert compiled.returncode == 0 and (tmp_path / "Hello.class").exists(), compiled.stderr
    for argv in (["java", "-Xmx96m", "-cp", ".", "Hello"], ["java", "-Xmx96m", "Hello.java", "source"]):
        inside, outside = (Sandbox(tmp_path, unsafe=unsafe).run(argv, limits) for unsafe in (False, True))
        assert inside.returncode == 0 and (inside.stdout, inside.stderr) == (outside.stdout, outside.stderr), inside
    assert outside.stdout == "child source\n"
    assert Sandbox(tmp_path).run(["java", "-cp", ".", "Hello"], limits).stdout.startswith("child été\nparent ")


HOG = """import java.util.*;

public class Hog {
    public static void main(String[] args) throws Exception {
        if (args.length > 0) {  // a child: its heap is touched at start, then it waits
            System.out.println("ready");
            System.out.flush();
            Thread.sleep(120_000);
            return;
        }
        List<Process> children = new ArrayList<>();
        for (int i = 0; i < %d; i++) {
            children.add(new ProcessBuilder("java", "-Xms%dm", "-Xmx%dm", "-XX:+AlwaysPreTouch", "-cp", ".", "Hog",
                                            "child").start());
        }
        for (Process child : children) {
            System.out.println("child said " + new Scanner(child.getInputStream()).nextLine());
        }
        System.out.println("all children ready");
    }
}
"""


def cgroup_folders() -> list[str]:
    return glob.glob(f"/sys/fs/cgroup/**/{cgroups.FOLDER}/{os.getpid()}-*", recursive=True)


def without_cgroup() -> str | None:
    """fedjava's warning where commands get no cgroup, after checking that this machine really has none for it:
    as root with a writable cgroup file system (this project's machines) a missing cgroup is a failure."""
    missing = cgroups.missing()
    if missing and os.geteuid() == 0:
        mounts = [line.split() for line in Path("/proc/self/mounts").read_text().splitlines()]
        writable = [
            m
            for m in mounts
            if "rw" in m[3].split(",")
            and (
                (m[2] == "cgroup" and "memory" in m[3].split(","))
                or (m[2] == "cgroup2" and "memory" in (Path(m[1]) / "cgroup.controllers").read_text().split())
            )
        ]
        assert not writable, f"commands get no cgroup, though root and {writable[0][1]} is writable: {missing}"
    return missing


def test_memory_of_all_a_commands_processes_is_capped_together(tmp_path):
    """Three children of 200 MB each, under a cap of 256 MB for the command: the first one over the cap ends
    the whole run, which says so. Each child alone is far below the address-space rlimit."""
    (tmp_path / "Hog.java").write_text(HOG % (3, 200, 200))
    limits = Limits(cpu_seconds=60, wall_seconds=120, total_memory_bytes=256 << 20)
    assert Sandbox(tmp_path, writable=True).run(["javac", "-J-Xmx256m", "Hog.java"], limits).returncode == 0
    done = Sandbox(tmp_path).run(["java", "-Xmx64m", "-cp", ".", "Hog"], limits)
    missing = without_cgroup()
    if missing:  # nothing holds the children together, and fedjava said what to do
        assert "run fedjava as root" in missing and "all children ready" in done.stdout
        return
    assert done.stopped == "memory_limit" and done.returncode != 0, done
    assert "all children ready" not in done.stdout
    assert not cgroup_folders()


def test_a_students_memory_hog_is_stopped_and_labelled(task):
    """Item 6 as the grader runs it: a test case starting four 512 MB JVMs. Without a cgroup nothing caps them
    together (2 GB on the host) and fedjava says so once."""
    attack = """
        if (nums.length == 0) {
            try {
                List<Process> children = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    children.add(new ProcessBuilder("java", "-Xms512m", "-Xmx512m", "-XX:+AlwaysPreTouch",
                        "-version").start());
                }
                for (Process child : children) {
                    child.waitFor();
                }
                System.out.println("hog done");
            } catch (Exception e) {
                System.out.println("hog failed " + e);
            }
        }"""
    outcome = run_program(task, "import java.util.*;\n" + attacking(task, attack), timeout=30)
    missing = without_cgroup()
    if missing:  # no cgroup here: the run is not capped, and the warning says what to do
        assert "run fedjava as root" in missing and outcome.status == "passed"
        return
    assert outcome.stopped == "memory_limit" and outcome.status == "memory_limit", outcome
    assert not outcome.all_passed and "hog done" not in outcome.stdout


def test_processes_are_capped_even_for_root_without_namespaces(tmp_path):
    """An --unsafe-run as root: the process rlimit does not bind root, the cgroup's pids cap does."""
    marker = f"fedjava-spawn-{uuid.uuid4().hex}"
    spawn = f"i=0; while [ $i -lt 100 ]; do sh -c 'sleep 60' {marker} >/dev/null 2>&1 & i=$((i+1)); done; echo spawned"
    done = Sandbox(tmp_path, unsafe=True).run(
        ["sh", "-c", spawn], Limits(cpu_seconds=10, wall_seconds=60, processes=32)
    )
    assert "fork" in done.stderr.lower(), done
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, marker)]
    assert not left


def _cmdline_has(process: Path, marker: str) -> bool:
    try:
        return marker.encode() in (process / "cmdline").read_bytes()
    except OSError:
        return False


def test_without_a_writable_cgroup_fedjava_warns_and_keeps_the_rlimits(tmp_path):
    """The same machine with the cgroup file system read-only (as in many containers): one warning naming what
    to do, and commands still run, under their rlimits."""
    script = (
        "import logging, sys\n"
        "from pathlib import Path\n"
        "logging.basicConfig(format='%(levelname)s %(message)s')\n"
        "from fedjava.java import cgroups\n"
        "from fedjava.java.sandbox import Limits, Sandbox\n"
        "print('group', cgroups.create(1 << 30, 64))\n"
        "box = Sandbox(Path(sys.argv[1]), unsafe=True)\n"
        "big = box.run(['java', '-Xms512m', '-Xmx512m', '-version'], Limits(10, 60, memory_bytes=256 << 20))\n"
        "print('big', big.returncode, 'Could not reserve' in big.stdout + big.stderr)\n"
        "print('again', cgroups.create(1 << 30, 64))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [
            "bwrap",
            "--ro-bind",
            "/",
            "/",
            "--bind",
            "/tmp",
            "/tmp",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--",
            sys.executable,
            "-c",
            script,
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["group None", "big 1 True", "again None"]
    assert done.stderr.count("WARNING " + cgroups.NO_CGROUP_WARNING) == 1
