from __future__ import annotations

import json

import pytest
import torch
from tests.conftest import BAD_ANSWER, make_samples

from fedjava.models import tiny_tokenizer
from fedjava.prompts import (
    IGNORE_INDEX,
    AnswerOnlyCollator,
    SampleError,
    build_messages,
    load_samples,
    number_lines,
    prompt_spec,
    render_answer,
    render_prompt,
    tokenize_sample,
    tokenize_samples,
    write_samples,
)


@pytest.mark.parametrize("mode", ["code_only", "grounded"])
def test_the_prompt_spec_rebuilds_the_training_prompt(mode):
    """An export writes prompt_spec down: from it alone, the chat turns the model was trained on come back."""
    spec = prompt_spec(mode)
    requirement, code = "Return the sum of the array.", "class A {\n  int f() { return 1; }\n}\n"
    evidence = "Tool results:\njavac: compiled\ntests: 2 of 2 passed" if mode == "grounded" else None
    trained = build_messages(requirement, code, evidence=evidence)
    user = spec["user_prompt"].format(task=requirement, numbered_code=number_lines(code))
    if spec["evidence_format"] is not None:
        assert spec["evidence_format"].startswith("Tool results:")
        user += "\n\n" + evidence
    assert trained == [{"role": "system", "content": spec["system_prompt"]}, {"role": "user", "content": user}]


def test_number_lines_aligns_numbers():
    code = "\n".join(f"line{i}" for i in range(1, 11))
    numbered = number_lines(code).split("\n")
    assert numbered[0] == " 1 | line1" and numbered[9] == "10 | line10"


def test_answer_tokens_carry_labels_and_prompt_tokens_are_masked():
    tok = tiny_tokenizer()
    sample = make_samples(2)[1]
    features, truncated = tokenize_sample(tok, sample, max_seq_length=4096)
    assert not truncated
    ids, labels = features["input_ids"], features["labels"]
    prompt_len = len(tok(render_prompt(tok, sample["messages"][:-1]), add_special_tokens=False)["input_ids"])
    assert all(label == IGNORE_INDEX for label in labels[:prompt_len])
    assert labels[prompt_len:] == ids[prompt_len:]
    answer_text = tok.decode(ids[prompt_len:])
    assert answer_text == render_answer(tok, sample["messages"])
    assert json.loads(answer_text.replace("<|im_end|>\n", "")) == {
        "verdict": "COMPILE_ERROR",
        "errors": BAD_ANSWER["errors"],
        "score": 0,
    }


def test_plain_template_when_tokenizer_has_none():
    tok = tiny_tokenizer()
    template = tok.chat_template
    tok.chat_template = None
    try:
        messages = make_samples(1)[0]["messages"]
        assert render_prompt(tok, messages[:-1]).endswith("### Assistant:\n")
        assert render_answer(tok, messages) == messages[-1]["content"] + tok.eos_token
    finally:
        tok.chat_template = template


def test_batches_are_padded_to_their_own_longest_sample():
    tok = tiny_tokenizer()
    short = {
        "messages": build_messages("Task.", "class Solution {}", {"verdict": "NO_ERROR", "errors": [], "score": 10})
    }
    long = make_samples(2)[1]
    features, _ = tokenize_samples(tok, [short, long], max_seq_length=4096)
    batch = AnswerOnlyCollator(tok.pad_token_id)([features[0], features[1]])
    longest = max(len(f["input_ids"]) for f in features)
    assert batch["input_ids"].shape == (2, longest) and longest < 4096
    n0 = len(features[0]["input_ids"])
    assert torch.all(batch["attention_mask"][0, n0:] == 0) and torch.all(batch["labels"][0, n0:] == IGNORE_INDEX)
    assert torch.all(batch["input_ids"][0, n0:] == tok.pad_token_id)
    alone = AnswerOnlyCollator(tok.pad_token_id)([features[0]])
    assert alone["input_ids"].shape == (1, n0)


def test_long_samples_are_truncated_on_the_prompt_side_or_dropped(caplog):
    tok = tiny_tokenizer()
    sample = make_samples(2)[1]
    full, _ = tokenize_sample(tok, sample, 4096)
    answer_len = sum(label != IGNORE_INDEX for label in full["labels"])
    limit = answer_len + 20
    cut, truncated = tokenize_sample(tok, sample, limit)
    assert truncated and len(cut["input_ids"]) == limit
    assert cut["labels"][-answer_len:] == full["labels"][-answer_len:]  # the answer is whole
    assert cut["input_ids"][-answer_len - 5 :] == full["input_ids"][-answer_len - 5 :]
    dropped, _ = tokenize_sample(tok, sample, limit, truncation="drop")
    assert dropped is None
    short = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "{}"}]}
    with caplog.at_level("WARNING", logger="fedjava"):
        features, stats = tokenize_samples(tok, [short, sample, short, sample], limit, truncation="drop", name="train")
    assert stats.dropped == 2 and stats.kept == 2 and len(features) == 2
    assert "2 dropped" in caplog.text


def test_json_array_and_jsonl_load_the_same(tmp_path):
    samples = make_samples(3)
    write_samples(samples, tmp_path / "a.json")
    write_samples(samples, tmp_path / "a.jsonl")
    assert load_samples(tmp_path / "a.json") == load_samples(tmp_path / "a.jsonl") == samples


def test_malformed_samples_are_reported_with_file_and_line(tmp_path):
    good = json.dumps(make_samples(1)[0])
    no_answer = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    empty = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([good, "{not json", no_answer, empty, '{"text": 1}']) + "\n")
    with pytest.raises(SampleError) as info:
        load_samples(path)
    text = str(info.value)
    assert f"{path}:2: not valid JSON" in text
    assert f"{path}:3: no assistant answer at the end" in text
    assert f"{path}:4: message 1 (assistant): empty content" in text
    assert f"{path}:5: expected an object with a 'messages' list" in text
    array = tmp_path / "bad.json"
    array.write_text("[\n" + good + ",\n" + no_answer + "\n]\n")
    with pytest.raises(SampleError, match=f"{array}:3: no assistant answer"):
        load_samples(array)


def test_a_grader_trained_without_localisation_is_not_shown_it(tmp_path):
    import yaml

    from fedjava.config import load_config, load_saved_config, to_yaml
    from fedjava.prompts import build_messages

    block = (
        "Tool results:\njavac: compiles\ntests: 1 of 3 passed\nfirst wrong result: Solution.f(1) returned 2, "
        "expected 3\nsuspicious lines (coverage): 2\na change that passes every test: line 2: return x + 2;"
    )
    code = "class Solution {\n    static int f(int x) { return x + 1; }\n}\n"
    shown = build_messages("Add two.", code, evidence=block)[1]["content"]
    assert "suspicious lines (coverage): 2\nline 2 reads: static int f(int x) { return x + 1; }" in shown
    assert "a change that passes every test: line 2: return x + 2;" in shown
    hidden = build_messages("Add two.", code, evidence=block, localisation=False)[1]["content"]
    assert "suspicious" not in hidden and "a change that" not in hidden and "first wrong result" in hidden
    saved = yaml.safe_load(to_yaml(load_config(None, [], check_files=False)))
    del saved["localisation"]  # an adapter saved before the key existed was trained without localisation
    (tmp_path / "fedjava_config.yaml").write_text(yaml.safe_dump(saved))
    assert load_saved_config(tmp_path).localisation is False
    assert load_saved_config(tmp_path, ["localisation=true"]).localisation is True
    assert load_config(None, [], check_files=False).localisation is True
