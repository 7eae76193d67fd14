"""Run ``javac`` and ``java`` on code the project did not write, inside a bubblewrap sandbox.

Why: the fix check of ``fedjava evaluate`` compiles and runs model-predicted programs, ``fedjava data
build --tasks-dir`` runs whatever tasks it is given, and ``fedjava review`` and ``fedjava grade`` run students'
files. Such code can read or delete files, open sockets or start processes with ``Runtime.exec`` that outlive
the JVM and every limit the JVM sets (heap, the batch harness's per-case CPU budget). So every command gets:

* **namespaces** (bwrap): a network namespace with only its own loopback (no network), a PID namespace
  whose processes all die when the command ends or when fedjava dies (``--die-with-parent``), its own
  IPC, UTS and cgroup namespaces;
* **an allow-list of files** (:mod:`fedjava.java.mounts`): an empty, read-only root with only what the
  command's programs need bound read-only (the JDK, the libraries it links, ``setpriv`` and ``prlimit``), so
  nothing else of the host (class folders, home folders, ``/srv``, ``/etc/passwd``) is there to read; fresh
  ``/dev`` and ``/proc``; empty tmpfs over ``/tmp`` and ``/dev/shm`` (size-capped); the work folder mounted at
  :data:`WORK_INSIDE`, writable only while compiling; the harness sources read-only at :data:`JAVA_INSIDE`;
* **an unprivileged user without capabilities**: run as root, fedjava has ``setpriv`` switch to a uid of
  the command's own (:data:`SANDBOX_UIDS`) with no capabilities and ``no_new_privs`` (set-uid programs
  cannot give root back); run as another user, bwrap maps that user in a user namespace of its own
  (nested user namespaces disabled);
* **rlimits** (``prlimit`` inside the sandbox, so that the process limit counts only the command's own
  processes and threads): CPU seconds, address space, processes/threads, file size, no core files;
* **a cgroup** (:mod:`fedjava.java.cgroups`, where one can be made: as root): one cap on the memory and
  the processes of everything the command starts, together; going over the memory cap ends the whole run
  (``stopped`` is ``"memory_limit"``);
* **a wall clock and an output cap** (:mod:`fedjava.java.supervise`): the command is killed when either
  is exceeded and the result says which (``stopped``);
* **a clean environment**: only PATH and the locale pass, with ``HOME=/tmp``;
* **sealed** (``Sandbox(sealed=True)``, for running a program fedjava did not write): every tmpfs above and
  ``/dev`` are read-only too, so there is no place to write a file, and none to load a native library from;
  and ``java`` is bound over by a copy only executable, not readable: the kernel makes a process started
  from a file it cannot read non-dumpable, so ``/proc/self/mem`` and ``/proc/self/fd`` belong to root and
  no process of the same user can ptrace the JVM, read or write its memory.

When bwrap is missing or cannot create its namespaces, :func:`require_sandbox` refuses with
:class:`SandboxUnavailableError`; ``unsafe=True`` (the ``--unsafe-run`` options) runs the same command
without namespaces, keeping the rlimits, the cgroup, the wall clock and the output cap.
"""

from __future__ import annotations

import atexit
import functools
import os
import secrets
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fedjava.errors import UserError
from fedjava.java import cgroups
from fedjava.java.mounts import JDK_PROGRAMS, prefetch, view_for
from fedjava.java.supervise import Finished, supervise

BWRAP_ENV = "FEDJAVA_BWRAP"
"""Environment variable naming the bwrap binary (default: ``bwrap`` on PATH)."""
SANDBOX_UIDS = (1 << 30, 1 << 31)
"""Run as root, each command runs as a uid drawn from this range (no account has one) ..."""
SANDBOX_GID = SANDBOX_UIDS[0]
"""... and in this group, which is given the folders the commands use."""
WORK_INSIDE = "/tmp/fedjava/work"
JAVA_INSIDE = "/tmp/fedjava/java"
JAVA_RESOURCES = Path(__file__).parent / "resources"
TMP_BYTES = 64 << 20
OUTPUT_BYTES = 8 << 20
KEPT_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ")
UNSAFE_HINT = "or pass --unsafe-run to run the code without isolation"
INSTALL_HINT = (
    "install bubblewrap ('apt-get install bubblewrap' on Debian/Ubuntu, 'dnf install bubblewrap' on "
    f"Fedora), {UNSAFE_HINT}"
)


