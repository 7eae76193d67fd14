"""How the dataset is built: :class:`BuildOptions`, which :func:`fedjava.dataset.build.build_dataset` takes and whose
fields are the options of ``fedjava data build`` (:mod:`fedjava.cli.options` reads their metadata).

A module of its own, light to import, so that the ``fedjava`` parser is built without the build's imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fedjava.java.tasks import TASKS_DIR


@dataclass(frozen=True)
class BuildOptions:
    """How ``fedjava data build`` builds the dataset; the fields with ``help`` are its options
    (:mod:`fedjava.cli.options` reads their metadata), ``unsafe_run`` it declares itself."""

    seed: int = field(default=0, metadata={"help": "random seed (default 0, the shipped data)"})
    jobs: int = field(default=2, metadata={"help": "JVMs compiling and running at a time (default 2)"})
    out_dir: Path = field(default=Path("data"), metadata={"flag": "--out", "help": "output folder (default data)"})
    force: bool = field(
        default=False,
        metadata={"help": "replace the dataset the output folder holds (train/valid/test.jsonl, DATASET.md)"},
    )
    """without it the build refuses to start when ``out_dir`` holds a dataset already"""
    correct_per_task: int = field(default=8, metadata={"help": "NO_ERROR samples per task (default 8)"})
    errors_per_family: int = field(
        default=6,
        metadata={"help": "samples per task from each mutation family: syntax, compile, runtime, logic (default 6)"},
    )
    max_tasks: int = field(default=0, metadata={"help": "use only the first N tasks (quick check)"})
    """0: all"""
    tasks_dir: Path = field(
        default=TASKS_DIR, metadata={"help": "folder of task YAML files (default: the shipped tasks)"}
    )
    unsafe_run: bool = False
    """run the programs without the sandbox (--unsafe-run)"""
    restyles_per_base: int = field(default=2, metadata={"cli": False})
    valid_share: float = field(default=0.1, metadata={"cli": False})
    test_share: float = field(default=0.1, metadata={"cli": False})
    localise: bool = field(default=True, metadata={"cli": False})
    """add the localisation facts (:mod:`fedjava.java.localise`) to the evidence of the programs that compile
    and fail a test"""
