"""Find the students in a folder or a zip of submissions, and read each one's Java file.

Layouts (both in one folder or zip are fine):

* one ``.java`` file per student: ``alice.java`` -> student ``alice``;
* one folder per student holding one ``.java`` file anywhere below it: ``bob/src/Solution.java`` -> ``bob``
  (what Moodle's "download all submissions" and most LMS exports give), or several (``Solution.java`` and a
  helper class): graded as one text, compiled together (:mod:`fedjava.java.sources`).

* the files of a Canvas or Moodle "download all submissions" zip (:mod:`fedjava.grading.lms`):
  ``smithalice_late_101_5002_Solution.java`` -> student ``smithalice_101``, Canvas user 101, late;
  ``Bob Jones_123456_assignsubmission_file_/Solution.java`` -> ``Bob Jones_123456``, Moodle participant 123456.
  A student's files are grouped by the LMS's id; of several uploads of one file the newest is graded, and the
  others are named in :attr:`Submission.replaced`. A student's files that are not ``.java`` files (Moodle's
  ``onlinetext.html``, a README) are left aside.

A zip whose only top-level entry is a folder (a zipped class folder) is read from inside that folder.
Hidden files (``.DS_Store``), ``__MACOSX/`` and ``__pycache__/`` are ignored, and so is a top-level file that
is neither a ``.java`` file nor named by an LMS (``notes.txt``, ``grades.xlsx``): it is no student, and
:attr:`Collected.ignored` names it. Every other entry is a student: a folder of several ``.java`` files (Solution
and its helper classes) is one submission compiled together; one that cannot be graded (empty, binary, not UTF-8,
over 200 KB, a folder with no ``.java`` file or more than 20, a second submission with the same id) gets a
:class:`Submission` with ``problem`` set, so the teacher sees a row saying why, and the run goes on. A zip is read
in memory, never unpacked to disk, and each entry is read only up to the size limit (a zip bomb costs nothing).

Symbolic links (on disk, or zip entries whose Unix mode says link) are resolved: one to a file inside the
class folder (or zip) reads that file; one that leaves it (``linky.java -> /root/.bashrc``), points to a
folder or to nothing makes its student's row say so, and nothing behind it is read.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from fedjava.errors import UserError
from fedjava.grading.lms import CANVAS, LmsName, newest, parse_name
from fedjava.java.sources import combine_files
from fedjava.review_inputs import MAX_FILE_BYTES, ReviewError, decode_text

MAX_ENTRIES = 20_000
MAX_FILES = 20
"""The most .java files one student's submission may have (they are compiled together)."""
IGNORED = ("__MACOSX", "__pycache__")
MAX_LINKS = 8
"""Links followed in a row inside a zip (a link to a link ...) before the chain counts as a loop."""


class SubmissionsError(UserError):
    """The SUBMISSIONS argument is not a folder or zip of submissions."""


@dataclass(frozen=True)
class Submission:
    """One student's submission: the code, or why it cannot be graded."""

    student: str
    source: str
    """where the file came from, relative to SUBMISSIONS (e.g. ``bob/src/Solution.java``)"""
    code: str | None = None
    problem: str | None = None
    sha256: str = ""
    """of the file's bytes: a rerun regrades a student only when it changed"""
    lms: str = ""
    """``canvas`` or ``moodle`` when the files carry that LMS's names, else empty"""
    lms_id: str = ""
    """the LMS's id of the student: Canvas's user id, Moodle's participant id"""
    name: str = ""
    """the student's name as the LMS wrote it"""
    late: bool = False
    """Canvas marked the graded file late"""
    replaced: tuple[str, ...] = ()
    """older uploads of the same file, left out (where they came from)"""


@dataclass(frozen=True)
class Collected:
    """The students of a class, and the top-level files that are no submission."""

    submissions: list[Submission]
    ignored: list[str]


@dataclass(frozen=True)
class _Entry:
    parts: tuple[str, ...]
    read: Callable[[], bytes]
    size: int
    problem: str | None = None
    """why the entry is not read (a symbolic link leaving the class folder)"""


def collect(
    path: str | Path, leave_out: Callable[[list[tuple[str, ...]]], set[tuple[str, ...]]] | None = None
) -> list[Submission]:
    """Every student in ``path`` (a folder or a .zip), sorted by student id (:func:`collect_class`)."""
    return collect_class(path, leave_out).submissions


