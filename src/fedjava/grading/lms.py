"""The names Canvas and Moodle give the files of a "download all submissions" zip, read back to the LMS's ids.

* **Canvas** names every file ``<name>[_late]_<user id>_<file id>_<the file's own name>``, all in one folder::

      smithalice_101_5001_Solution.java         Alice Smith (Canvas user 101), on time
      smithalice_late_101_5002_Solution.java    the same student's resubmission, after the due date
      smithalice_101_5003_Solution-1.java       Canvas adds "-1", "-2" ... to a name the student used before

  ``<name>`` is the student's sortable name in lower case without spaces or punctuation. The file id grows with
  every upload, so of several files with the same own name (the "-N" Canvas adds left out) the one with the
  largest id is the newest. The gradebook Canvas imports matches a row by its ``ID`` column: the user id.
* **Moodle** puts each student's files in a folder (or, without "download submissions in folders", prefixes each
  file) named ``<Full Name>_<participant id>_assignsubmission_<plugin>_``::

      Bob Jones_123456_assignsubmission_file_/Solution.java
      Bob Jones_123456_assignsubmission_onlinetext_/onlinetext.html

  Moodle's zip holds each student's latest submission only. The participant id is what Moodle's grading
  worksheet calls ``Participant 123456`` in its ``Identifier`` column, the column its upload matches rows by.

:func:`parse_name` reads one top-level name; :func:`newest` keeps a Canvas student's newest file of each name.
Any other name is no LMS name: the student id is the file or folder name, as before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

CANVAS, MOODLE = "canvas", "moodle"
_CANVAS_RE = re.compile(
    r"^(?P<name>[^\W_]+)(?P<late>_late)?_(?P<user>\d+)_(?P<file_id>\d+)_(?P<file>.+)$", re.IGNORECASE
)
_MOODLE_RE = re.compile(r"^(?P<name>.+?)_(?P<user>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_(?P<file>.*)$")
_COPY_RE = re.compile(r"^(?P<stem>.+)-\d+(?P<ext>\.[^.]+)?$")
T = TypeVar("T")


@dataclass(frozen=True)
class LmsName:
    """What a Canvas or Moodle name says: whose file it is, and the file's own name."""

    lms: str
    """``canvas`` or ``moodle``"""
    name: str
    """the student's name as the LMS wrote it (``smithalice``, ``Bob Jones``)"""
    user_id: str
    """Canvas's user id, Moodle's participant id"""
    file: str
    """the file's own name (``Solution.java``); "" for a Moodle folder's name"""
    file_id: int = 0
    """Canvas's id of the upload (larger: newer); 0 for Moodle"""
    late: bool = False

    @property
    def student(self) -> str:
        """The student id fedjava uses: the name and the LMS's id, so that two students with one name differ."""
        return f"{self.name}_{self.user_id}"


def parse_name(name: str, folder: bool = False) -> LmsName | None:
    """The LMS name ``name`` is (a top-level file's name, or a folder's with ``folder``), or None."""
    moodle = _MOODLE_RE.match(name)
    if moodle and (moodle["file"] == "" if folder else moodle["file"] != ""):
        return LmsName(MOODLE, moodle["name"].strip(), moodle["user"], moodle["file"])
    canvas = None if folder else _CANVAS_RE.match(name)
    if canvas:
        return LmsName(
            CANVAS, canvas["name"].lower(), canvas["user"], canvas["file"], int(canvas["file_id"]), bool(canvas["late"])
        )
    return None


def own_name(file: str) -> str:
    """A Canvas file's own name without the "-N" Canvas adds to a name used before: ``Solution-1.java`` ->
    ``Solution.java``."""
    match = _COPY_RE.match(file)
    return f"{match['stem']}{match['ext'] or ''}" if match else file


def newest(files: list[tuple[LmsName, T]]) -> tuple[list[tuple[LmsName, T]], list[tuple[LmsName, T]]]:
    """(kept, replaced): of a Canvas student's files (each with what it came from), the newest upload of each own
    name, and the older ones."""
    best: dict[str, tuple[LmsName, T]] = {}
    for item in files:
        key = own_name(item[0].file).lower()
        if key not in best or item[0].file_id > best[key][0].file_id:
            best[key] = item
    kept = sorted(best.values(), key=lambda item: item[0].file_id)
    return kept, [item for item in files if all(item is not k for k in kept)]