class SandboxUnavailableError(UserError):
    """bwrap is missing or cannot create namespaces here, so untrusted code is not run."""


@dataclass(frozen=True)
class Limits:
    """What one sandboxed command may use; each is a backstop, the harness keeps its own per-case budget."""

    cpu_seconds: int
    wall_seconds: float
    memory_bytes: int = 4 << 30
    """Address space per process: a JVM with a 96 MB heap reserves about 1.5 GB of it (its class space, code
    cache and malloc arenas are reserved, not used)."""
    processes: int = 256
    """Processes and threads together (a JVM runs about 20 threads of its own): per user as an rlimit, and for
    the whole command in its cgroup."""
    total_memory_bytes: int = 1 << 30
    """Memory of all the command's processes together (resident, and the files they write to /tmp), where it
    gets a cgroup. Room for the largest heap fedjava gives a JVM (BatchCompile's -Xmx512m) with the JVM's own
    memory around it; measured peaks: 170 MB for BatchCompile on a chunk of 400 programs, 85 MB for the batch
    JVM (-Xmx96m) running them, 44 MB for javac (-J-Xmx256m) on one program."""
    file_bytes: int = 64 << 20
    output_bytes: int = OUTPUT_BYTES
    """stdout and stderr together, as read here."""


@dataclass(frozen=True)
class Sandbox:
    """The view one command has of the host: ``work`` (mounted read-write when ``writable``) and the harness.

    ``unsafe`` runs the command in place, without namespaces (``--unsafe-run``).
    """

    work: Path
    writable: bool = False
    unsafe: bool = False
    reads: tuple[Path, ...] = ()
    """Folders in ``work`` a read-only command reads (given to its user when fedjava runs as root)."""
    tools: tuple[str, ...] = ()
    """Programs on the host, other than the command's own, that it may start (``sleep`` for a shell
    command); a ``java`` command may start ``java`` again without naming it here."""
    sealed: bool = False
    """No writable place at all, and a JVM whose memory no process can read or write (module docstring)."""

    def path(self, host: Path | str) -> str:
        """Where the command sees ``host`` (a path inside ``work``)."""
        if self.unsafe:
            return str(host)
        relative = os.path.relpath(os.path.abspath(host), os.path.abspath(self.work))
        if relative == ".." or relative.startswith("../"):
            raise ValueError(f"{host} is outside the sandbox's folder {self.work}")
        return WORK_INSIDE if relative == "." else f"{WORK_INSIDE}/{relative}"

    def harness(self, name: str) -> str:
        """Where the command sees the harness source ``name`` (BatchRun.java, BatchCompile.java)."""
        return str(JAVA_RESOURCES / name) if self.unsafe else f"{JAVA_INSIDE}/{name}"

    def run(self, argv: list[str], limits: Limits, stdin: str = "") -> Finished:
        """Run ``argv`` (``java`` or ``javac`` first) in ``work`` under ``limits``; refuse without a sandbox."""
        if not self.unsafe:
            require_sandbox()
        return _run(self, argv, limits, stdin)


def bwrap_path() -> str | None:
    """The bwrap binary: $FEDJAVA_BWRAP when set (a test points it at a missing file), else bwrap on PATH."""
    chosen = os.environ.get(BWRAP_ENV)
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap")


def require_sandbox() -> None:
    """Raise SandboxUnavailableError, naming how to install bubblewrap, unless a sandbox can be made here."""
    problem = _probe(bwrap_path() or "")
    if problem:
        raise SandboxUnavailableError(problem)


