"""What of the host's files a sandboxed command sees: an allow-list, worked out from the programs it runs.

The sandbox (:mod:`fedjava.java.sandbox`) starts from an empty root and binds, read-only, only what
the command's programs need to start, so a class folder, a home folder or a data disk anywhere on the host
(``/srv``, ``/var/tmp``, ``/mnt``) is simply not there:

* a program's real file (symlinks resolved) and, for ``java``/``javac``, its whole JDK (``.../bin/java`` ->
  ``...``) with the files outside it that the JDK links to (Debian keeps its configuration in
  ``/etc/java-17-openjdk`` and its certificates in ``/etc/ssl/certs/java``);
* the shared libraries and the dynamic loader these programs and the JDK's own libraries link, as ``ldd``
  lists them (only where ``ldd`` is missing, the standard library folders ``/lib``, ``/usr/lib``, ...);
* the path the program is found by on PATH (``/usr/bin/java -> /etc/alternatives/java -> ...``), so that
  a program may start ``java`` again;
* what the C library reads at start: the loader's cache, the local time zone and the compiled locales.

Every symlink on the way to a bound file is recreated as the same symlink, so paths resolve inside as
they do outside whatever the layout (merged ``/usr`` or not, Debian's multiarch folders or Fedora's
``lib64``). Working this out costs one ``ldd`` run per program (0.2 s for a whole JDK on an idle machine),
once per process; :func:`prefetch` starts it early, beside other work (the model loading).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import threading
from dataclasses import dataclass, field

JDK_PROGRAMS = ("java", "javac")
C_LIBRARY_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/timezone", "/usr/lib/locale")
"""Read by the dynamic loader (where to find libraries) and the C library (time zone, LANG's locale)."""
LIBRARY_FOLDERS = ("/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32")
"""Bound instead of the exact libraries only where ``ldd`` is missing."""
_LDD_PATH_RE = re.compile(r"(/\S+) \(0x[0-9a-f]+\)$")
_MAX_LINKS = 40  # as the kernel's limit on symlinks in one path: a loop ends here
_working_out = threading.RLock()  # one thread works a program's view out; the others wait for it


@dataclass
class View:
    """Host paths a command sees: ``binds`` (real paths, bound read-only at the same place) and ``links``
    (symlink path -> its target, recreated)."""

    binds: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)

    def add(self, other: View) -> None:
        self.binds |= other.binds
        self.links.update(other.links)

    def bwrap_args(self) -> list[str]:
        """The bwrap options making this view, without what a bound folder already shows."""
        folders = [b for b in self.binds if os.path.isdir(b)]

        def shown(path: str) -> bool:
            return any(path != f and _is_under(path, f) for f in folders)

        binds = sorted(p for p in self.binds if not shown(p))
        links = sorted((p, t) for p, t in self.links.items() if not shown(p))
        parents = {os.path.dirname(p) for p in [*binds, *(p for p, _ in links)]}
        for parent in list(parents):
            while parent != "/":
                parents.add(parent)
                parent = os.path.dirname(parent)
        args = []
        for parent in sorted(parents - {"/"}):  # made here: bwrap would make them 0700
            args += ["--perms", "0755", "--dir", parent]
        for path in binds:
            args += ["--ro-bind", path, path]
        for path, target in links:
            args += ["--symlink", target, path]
        return args


def view_for(programs: list[str]) -> View:
    """What ``programs`` (names on PATH or paths) need, with the C library's files: see the module docstring."""
    view = View()
    view.add(_c_library_view())
    for program in programs:
        view.add(program_view(program))
    return view


def prefetch(programs: list[str]) -> None:
    """Work out what ``programs`` need in a thread of its own, so that their first sandboxed run does not wait."""
    threading.Thread(target=view_for, args=(programs,), name="fedjava-sandbox-view", daemon=True).start()


def program_view(program: str) -> View:
    """What one program needs: itself (its JDK for ``java``/``javac``), its libraries and how PATH reaches it.

    A program that is not found gets an empty view: running it inside fails as it would outside.
    """
    with _working_out:
        return _program_view(program)


