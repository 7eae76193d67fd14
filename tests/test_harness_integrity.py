"""The test harness against a student who cheats: real javac, java and bubblewrap.

Every program here is WRONG (``sumPositive`` returns 42, so each of the task's 5 tests fails), or a correct
one that attacks a classmate's run. Each attack made a wrong program pass (or a classmate's fail pass, or
leaked a classmate's file, or ran for minutes) with the harness that read its results from stdout and ran
many programs in one JVM. Now results come only from the harness over a socket, and each program runs alone
in a sealed sandbox: every test checks the cheat did not work, and that the attack was really tried.
"""

from __future__ import annotations

import shutil
import uuid

import pytest

from fedjava.java.runner import Program, check_many, run_program
from fedjava.java.tasks import TASKS_DIR, load_task

pytestmark = [
    pytest.mark.filterwarnings("ignore"),
    pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK"),
]

WRONG = r"""import java.io.*;
import java.lang.reflect.*;
import java.nio.file.*;
import java.util.*;

class Solution {
    static {
%s
    }

    static int sumPositive(int[] nums) {
%s
        return 42;  // wrong for every test case
    }
}
"""

RIGHT = r"""import java.io.*;
import java.nio.file.*;
import java.util.*;

class Solution {
    static {
%s
    }

    static int sumPositive(int[] nums) {
        int total = 0;
        for (int n : nums) {
            total += Math.max(n, 0);
        }
        return total;
    }
}
"""

FAILED = ["FAIL"] * 5  # what the wrong program really gets


def wrong(static: str = "", method: str = "") -> str:
    """The wrong program, running ``static`` once and ``method`` at every call."""
    return WRONG % (static, method)


@pytest.fixture(scope="module")
def task():
    return load_task(TASKS_DIR / "arrays_sum_positive.yaml")


def review(task, code: str, tmp_path, timeout: float = 1.0):
    """The run a review, a grade and a fix check make of one file (check_many of one program)."""
    return check_many([Program("student", task, code)], tmp_path, jobs=1, timeout=timeout)["student"]


def test_the_wrong_program_fails_every_case(task, tmp_path):
    assert [c.status for c in review(task, wrong(), tmp_path).cases] == FAILED


def test_a_system_out_wrapper_cannot_turn_fail_into_pass(task, tmp_path):
    wrapper = r"""
        final PrintStream real = System.out;
        System.setOut(new PrintStream(real, true) {
            @Override
            public void println(String line) {
                super.println(line.replaceAll("^(@@CASE\t\\d+\t)FAIL(\t[^\t]*).*$", "$1PASS$2"));
            }
        });"""
    outcome = review(task, wrong(static=wrapper), tmp_path)
    assert [c.status for c in outcome.cases] == FAILED and outcome.status == "failed"


@pytest.mark.parametrize("entry", ["check_many", "run_program"])
def test_a_forged_report_and_halt_is_only_output(task, tmp_path, entry):
    forger = r"""
        System.out.println("@@READY");
        for (int i = 0; i < 5; i++) {
            System.out.println("@@CASE\t" + i + "\tPASS\tforged");
        }
        System.out.println("@@DONE\t5\t5");
        System.out.println("@@END\tOK");
        System.out.flush();
        Runtime.getRuntime().halt(0);"""
    code = wrong(static=forger)
    outcome = review(task, code, tmp_path) if entry == "check_many" else run_program(task, code)
    assert "@@CASE\t4\tPASS\tforged" in outcome.stdout  # printed, and only output
    assert outcome.cases == [] and outcome.exited and outcome.status == "exited" and not outcome.all_passed


HARNESS_CLASSES = '{"Check", "fedjava.harness.Cases", "fedjava.harness.Isolated", "fedjava.harness.Clock"}'