@functools.lru_cache(maxsize=8)
def _probe(bwrap: str) -> str | None:
    """Why no sandbox can be made with ``bwrap`` (None when one can): tried once per binary with ``true``."""
    if not bwrap:
        where = os.environ.get(BWRAP_ENV) or "'bwrap' on PATH"
        return (
            f"untrusted Java code is only run inside a sandbox, and bubblewrap was not found ({where}): {INSTALL_HINT}"
        )
    with tempfile.TemporaryDirectory(prefix="fedjava-probe-") as tmp:
        try:
            done = _run(Sandbox(Path(tmp)), ["true"], Limits(cpu_seconds=10, wall_seconds=30))
        except OSError as exc:
            done = Finished(-1, "", str(exc))
    if done.returncode == 0:
        prefetch(list(JDK_PROGRAMS))  # javac and java run next: find what they need beside the model's loading
        return None
    reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return (
        f"bubblewrap ({bwrap}) cannot create the sandbox's namespaces here ({reason}); allow unprivileged "
        f"user namespaces (sysctl user.max_user_namespaces), {UNSAFE_HINT}"
    )


# ---------------------------------------------------------------- the command


def _run(box: Sandbox, argv: list[str], limits: Limits, stdin: str = "") -> Finished:
    """Start ``argv`` as the module docstring says, feed it ``stdin``, read it, and stop it at a limit."""
    group = cgroups.create(limits.total_memory_bytes, limits.processes)
    if group is None:
        return _start(box, argv, limits, stdin, None)
    try:
        with group.watch():
            done = _start(box, argv, limits, stdin, group)
    finally:
        group.remove()
    if group.hit_memory_cap:
        done.stopped = "memory_limit"
    return done


def _start(box: Sandbox, argv: list[str], limits: Limits, stdin: str, group: cgroups.Cgroup | None) -> Finished:
    """Run the command, in ``group`` when there is one."""
    command = [*_prlimit(limits), _tool(argv[0]), *argv[1:]]
    caps = {"stdin": stdin, "wall_seconds": limits.wall_seconds, "output_bytes": limits.output_bytes}
    join = group.join_command if group else list
    if box.unsafe:
        if shutil.which("prlimit") is None:  # no isolation asked for: the limits where they can be set
            command = command[command.index("--") + 1 :]
        return supervise(join(command), cwd=box.work, **caps)
    info_read, info_write = os.pipe()  # bwrap writes the pid of the sandbox's first process there
    try:
        command = _bwrap_command(box, _as_sandbox_user(box, command), info_write, [argv[0], *box.tools])
        return supervise(join(command), info=(info_read, info_write), **caps)
    finally:
        os.close(info_read)


def _tool(name: str) -> str:
    """The real path of a tool on PATH: the sandbox binds the real file (:mod:`fedjava.java.mounts`), and the
    symlinks on the way to it only where it also binds their targets."""
    found = shutil.which(name)
    return os.path.realpath(found) if found else name


def _prlimit(limits: Limits) -> list[str]:
    """``prlimit`` with every rlimit, run inside the sandbox: a process limit set outside would also count the
    processes of the same user outside the sandbox."""
    return [
        _tool("prlimit"),
        f"--cpu={limits.cpu_seconds}",
        f"--as={limits.memory_bytes}",
        f"--nproc={limits.processes}",
        f"--fsize={limits.file_bytes}",
        "--core=0",
        "--",
    ]


