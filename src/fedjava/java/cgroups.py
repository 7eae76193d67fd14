"""A cgroup per sandboxed command: one cap on the memory and the processes of everything it starts, together.

The rlimits of :mod:`fedjava.java.sandbox` count one process at a time (4 GB of address space each), so a
program starting six 1 GB children took 6 GB of the host. Here each command gets a folder of its own in the
memory and pids controllers, its first process is placed in it before it starts anything (a ``sh`` that
writes its pid there and then becomes the command), and every process it starts inherits it. When the
command's processes together go over the memory cap, the kernel's OOM killer ends one of them, and a watcher
here (every :data:`WATCH_SECONDS`) then kills all the others, so the run ends and says why
(:attr:`Cgroup.hit_memory_cap`). The folder is removed afterwards, with anything left in it killed (a run
with ``--unsafe-run`` has no PID namespace to do that).

Where: cgroup v1 (``/sys/fs/cgroup/memory`` and ``/sys/fs/cgroup/pids``, as root) under the caller's own
cgroup, so that the caps of a container fedjava runs in still apply; or cgroup v2 beside the caller's own
cgroup (a cgroup with processes cannot have children with controllers), where the memory and pids
controllers are enabled and the folder is writable (root, or a delegated systemd subtree). Nowhere else
(no root, no writable cgroup): one warning says so, and the rlimits stay the only caps.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("fedjava")

FOLDER = "fedjava"
WATCH_SECONDS = 0.05
NO_CGROUP_WARNING = (
    "no writable cgroup with the memory and pids controllers here, so each sandboxed command's "
    "processes are capped one at a time (address space, process count), not together: run "
    "fedjava as root to cap the memory and processes of each command as a whole"
)
_JOIN_SCRIPT = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'
_counter = itertools.count()


@dataclass
class Cgroup:
    """One command's cgroup: a folder per hierarchy (v1: memory and pids; v2: one)."""

    folders: tuple[Path, ...]
    version: int
    hit_memory_cap: bool = False
    """The OOM killer ended a process of the command: set by :meth:`watch`."""

    def join_command(self, command: list[str]) -> list[str]:
        """``command`` started by a ``sh`` that first moves itself into this cgroup (exit status 125 if it
        cannot), so that nothing of the command runs outside it."""
        sh = shutil.which("sh") or "/bin/sh"
        return [sh, "-c", _JOIN_SCRIPT, "sh", *(str(f / "cgroup.procs") for f in self.folders), "--", *command]

    def oom_kills(self) -> int:
        """Processes the OOM killer ended in this cgroup (v1: ``memory.oom_control``, v2: ``memory.events``)."""
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            text = (self.folders[0] / name).read_text()
        except OSError:
            return 0
        counts = dict(line.split() for line in text.splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", 0))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
        return found

    def kill(self) -> None:
        """Kill every process in the cgroup (again while some are left: they may have been forking)."""
        for _ in range(100):
            left = self.pids()
            if not left:
                return
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)

    @contextlib.contextmanager
    def watch(self):
        """While the command runs: when the OOM killer ends one of its processes, end the others too."""
        done = threading.Event()

        def watcher() -> None:
            while not done.wait(WATCH_SECONDS):
                if self.oom_kills():
                    self.hit_memory_cap = True
                    self.kill()
                    return

        thread = threading.Thread(target=watcher, name="fedjava-cgroup-watch", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()
            self.hit_memory_cap = self.hit_memory_cap or self.oom_kills() > 0

    def remove(self) -> None:
        """Kill what is left in the cgroup and remove its folders (the kernel needs a moment to let go)."""
        self.kill()
        for folder in self.folders:
            for _ in range(200):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)
            else:
                log.warning("could not remove the cgroup %s", folder)


def missing() -> str | None:
    """Why commands get no cgroup here (the warning given), or None when they do get one."""
    return None if _bases() is not None else NO_CGROUP_WARNING