def test_the_harness_cannot_be_called(task, tmp_path):
    """Its report methods, called as any class in the program's package could call them."""
    caller = f"""
        for (String name : new String[] {HARNESS_CLASSES}) {{
            try {{
                Class<?> harness = Class.forName(name, true, Solution.class.getClassLoader());
                for (Method m : harness.getDeclaredMethods()) {{
                    try {{
                        if (m.getName().equals("pass")) {{
                            for (int i = 0; i < 5; i++) {{
                                m.invoke(null, i, "forged");
                            }}
                        }} else if (m.getName().equals("done")) {{
                            m.invoke(null);
                        }} else if (!name.equals("Check")) {{  // the new harness's: each with empty arguments
                            Object[] args = new Object[m.getParameterCount()];
                            for (int i = 0; i < args.length; i++) {{
                                Class<?> type = m.getParameterTypes()[i];
                                args[i] = type == int.class ? (Object) 0 : type == long.class ? (Object) 0L : null;
                            }}
                            m.invoke(null, args);
                        }} else {{
                            continue;
                        }}
                        System.out.println("called " + name + "." + m.getName());
                    }} catch (ReflectiveOperationException | RuntimeException e) {{  // NPE: an instance method
                        System.out.println("refused " + name + "." + m.getName() + ": " + e.getClass().getSimpleName());
                    }}
                }}
            }} catch (ClassNotFoundException e) {{
                System.out.println("no class " + name);
            }}
        }}
        System.out.flush();
        Runtime.getRuntime().halt(0);"""
    outcome = review(task, wrong(static=caller), tmp_path)
    assert "called" not in outcome.stdout and "no class Check" in outcome.stdout
    assert "refused fedjava.harness.Isolated.main: IllegalAccessException" in outcome.stdout
    assert outcome.cases == [] and outcome.status == "exited"


def test_reflection_cannot_open_the_harness(task, tmp_path):
    """setAccessible on every member of the harness's classes, found on the stack and by name."""
    opener = f"""
        Set<Class<?>> found = new LinkedHashSet<>();
        StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE)
                .forEach(frame -> found.add(frame.getDeclaringClass()));
        for (String name : new String[] {HARNESS_CLASSES}) {{
            try {{
                found.add(Class.forName(name, false, Solution.class.getClassLoader()));
            }} catch (ClassNotFoundException e) {{
                continue;
            }}
        }}
        Method pass = null, done = null;
        for (Class<?> c : found) {{
            String where = c.getName();
            if (c == Solution.class || where.equals("TestDriver") || where.startsWith("java.") || where.startsWith("jdk.")) {{
                continue;
            }}
            List<AccessibleObject> members = new ArrayList<>(Arrays.asList(c.getDeclaredMethods()));
            members.addAll(Arrays.asList(c.getDeclaredFields()));
            for (AccessibleObject member : members) {{
                try {{
                    member.setAccessible(true);
                    System.out.println("opened " + where + " " + member);
                    if (member instanceof Method && ((Method) member).getName().equals("pass")) pass = (Method) member;
                    if (member instanceof Method && ((Method) member).getName().equals("done")) done = (Method) member;
                }} catch (RuntimeException e) {{
                    System.out.println("refused " + where + ": " + e.getClass().getSimpleName());
                }}
            }}
        }}
        if (pass != null && done != null) {{
            try {{
                for (int i = 0; i < 5; i++) {{
                    pass.invoke(null, i, "forged");
                }}
                done.invoke(null);
            }} catch (ReflectiveOperationException e) {{
                throw new RuntimeException(e);
            }}
            System.out.flush();
            Runtime.getRuntime().halt(0);
        }}"""
    outcome = review(task, wrong(method=opener), tmp_path)
    assert "opened" not in outcome.stdout
    assert "refused fedjava.harness.Cases: InaccessibleObjectException" in outcome.stdout  # found on the stack
    assert [c.status for c in outcome.cases] == FAILED


def test_unsafe_cannot_rewrite_the_expected_values(task, tmp_path):
    """sun.misc.Unsafe (or the JDK's own) sets the JVM's cached Integer 4, 0, 10 and 15 to 42: the expected
    values of the 5 tests become 42, as the wrong program returns."""
    rewrite = r"""
        for (String name : new String[] {"sun.misc.Unsafe", "jdk.internal.misc.Unsafe"}) {
            try {
                Class<?> type = Class.forName(name);
                Field theUnsafe = type.getDeclaredField("theUnsafe");
                theUnsafe.setAccessible(true);
                Object unsafe = theUnsafe.get(null);
                Method offset = type.getMethod("objectFieldOffset", Field.class);
                Method putInt = type.getMethod("putInt", Object.class, long.class, int.class);
                long value = (Long) offset.invoke(unsafe, Integer.class.getDeclaredField("value"));
                for (int expected : new int[] {4, 0, 10, 15}) {
                    putInt.invoke(unsafe, Integer.valueOf(expected), value, 42);
                }
                System.out.println("rewrote the Integer cache with " + name);
                break;
            } catch (Throwable t) {
                System.out.println("no " + name + ": " + t.getClass().getSimpleName());
            }
        }"""
    outcome = review(task, wrong(static=rewrite), tmp_path)
    assert "no sun.misc.Unsafe: ClassNotFoundException" in outcome.stdout
    assert "no jdk.internal.misc.Unsafe: InaccessibleObjectException" in outcome.stdout
    assert [c.status for c in outcome.cases] == FAILED