def _bwrap_command(box: Sandbox, command: list[str], info_fd: int, programs: list[str]) -> list[str]:
    """The bwrap command line around ``command``, which starts ``programs``: see the module docstring.

    ``command`` is the PID namespace's first process (``--as-pid-1``): when it ends, the kernel kills every
    other process in the namespace before bwrap sees it end, so nothing is left when the run returns.
    """
    args = [
        bwrap_path() or "bwrap",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--as-pid-1",
        "--info-fd",
        str(info_fd),
    ]
    if os.geteuid() == 0:  # setpriv inside switches to the sandbox's own user
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        args += ["--unshare-user", "--disable-userns"]
    args += ["--dev", "/dev", "--proc", "/proc"]
    for scratch in ("/tmp", "/dev/shm"):  # writable by everyone, as on the host
        args += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", scratch]
    wrappers = ["prlimit", "setpriv"] if os.geteuid() == 0 else ["prlimit"]
    args += view_for([*wrappers, *programs]).bwrap_args()
    args += [
        "--perms",
        "0755",
        "--dir",
        os.path.dirname(WORK_INSIDE),
        "--bind" if box.writable else "--ro-bind",
        str(box.work),
        WORK_INSIDE,
        "--ro-bind",
        str(JAVA_RESOURCES),
        JAVA_INSIDE,
        "--remount-ro",
        "/",
    ]
    if box.sealed and not box.writable:
        args += [arg for folder in ("/tmp", "/dev/shm", "/dev") for arg in ("--remount-ro", folder)]
        for java in (part for part in command if Path(part).name == "java" and os.path.isabs(part)):
            args += ["--ro-bind", _execute_only_copy(java), java]
    args += ["--chdir", WORK_INSIDE, "--clearenv", "--setenv", "HOME", "/tmp"]
    for name in KEPT_ENV:
        if name in os.environ:
            args += ["--setenv", name, os.environ[name]]
    return [*args, "--", *command]


@functools.lru_cache(maxsize=4)
def _execute_only_copy(binary: str) -> str:
    """A copy of ``binary`` (the java launcher, a few kB) that can be executed but not read, made once per
    process and removed when it ends."""
    folder = tempfile.mkdtemp(prefix="fedjava-launcher-")
    atexit.register(shutil.rmtree, folder, True)
    os.chmod(folder, 0o755)
    copy = os.path.join(folder, os.path.basename(binary))
    shutil.copyfile(binary, copy)
    os.chmod(copy, 0o111)
    return copy


def _is_under(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def _as_sandbox_user(box: Sandbox, command: list[str]) -> list[str]:
    """``command`` run as a user of its own when fedjava runs as root (else unchanged: bwrap maps the caller).

    The kernel applies no process limit to root and counts processes per user, so each command gets a fresh
    uid from a range no account uses: one command's processes do not eat into another's. All share the
    group :data:`SANDBOX_GID`, which is given the work folder (commands running at the same time read the
    same folders).
    """
    if os.geteuid() != 0:
        return command
    for path in _handed_over(box):
        _share_with_sandbox_group(path, box.writable)
    uid = SANDBOX_UIDS[0] + 1 + secrets.randbelow(SANDBOX_UIDS[1] - SANDBOX_UIDS[0] - 1)
    return [
        _tool("setpriv"),
        f"--reuid={uid}",
        f"--regid={SANDBOX_GID}",
        "--clear-groups",
        "--no-new-privs",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
        *command,
    ]


def _handed_over(box: Sandbox) -> list[str]:
    """The work folder, and everything in it (writable) or the folders it reads, their contents and the
    folders on the way to them (read-only)."""
    root = os.path.abspath(box.work)
    paths = {root}
    for tree in [root] if box.writable else [os.path.abspath(p) for p in box.reads]:
        parent = os.path.dirname(tree)
        while _is_under(parent, root) and parent != root:
            paths.add(parent)
            parent = os.path.dirname(parent)
        for folder, dirs, files in os.walk(tree):
            paths.add(folder)
            paths.update(os.path.join(folder, name) for name in dirs + files)
    return sorted(paths)


def _share_with_sandbox_group(path: str, writable: bool) -> None:
    """Give ``path`` to the sandbox group: read (and write, when ``writable``) for files, enter for folders."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return
    wanted = info.st_mode | stat.S_IRGRP | (stat.S_IWGRP if writable else 0)
    if stat.S_ISDIR(info.st_mode) or info.st_mode & stat.S_IXUSR:
        wanted |= stat.S_IXGRP
    if info.st_gid != SANDBOX_GID:
        os.chown(path, -1, SANDBOX_GID, follow_symlinks=False)
    if stat.S_IMODE(wanted) != stat.S_IMODE(info.st_mode):
        os.chmod(path, stat.S_IMODE(wanted))