@functools.lru_cache(maxsize=32)
def _program_view(program: str) -> View:
    found = shutil.which(program)
    if found is None:
        return View()
    real = os.path.realpath(found)
    view = View()
    view.add(expose(found))
    jdk = _jdk_home(real)
    elf_files = [real]
    if jdk:
        view.binds.add(jdk)
        for link in _links_leaving(jdk):
            view.add(expose(link))
        elf_files = _jdk_elf_files(jdk)
    elif (interpreter := _interpreter(real)) is not None:
        view.add(program_view(interpreter))  # a script: its interpreter too
    view.add(_library_view(tuple(elf_files)))
    return view


def expose(path: str) -> View:
    """The binds and symlinks that make ``path`` resolve inside as it does on the host (empty if it does not
    exist).

    Walks ``path`` one part at a time from ``/``: a symlink is recorded and its target walked in its place,
    so the folder being walked is always a real one and ``..`` in a target means its real parent.
    """
    view = View()
    pending = [p for p in path.split("/") if p]
    current, hops = "/", 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        try:
            info = os.lstat(candidate)
        except OSError:
            return View()
        if stat.S_ISLNK(info.st_mode):
            hops += 1
            if hops > _MAX_LINKS:
                return View()
            target = os.readlink(candidate)
            view.links[candidate] = target
            if target.startswith("/"):
                current = "/"
            pending = [p for p in target.split("/") if p] + pending
            continue
        current = candidate
    view.binds.add(current)
    return view


def _is_under(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


@functools.lru_cache(maxsize=1)
def _c_library_view() -> View:
    view = View()
    for path in C_LIBRARY_FILES:
        view.add(expose(path))
    return view


def _jdk_home(real: str) -> str | None:
    """The JDK a ``java``/``javac`` binary belongs to (``<home>/bin/java``, with ``<home>/lib``), else None."""
    bin_folder = os.path.dirname(real)
    home = os.path.dirname(bin_folder)
    if (
        os.path.basename(real) in JDK_PROGRAMS
        and os.path.basename(bin_folder) == "bin"
        and os.path.isdir(os.path.join(home, "lib"))
    ):
        return home
    return None


def _links_leaving(folder: str) -> list[str]:
    """Symlinks in ``folder``'s tree whose target lies outside it (left dangling by the bind otherwise)."""
    leaving = []
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(parent, name)
            if os.path.islink(path) and not _is_under(os.path.realpath(path), folder):
                leaving.append(path)
    return leaving


def _jdk_elf_files(home: str) -> list[str]:
    """The JDK's programs and its own shared libraries (all of them: which ones a program loads depends on
    what it does, ``java.awt.image`` loads more than ``println``)."""
    files = []
    for parent, _, names in os.walk(os.path.join(home, "lib")):
        files += [os.path.join(parent, n) for n in names if n.endswith(".so")]
    bin_folder = os.path.join(home, "bin")
    files += [os.path.join(bin_folder, n) for n in JDK_PROGRAMS if os.path.isfile(os.path.join(bin_folder, n))]
    return sorted(f for f in files if not os.path.islink(f))  # a link's target is a file of its own


def _interpreter(path: str) -> str | None:
    """The interpreter on a script's ``#!`` line."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(256)
    except OSError:
        return None
    parts = first[2:].decode("utf-8", "replace").split() if first.startswith(b"#!") else []
    return parts[0] if parts else None


@functools.lru_cache(maxsize=32)
def _library_view(elf_files: tuple[str, ...]) -> View:
    """The shared libraries and loader ``elf_files`` link, each exposed (one ``ldd`` for all)."""
    ldd = shutil.which("ldd")
    view = View()
    if ldd is None:
        for folder in LIBRARY_FOLDERS:
            view.add(expose(folder))
        return view
    done = subprocess.run([ldd, *elf_files], capture_output=True, text=True, timeout=120, check=False)
    for line in done.stdout.splitlines():
        found = _LDD_PATH_RE.search(line.strip())
        if found:
            view.add(expose(found.group(1)))
    return view
