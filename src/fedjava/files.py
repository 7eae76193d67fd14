"""Files and folders a user names (data files, ``--out``, ``output_dir``), checked so that a mistake ends in one
clear line instead of a traceback: a folder given as a file, binary or non-UTF-8 content, a file where a folder
goes, a place that cannot be created or written.

Each function takes the error class to raise, so a module keeps its own (SampleError, BuildError, ...); every
one of them is a :class:`fedjava.errors.UserError`.
"""

from __future__ import annotations

import os
from pathlib import Path

from fedjava.errors import UserError


def read_text(path: str | Path, what: str = "file", error: type[UserError] = UserError) -> str:
    """The UTF-8 text of ``path`` (a leading BOM dropped); ``error`` when it is missing, a folder, unreadable,
    binary or not UTF-8."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {what}")
    if path.exists() and not path.is_file():  # reading a pipe or a device would wait, or never end
        raise error(f"{path}: not a regular file (a device, pipe or socket), so it cannot be read as a {what}")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read this {what} ({exc.strerror})") from None
    if b"\x00" in data:
        raise error(f"{path}: not a text file (it has binary content); the {what} must be UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte {exc.start} cannot be read); save the {what} as UTF-8") from None


def writable_dir(path: str | Path, what: str = "folder", error: type[UserError] = UserError) -> Path:
    """``path`` as a folder this process can write in, created when missing; ``error`` when a file is in the
    way, it cannot be created, or it is not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise error(f"{what} {path} is a file, not a folder; choose a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise error(f"{what} {path} cannot be created ({exc.strerror}); choose a folder you can write in") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise error(f"{what} {path} is not writable; choose a folder you can write in")
    return path


def writable_file(path: str | Path, what: str = "output file", error: type[UserError] = UserError) -> Path:
    """``path`` as a file this process can write (its folder created); ``error`` when it is a folder or its
    folder cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder; give a file name")
    writable_dir(path.parent, f"the folder of {what} {path},", error)
    if path.exists() and not os.access(path, os.W_OK):
        raise error(f"{what} {path} is not writable")
    return path


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` through a temporary file beside ``path`` and a rename: a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="")
    os.replace(tmp, path)