def create(memory_bytes: int, processes: int) -> Cgroup | None:
    """A new cgroup capping its processes at ``memory_bytes`` (without swap) and ``processes`` (processes and
    threads); None where there is none to be had (warned once)."""
    bases = _bases()
    if bases is None:
        return None
    version, roots = bases
    name = f"{os.getpid()}-{next(_counter)}"
    group = Cgroup(tuple(root / name for root in roots), version)
    try:
        for folder in group.folders:
            folder.mkdir()
        _set_limits(group, memory_bytes, processes)
    except OSError as exc:
        group.remove()
        log.warning(
            "could not create a cgroup for a sandboxed command (%s): its processes are capped one at a time only", exc
        )
        return None
    return group


def _set_limits(group: Cgroup, memory_bytes: int, processes: int) -> None:
    if group.version == 1:
        memory, pids = group.folders
        (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting is on: no swapping around the cap
            (memory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        (pids / "pids.max").write_text(str(processes))
        return
    folder = group.folders[0]
    (folder / "memory.max").write_text(str(memory_bytes))
    for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):  # absent on some kernels
        if (folder / name).exists():
            (folder / name).write_text(value)
    (folder / "pids.max").write_text(str(processes))


@functools.lru_cache(maxsize=1)
def _bases() -> tuple[int, tuple[Path, ...]] | None:
    """Where this process's commands get their cgroups: (version, folders), tried once; None (warned) if nowhere."""
    mounts = _cgroup_mounts()
    own = _own_cgroups()
    tried = []
    memory, pids = mounts.get("memory"), mounts.get("pids")
    if memory and pids:
        roots = tuple(
            _under(mount, own.get(name, "/")) / FOLDER for name, mount in (("memory", memory), ("pids", pids))
        )
        tried.append((1, roots))
    if "" in mounts and "" in own:
        parent = os.path.dirname(own[""]) if own[""] != "/" else "/"
        tried.append((2, (_under(mounts[""], parent) / FOLDER,)))
    for version, roots in tried:
        if _usable(version, roots):
            return version, roots
    log.warning(NO_CGROUP_WARNING)
    return None


def _under(mount: Path, cgroup: str) -> Path:
    """The folder of ``cgroup`` (a path from /proc/self/cgroup) in the hierarchy mounted at ``mount``, or the
    mount itself when it does not show that far (a cgroup namespace)."""
    folder = mount / cgroup.lstrip("/")
    return folder if folder.is_dir() else mount


def _usable(version: int, roots: tuple[Path, ...]) -> bool:
    """Whether commands' cgroups can be made under ``roots``: make the folders, enable the controllers (v2),
    and clear out folders that crashed runs left."""
    try:
        for root in roots:
            root.mkdir(exist_ok=True)
        if version == 2:
            enabled = (roots[0] / "cgroup.subtree_control").read_text().split()
            if not {"memory", "pids"} <= set(enabled):
                (roots[0] / "cgroup.subtree_control").write_text("+memory +pids")
        probe = Cgroup(tuple(root / f"{os.getpid()}-probe" for root in roots), version)
        for folder in probe.folders:
            folder.mkdir(exist_ok=True)
        probe.remove()
    except OSError:
        return False
    for root in roots:
        _remove_stale(root)
    return True


def _remove_stale(root: Path) -> None:
    """Remove the empty folders of fedjava processes that are gone (killed before they could), once they are a
    minute old (a process in another PID namespace is not in /proc, and its folder may be about to be joined)."""
    for folder in root.iterdir():
        owner = folder.name.split("-")[0]
        with contextlib.suppress(OSError):
            if owner.isdigit() and not Path(f"/proc/{owner}").exists() and time.time() - folder.stat().st_mtime > 60:
                folder.rmdir()


def _cgroup_mounts() -> dict[str, Path]:
    """Mount points by controller: v1 ``memory`` and ``pids``, and ``""`` for the v2 hierarchy."""
    found: dict[str, Path] = {}
    for line in _lines("/proc/self/mounts"):
        fields = line.split()
        if len(fields) < 4:
            continue
        where, kind, options = Path(fields[1]), fields[2], fields[3].split(",")
        if kind == "cgroup2":
            found.setdefault("", where)
        elif kind == "cgroup":
            for name in ("memory", "pids"):
                if name in options:
                    found.setdefault(name, where)
    return found


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per controller (``""`` for v2), from /proc/self/cgroup."""
    found: dict[str, str] = {}
    for line in _lines("/proc/self/cgroup"):
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            found[name] = path
    return found


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:  # no /proc: no cgroup either
        return []