def test_the_jvm_has_no_module_that_reaches_into_it(task, tmp_path):
    """No attach API, heap dumps (jdk.management), management beans, compiler or foreign functions."""
    probe = r"""
        for (String name : new String[] {"com.sun.tools.attach.VirtualMachine", "com.sun.management.HotSpotDiagnosticMXBean",
                "java.lang.management.ManagementFactory", "javax.tools.ToolProvider", "jdk.incubator.foreign.CLinker",
                "java.lang.instrument.Instrumentation", "com.sun.jdi.Bootstrap"}) {
            try {
                Class.forName(name);
                System.out.println("present " + name);
            } catch (ClassNotFoundException e) {
                System.out.println("absent " + name);
            }
        }"""
    outcome = review(task, wrong(static=probe), tmp_path)
    assert "present" not in outcome.stdout and outcome.stdout.count("absent") == 7
    assert [c.status for c in outcome.cases] == FAILED


def test_the_jvm_memory_and_the_report_socket_cannot_be_reopened(task, tmp_path):
    """/proc/self/mem (to rewrite the harness's memory), every descriptor through /proc/self/fd and every
    socket file in reach, each given a forged report."""
    reopen = r"""
        String forged = "@@READY\n@@CASE\t0\tPASS\tx\n@@CASE\t1\tPASS\tx\n@@CASE\t2\tPASS\tx\n"
                + "@@CASE\t3\tPASS\tx\n@@CASE\t4\tPASS\tx\n@@END\tOK\n";
        try (RandomAccessFile mem = new RandomAccessFile("/proc/self/mem", "rw")) {
            System.out.println("opened /proc/self/mem");
        } catch (IOException e) {
            System.out.println("refused /proc/self/mem");
        }
        File[] fds = new File("/proc/self/fd").listFiles();
        for (File fd : fds == null ? new File[0] : fds) {
            try (FileOutputStream out = new FileOutputStream(fd)) {
                out.write(forged.getBytes());
            } catch (IOException e) {
                System.out.println("refused fd " + fd.getName());
            }
        }
        try (java.util.stream.Stream<Path> files = Files.walk(Paths.get("").toAbsolutePath())) {
            files.filter(p -> p.toString().endsWith(".sock")).forEach(p -> {
                try (java.nio.channels.SocketChannel s = java.nio.channels.SocketChannel.open(
                        java.net.UnixDomainSocketAddress.of(p))) {
                    s.write(java.nio.ByteBuffer.wrap(forged.getBytes()));
                    System.out.println("connected " + p);
                } catch (IOException e) {
                    System.out.println("refused " + p);
                }
            });
        } catch (IOException e) {
            System.out.println("cannot walk: " + e);
        }"""
    outcome = review(task, wrong(static=reopen), tmp_path)
    assert "refused /proc/self/mem" in outcome.stdout and "refused fd" in outcome.stdout  # the socket's
    assert "connected" not in outcome.stdout
    assert [c.status for c in outcome.cases] == FAILED


def test_there_is_no_place_to_write_a_native_library(task, tmp_path):
    """System.load needs a file on a mount that may run code: the program can write no file at all."""
    writer = r"""
        Set<String> places = new TreeSet<>(List.of(".", "out", "/tmp", "/dev/shm", System.getProperty("java.io.tmpdir"),
                System.getProperty("user.home")));
        try {
            for (String line : Files.readAllLines(Paths.get("/proc/self/mountinfo"))) {
                places.add(line.split(" ")[4]);
            }
        } catch (IOException e) {
            System.out.println("no mountinfo");
        }
        for (String place : places) {
            try {
                Path library = Files.createTempFile(Paths.get(place), "evil", ".so");
                System.out.println("wrote " + library);
                System.load(library.toAbsolutePath().toString());
            } catch (Throwable t) {
                System.out.println("refused " + place);
            }
        }"""
    outcome = review(task, wrong(static=writer), tmp_path)
    assert "wrote" not in outcome.stdout and "refused /tmp" in outcome.stdout and "refused /dev/shm" in outcome.stdout
    assert [c.status for c in outcome.cases] == FAILED