def collect_class(
    path: str | Path, leave_out: Callable[[list[tuple[str, ...]]], set[tuple[str, ...]]] | None = None
) -> Collected:
    """Every student in ``path`` (a folder or a .zip), sorted by student id, and the files that are no submission.
    ``leave_out`` names, among the entries' paths (parts relative to ``path``), those that are no submission (a
    grade output folder inside)."""
    path = Path(path)
    if not path.exists():
        raise SubmissionsError(f"{path}: no such folder or zip file")
    if path.is_dir():
        entries = _folder_entries(path)
    elif path.is_file() and zipfile.is_zipfile(path):  # not a pipe: opening one waits for a writer
        entries = _zip_entries(path)
    else:
        raise SubmissionsError(
            f"{path}: not a folder or a zip file; give the folder (or zip) that holds one .java "
            "file or one folder per student"
        )
    if leave_out is not None:
        skipped = leave_out([e.parts for e in entries])
        entries = [e for e in entries if e.parts not in skipped]
    entries = _unwrap(entries)
    students: dict[str, list[_Entry]] = {}
    lms: dict[str, list[tuple[LmsName, _Entry]]] = {}
    ignored = []
    for entry in entries:
        named = parse_name(entry.parts[0], folder=len(entry.parts) > 1)
        if named is not None:
            lms.setdefault(named.student, []).append((named, entry))
        elif len(entry.parts) == 1 and not entry.parts[0].lower().endswith(".java"):
            ignored.append(entry.parts[0])
        else:
            students.setdefault(entry.parts[0] if len(entry.parts) > 1 else _stem(entry.parts[0]), []).append(entry)
    if not students and not lms:
        what = f" (only {len(ignored)} other file(s): {', '.join(sorted(ignored)[:3])})" if ignored else ""
        raise SubmissionsError(
            f"{path}: no submissions found{what}; expected one .java file or one folder per "
            "student, or the zip Canvas or Moodle gives"
        )
    found = [_read_student(student, files) for student, files in students.items() if student not in lms]
    found += [_read_lms_student(student, files) for student, files in lms.items()]
    found += [
        Submission(
            student, student, problem=f"both an LMS submission and a file or folder are named {student}; keep one"
        )
        for student in students
        if student in lms
    ]
    return Collected(sorted(found, key=lambda s: s.student), sorted(ignored))


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name.strip(".") else name


def _visible(parts: tuple[str, ...]) -> bool:
    return not any(p.startswith(".") or p in IGNORED for p in parts)


def _folder_entries(root: Path) -> list[_Entry]:
    real_root = root.resolve()
    entries = []
    for folder, dirs, files in os.walk(root):  # a link to a folder is listed in dirs, never entered
        dirs[:] = [d for d in dirs if _visible((d,))]
        for name in dirs + files:
            path = Path(folder) / name
            parts = path.relative_to(root).parts
            if path.is_symlink() and _visible(parts):
                entries.append(_linked_entry(path, parts, real_root))
            elif name in files and path.is_file() and _visible(parts):
                entries.append(_Entry(parts, functools.partial(_read_file, path), path.stat().st_size))
            if len(entries) > MAX_ENTRIES:
                raise SubmissionsError(f"{root}: more than {MAX_ENTRIES} files; is this the right folder?")
    return sorted(entries, key=lambda e: e.parts)


def _linked_entry(link: Path, parts: tuple[str, ...], real_root: Path) -> _Entry:
    """A symbolic link in the class folder: the file it leads to when that is inside the class folder."""
    shown = os.readlink(link)
    try:
        target = link.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a loop of links
        return _Entry(
            parts,
            bytes,
            0,
            f"{'/'.join(parts)} is a symbolic link that cannot be followed ({shown}); give the .java file itself",
        )
    if not target.is_relative_to(real_root):
        return _Entry(
            parts,
            bytes,
            0,
            f"{'/'.join(parts)} is a symbolic link to {shown}, outside the class "
            "folder; it was not read (copy the file in instead)",
        )
    if not target.is_file():
        what = "a folder" if target.is_dir() else "a missing file"
        return _Entry(
            parts, bytes, 0, f"{'/'.join(parts)} is a symbolic link to {what} ({shown}); give the .java file itself"
        )
    return _Entry(parts, functools.partial(_read_file, target), target.stat().st_size)


