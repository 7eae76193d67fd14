"""The answers an evaluation has generated so far, kept on disk so that an interrupted run resumes where it stopped.

On a CPU a model's evaluation of a few hundred samples takes a quarter of an hour or more; an evaluation that is
stopped (a closed terminal, a killed process, a full disk) would otherwise start again from the first sample.
While answers are generated, each one is appended to ``<predictions>.partial.jsonl`` beside the predictions file as
soon as it is complete. The next run with the same model and settings reads them back, generates only the rest,
and removes the file once the predictions are written.

The first line of the file is the fingerprint of what answered: the model's name, a digest of the adapter's
weights and the generation settings. Answers of another model or settings are never reused: such a file is set
aside (the run says so) and the answers are generated again. Each answer is keyed by a digest of its rendered
prompt, so a changed prompt (another prompt mode, other few-shot examples, a rebuilt sample) is generated again.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

SUFFIX = ".partial.jsonl"


def cache_path(predictions: Path) -> Path:
    """Where the answers of the run writing ``predictions`` are kept until it is done."""
    return predictions.with_name(predictions.stem + SUFFIX)


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def weights_digest(folder: Path | None) -> str | None:
    """A digest of the weight files in an adapter folder (None for no adapter)."""
    if folder is None:
        return None
    digest = hashlib.sha256()
    files = sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix in (".safetensors", ".bin", ".json"))
    for f in files:
        digest.update(f.name.encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class AnswerCache:
    """The answers of one evaluation run, by prompt: read back with :meth:`load`, added with :meth:`add` as each is
    generated, removed with :meth:`remove` when the run has written its predictions."""

    def __init__(self, path: Path, fingerprint: dict[str, Any]):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self._fh = None

    def load(self) -> tuple[dict[str, str], str]:
        """(the answers kept by an earlier run of the same model and settings, what happened to the file).

        A file of another model or settings is renamed to ``*.stale`` (nothing is deleted); a last line cut off
        by the interruption is ignored."""
        if not self.path.is_file():
            return {}, ""
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            head = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            head = None
        if not isinstance(head, dict) or head.get("fingerprint") != self.fingerprint:
            stale = self.path.with_name(self.path.name + ".stale")
            self.path.replace(stale)
            return {}, f"answers of another model or settings were set aside in {stale}"
        answers: dict[str, str] = {}
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # the line being written when the run stopped
            if isinstance(row, dict) and isinstance(row.get("prompt"), str) and isinstance(row.get("text"), str):
                answers[row["prompt"]] = row["text"]
        return answers, f"{len(answers)} answer(s) kept by an interrupted run were read from {self.path}"

    def add(self, prompt: str, text: str) -> None:
        """Append one answer, flushed to disk at once."""
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self.path.is_file() or self.path.stat().st_size == 0
            cut = not fresh and not self.path.read_bytes().endswith(b"\n")
            self._fh = self.path.open("a", encoding="utf-8")
            if fresh:
                self._fh.write(json.dumps({"fingerprint": self.fingerprint}) + "\n")
            elif cut:  # the interrupted run's last line was cut off: start on a line of our own
                self._fh.write("\n")
        self._fh.write(json.dumps({"prompt": prompt_key(prompt), "text": text}, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
