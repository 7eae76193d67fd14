"""Converting a GGUF file once into a safetensors model directory, and knowing when that copy can be trusted.

Loading a GGUF de-quantizes every tensor (about a minute for Gemma 3 270M), so the result is kept. The copy's
marker file (``fedjava_converted.txt``, JSON) holds a fingerprint: the converter's version, the GGUF file it
came from, and the reference it was checked against. A copy whose fingerprint is not the one expected (made
by an older converter, from another file, or marked before fingerprints existed) is converted again.

A reference holds what the conversion must give: token ids of a few short texts and a sha256 of the
weights. A conversion that differs is refused, naming the transformers version, instead of training a
model that quietly learns nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from fedjava.errors import ModelLoadError, UserError
from fedjava.gguf_tokenizer import build_hf_tokenizer, builds_own_tokenizer, read_vocabulary

log = logging.getLogger("fedjava")

# Bump when a change makes conversions differ: every cached copy is then converted again.
CONVERTER_VERSION = 2
MARKER = "fedjava_converted.txt"
# The transformers versions with which the built-in model's conversion was checked (scripts/check_builtin_model.py).
CHECKED_TRANSFORMERS = ("5.17.0", "5.24.0")

# Gemma's turn format. The GGUF of the built-in model carries no chat template, so we give it one:
# a system message is folded into the first user turn, as Gemma's own template does.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{% set ns.system = m['content'] + '\n\n' %}"
    "{% else %}"
    "{% if m['role'] == 'assistant' %}{{ '<start_of_turn>model\n' + m['content'] + '<end_of_turn>\n' }}"
    "{% else %}{{ '<start_of_turn>user\n' + ns.system + m['content'] + '<end_of_turn>\n' }}"
    "{% set ns.system = '' %}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


class ConversionCheckError(ModelLoadError, UserError):
    """A converted model differs from its reference (token ids or weights); the message says what to do."""


@dataclass(frozen=True)
class Reference:
    """What converting one known GGUF file must give, whatever the transformers version."""

    name: str
    token_ids: tuple[tuple[str, bool, tuple[int, ...]], ...]  # (text, add_special_tokens, ids)
    weights_sha256: str


def file_identity(gguf_path: Path) -> dict:
    """Name and size: enough to tell a file from another without hashing it on every load."""
    return {"name": gguf_path.name, "size": gguf_path.stat().st_size}


def fingerprint(source: dict, reference: Reference | None) -> dict:
    """What a current conversion's marker must hold for this source (and reference, if any)."""
    return {
        "converter_version": CONVERTER_VERSION,
        "source": source,
        "checked_against": reference.name if reference else None,
    }


def read_marker(out_dir: Path) -> dict | None:
    """The marker's content; None when missing, or written before markers were JSON (a stale copy)."""
    try:
        data = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_current(out_dir: Path, expected: dict) -> bool:
    marker = read_marker(out_dir)
    return marker is not None and marker.get("fingerprint") == expected


def convert_gguf(
    gguf_path: Path, out_dir: Path, source: dict | None = None, reference: Reference | None = None
) -> Path:
    """De-quantize ``gguf_path`` into ``out_dir`` unless a current conversion is already there.

    Args:
        source: how the GGUF file is identified in the fingerprint; its name and size by default.
        reference: token ids and weights the conversion must give; checked before the copy is kept.
    """
    expected = fingerprint(source or file_identity(gguf_path), reference)
    if is_current(out_dir, expected):
        return out_dir
    with _file_lock(out_dir.with_suffix(".lock")):
        if is_current(out_dir, expected):  # another process converted it while this one waited
            return out_dir
        if (out_dir / MARKER).exists():
            log.info("The conversion in %s is stale (made by another converter or from another file)", out_dir)
        log.info("Converting %s to safetensors in %s (once; about a minute)", gguf_path, out_dir)
        tmp = out_dir.with_name(out_dir.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        record = _convert(gguf_path, tmp, reference)
        marker = {"fingerprint": expected, **record, "gguf_path": str(gguf_path)}
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(out_dir, ignore_errors=True)
        tmp.rename(out_dir)
    return out_dir


def check_token_ids(tokenizer, reference: Reference) -> None:
    """Refuse a tokenizer that does not give the reference ids (a transformers version that loads it differently)."""
    for text, special, want in reference.token_ids:
        got = tuple(tokenizer(text, add_special_tokens=special)["input_ids"])
        if got != want:
            raise ConversionCheckError(
                f"{reference.name}: under transformers {_version('transformers')} its tokenizer turns {text!r} into "
                f"token ids {list(got)} instead of {list(want)}, which would train a broken model; install a "
                f"transformers version it was checked with ({', '.join(CHECKED_TRANSFORMERS)}), e.g. "
                f"pip install 'transformers=={CHECKED_TRANSFORMERS[-1]}'"
            )


def check_weights(sha256: str, reference: Reference) -> None:
    """Refuse de-quantized weights that differ from the reference's."""
    if sha256 != reference.weights_sha256:
        raise ConversionCheckError(
            f"{reference.name}: de-quantized under transformers {_version('transformers')} and torch "
            f"{_version('torch')}, its weights differ from the reference (sha256 {sha256[:16]}... instead of "
            f"{reference.weights_sha256[:16]}...); install a transformers version it was checked with "
            f"({', '.join(CHECKED_TRANSFORMERS)}), e.g. pip install 'transformers=={CHECKED_TRANSFORMERS[-1]}'"
        )


def weights_sha256(state_dict) -> str:
    """sha256 over every tensor in name order (name, dtype, shape, bytes): equal weights, equal hash, anywhere."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())  # bytes, as bf16 has no numpy type
    return digest.hexdigest()


def _convert(gguf_path: Path, out: Path, reference: Reference | None) -> dict:
    """Write the tokenizer and the de-quantized model into ``out``; returns what the marker records."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder, name = str(gguf_path.parent), gguf_path.name
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    tokenizer_origin = _save_tokenizer(gguf_path, out, config.model_type)
    if reference is not None:  # before the slow part: a wrong tokenizer fails in seconds
        check_token_ids(_reload_tokenizer(out), reference)
    quantized = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    # A fresh model object: the loaded one is flagged as GGUF-quantized and refuses to save.
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    weights = weights_sha256(model.state_dict())
    if reference is not None:
        check_weights(weights, reference)
    model.save_pretrained(out, safe_serialization=True)
    return {
        "tokenizer": tokenizer_origin,
        "weights_sha256": weights,
        "transformers": _version("transformers"),
        "torch": _version("torch"),
    }


def _save_tokenizer(gguf_path: Path, out: Path, model_type: str) -> str:
    """Save the file's tokenizer into ``out``: built here when we can, else by transformers. Returns which."""

    vocabulary = read_vocabulary(gguf_path)
    if builds_own_tokenizer(vocabulary):
        tokenizer, origin = build_hf_tokenizer(vocabulary), f"fedjava.gguf_tokenizer ({vocabulary.architecture})"
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        origin = f"transformers {_version('transformers')}"
    if tokenizer.chat_template is None and model_type.startswith("gemma"):
        tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    return origin


def _reload_tokenizer(folder: Path):
    """The tokenizer as training will load it: checking the saved files, not the object that wrote them."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def _version(package: str) -> str:
    """The version of the module Python imports (not of whichever distribution metadata it finds first)."""
    import importlib

    return getattr(importlib.import_module(package), "__version__", "unknown")


@contextlib.contextmanager
def _file_lock(path: Path):
    """Serialize conversions between processes (parallel federated clients share the cache)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