def _read_file(path: Path) -> bytes:
    """At most one byte over the size limit of ``path``, refusing a symlink put there since it was listed."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as handle:
        return handle.read(MAX_FILE_BYTES + 1)


def _zip_entries(path: Path) -> list[_Entry]:
    try:
        archive = zipfile.ZipFile(path)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise SubmissionsError(f"{path}: cannot read the zip file ({exc})") from exc
    if len(infos) > MAX_ENTRIES:
        raise SubmissionsError(f"{path}: more than {MAX_ENTRIES} entries; is this the right zip?")
    by_parts = {_zip_parts(info): info for info in infos if not info.is_dir()}
    entries = []
    for info in infos:
        parts = _zip_parts(info)
        if info.is_dir() or not parts or not _visible(parts):
            continue
        if _is_zip_link(info):
            entries.append(_zip_linked_entry(archive, info, parts, by_parts))
            continue
        entries.append(_Entry(parts, functools.partial(_read_zip_entry, archive, info), info.file_size))
    return entries


def _zip_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(info.filename.replace("\\", "/")).parts if p not in ("", ".", "..", "/"))


def _is_zip_link(info: zipfile.ZipInfo) -> bool:
    """Whether the entry is a symbolic link: the Unix mode in the high bits of its external attributes says so
    (``zip --symlinks``, Info-ZIP and Python store links so; its content is the link's target)."""
    return stat.S_ISLNK(info.external_attr >> 16)


def _zip_linked_entry(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    parts: tuple[str, ...],
    by_parts: dict[tuple[str, ...], zipfile.ZipInfo],
) -> _Entry:
    """A link in the zip: the entry it leads to when that is in the zip, else why not."""
    name, current = "/".join(parts), info
    for _ in range(MAX_LINKS):
        with archive.open(current) as handle:
            target = handle.read(4096).decode("utf-8", "replace")
        where = _inside(_zip_parts(current)[:-1], target)
        if where is None:
            return _Entry(
                parts,
                bytes,
                0,
                f"{name} is a symbolic link to {target}, outside the zip; it was not "
                "read (put the file itself in the zip)",
            )
        if where not in by_parts:
            return _Entry(
                parts,
                bytes,
                0,
                f"{name} is a symbolic link to {target}, which is not in the zip; give the .java file itself",
            )
        current = by_parts[where]
        if not _is_zip_link(current):
            return _Entry(parts, functools.partial(_read_zip_entry, archive, current), current.file_size)
    return _Entry(
        parts, bytes, 0, f"{name} is a chain of more than {MAX_LINKS} symbolic links; give the .java file itself"
    )


def _inside(folder: tuple[str, ...], target: str) -> tuple[str, ...] | None:
    """Where the link ``target``, written in ``folder``, leads in the zip; None when it leaves the zip."""
    target = target.replace("\\", "/")
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        return None
    parts = list(folder)
    for part in target.split("/"):
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return tuple(parts)


def _read_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    with archive.open(info) as handle:
        return handle.read(MAX_FILE_BYTES + 1)  # never more than the limit, whatever the header says


def _unwrap(entries: list[_Entry]) -> list[_Entry]:
    """Entries relative to the class folder when everything sits in one top folder that is not one student's."""
    while entries and all(len(e.parts) > 1 for e in entries):
        top = {e.parts[0] for e in entries}
        children = {e.parts[1] for e in entries}
        only_folders = all(len(e.parts) > 2 for e in entries)
        if len(top) != 1 or (len(children) < 2 and not only_folders) or parse_name(next(iter(top)), folder=True):
            break
        entries = [_Entry(e.parts[1:], e.read, e.size, e.problem) for e in entries]
    return entries


def _read_files(student: str, source: str, java: list[_Entry]) -> Submission:
    """A submission of several .java files (Solution and its helper classes): graded as one text, the files compiled
    together (:func:`fedjava.java.sources.combine_files`)."""

    if len(java) > MAX_FILES or sum(f.size for f in java) > MAX_FILE_BYTES:
        return Submission(
            student,
            source,
            problem=f"{len(java)} .java files of {sum(f.size for f in java) / 1000:.0f} "
            f"KB; a submission may have at most {MAX_FILES} files and "
            f"{MAX_FILE_BYTES // 1000} KB",
        )
    codes, digest = [], hashlib.sha256()
    for entry in java:
        name = "/".join(entry.parts[1:])
        try:
            data = entry.read()
        except (OSError, zipfile.BadZipFile, RuntimeError) as exc:
            return Submission(student, source, problem=f"{name} cannot be read ({exc})")
        digest.update(name.encode() + b"\0" + data + b"\0")
        try:
            codes.append((name, decode_text(data, name)))
        except ReviewError as exc:
            return Submission(student, source, problem=str(exc), sha256=digest.hexdigest())
    return Submission(student, source, code=combine_files(codes), sha256=digest.hexdigest())


def _read_lms_student(student: str, files: list[tuple[LmsName, _Entry]]) -> Submission:
    """One student of a Canvas or Moodle zip: the newest upload of each file, its one ``.java`` file read."""
    first = files[0][0]
    who = {"lms": first.lms, "lms_id": first.user_id, "name": first.name}
    # inside a Moodle folder a file's own name is its path below the folder; Canvas names each file itself
    own = [
        (named if len(entry.parts) == 1 else replace(named, file="/".join(entry.parts[1:])), entry)
        for named, entry in files
    ]
    kept, replaced = newest(own) if first.lms == CANVAS else (own, [])
    old = tuple("/".join(entry.parts) for _, entry in replaced)
    refused = [entry for _, entry in kept if entry.problem]
    if refused:
        return Submission(student, "/".join(refused[0].parts), problem=refused[0].problem, replaced=old, **who)
    java = [(named, entry) for named, entry in kept if named.file.lower().endswith(".java")]
    late = any(named.late for named, _ in java)
    if not java:
        listed = ", ".join(named.file for named, _ in kept[:5])
        return Submission(
            student,
            "/".join(kept[0][1].parts),
            problem=f"no .java file in the submission (files: {listed}); each student needs one .java file",
            late=late,
            replaced=old,
            **who,
        )
    # read as a folder of the student's files would be (one file, or several compiled together where supported)
    read = _read_student(
        student, [_Entry((student, *named.file.split("/")), entry.read, entry.size) for named, entry in java]
    )
    source = "/".join(java[0][1].parts) if len(java) == 1 else student
    return replace(read, source=source, late=late, replaced=old, **who)


def _read_student(student: str, files: list[_Entry]) -> Submission:
    folder = len(files[0].parts) > 1
    refused = [f for f in files if f.problem]
    if refused:
        return Submission(student, "/".join(refused[0].parts), problem=refused[0].problem)
    if len({len(f.parts) > 1 for f in files}) == 2:
        return Submission(student, student, problem=f"both a file and a folder are named {student}; keep one")
    java = [f for f in files if f.parts[-1].lower().endswith(".java")]
    source = "/".join(java[0].parts) if len(java) == 1 else (student + "/" if folder else "/".join(files[0].parts))
    if not folder and len(files) > 1:
        return Submission(
            student,
            source,
            problem="several files with this name ("
            + ", ".join(f.parts[-1] for f in files)
            + "); keep one .java file per student",
        )
    if not java:
        what = "no .java file in the folder" if folder else f"not a Java file ({files[0].parts[-1]})"
        return Submission(student, source, problem=f"{what}; each student needs one .java file")
    if len(java) > 1:
        return _read_files(student, source, java)
    entry = java[0]
    if entry.size > MAX_FILE_BYTES:
        return Submission(
            student,
            source,
            problem=f"{entry.size / 1000:.0f} KB is too large for a Java file "
            f"(the limit is {MAX_FILE_BYTES // 1000} KB)",
        )
    try:
        data = entry.read()
    except (OSError, zipfile.BadZipFile, RuntimeError) as exc:  # RuntimeError: an encrypted zip entry
        return Submission(student, source, problem=f"cannot be read ({exc})")
    digest = hashlib.sha256(data).hexdigest()
    try:
        code = decode_text(data, source)
    except ReviewError as exc:
        return Submission(student, source, problem=str(exc).removeprefix(f"{source}: "), sha256=digest)
    return Submission(student, source, code=code, sha256=digest)