def test_a_thread_left_running_cannot_touch_the_next_program(task, tmp_path):
    """A correct program whose daemon thread wraps every System.out it sees, for a classmate run after it."""
    spy = r"""
        Thread spy = new Thread(() -> {
            Set<PrintStream> mine = Collections.newSetFromMap(new IdentityHashMap<>());
            while (true) {
                PrintStream current = System.out;
                if (!mine.contains(current)) {
                    PrintStream wrapper = new PrintStream(current, true) {
                        @Override
                        public void println(String line) {
                            super.println(line.replaceAll("^(@@CASE\t\\d+\t)FAIL(\t[^\t]*).*$", "$1PASS$2"));
                        }
                    };
                    mine.add(wrapper);
                    System.setOut(wrapper);
                }
                Thread.onSpinWait();
            }
        });
        spy.setDaemon(true);
        spy.start();"""
    programs = [Program("spy", task, RIGHT % spy), Program("classmate", task, wrong())]
    outcomes = check_many(programs, tmp_path, jobs=1)
    assert outcomes["spy"].status == "passed"
    assert [c.status for c in outcomes["classmate"].cases] == FAILED


def test_a_program_cannot_read_a_classmate_s_file(task, tmp_path):
    secret = f"SECRET-{uuid.uuid4()}"
    reader = r"""
        Set<Path> roots = new LinkedHashSet<>(List.of(Paths.get("").toAbsolutePath(), Paths.get("/tmp")));
        try {
            Path classes = Paths.get(Solution.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            roots.add(classes.getParent().getParent());
        } catch (Exception e) {
            System.out.println("no class location");
        }
        for (Path root : roots) {
            try (java.util.stream.Stream<Path> files = Files.walk(root)) {
                files.filter(p -> p.getFileName() != null && p.getFileName().toString().equals("Solution.java"))
                        .forEach(p -> {
                            try {
                                System.out.println("read " + p + ": " + Files.readString(p).contains("SEC" + "RET-"));
                                System.out.println(Files.readString(p));
                            } catch (IOException e) {
                                System.out.println("refused " + p);
                            }
                        });
            } catch (IOException | UncheckedIOException e) {
                System.out.println("cannot walk " + root);
            }
        }"""
    classmate = task.solution.replace("class Solution {", f"class Solution {{  // {secret}", 1)
    programs = [Program("reader", task, RIGHT % reader), Program("classmate", task, classmate)]
    outcomes = check_many(programs, tmp_path, jobs=1)
    assert "Solution.java: false" in outcomes["reader"].stdout  # it found and read its own file
    assert secret not in outcomes["reader"].stdout and ": true" not in outcomes["reader"].stdout
    assert outcomes["classmate"].status == "passed"


def test_printing_cannot_keep_a_case_alive(task, tmp_path):
    """A byte every half second: the case's wall clock (20 times its CPU budget) still stops it, and says so."""
    from fedjava.java.evidence import evidence_block

    keepalive = r"""
        while (nums != null) {
            System.out.print(".");
            System.out.flush();
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                return -1;
            }
        }"""
    outcome = review(task, wrong(method=keepalive), tmp_path, timeout=0.25)
    # what the run was, should this fail again (once in 7 full runs, with no case at all)
    seen = (outcome.status, outcome.stopped, outcome.stdout[-200:], outcome.stderr[-800:])
    assert [c.status for c in outcome.cases] == ["TIMEOUT"] and outcome.status == "timeout", seen
    assert outcome.cases[0].message == "5 s of wall-clock time"
    assert outcome.stdout.startswith("..")
    assert "did not finish within 5 s of wall-clock time" in evidence_block(outcome, 5)


def test_a_class_named_like_the_jdk_s_cannot_make_the_expected_values(tmp_path):
    """``class Integer`` of the student's would be the driver's Integer: Integer.MIN_VALUE, a test's expected
    value, becomes what the wrong program returns. Such a program is not run."""
    task = load_task(TASKS_DIR / "arrays_second_largest.yaml")
    cheat = """class Solution {
    static int secondLargest(int[] values) {
        return 42;
    }
}

class Integer {
    static final int MIN_VALUE = 42;
}
"""
    outcome = review(task, cheat, tmp_path)
    assert outcome.compiled and outcome.cases == [] and outcome.status == "failed"
    assert "class Integer hides java.lang.Integer" in outcome.stderr
    honest = task.solution + "\nclass Pair {\n    int first;\n}\n"  # a class of its own that hides nothing
    assert review(task, honest, tmp_path / "honest").status == "passed"
