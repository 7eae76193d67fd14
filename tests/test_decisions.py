"""Decision tokens: their spans, the teacher-forced decision metrics, the weighted loss, and learning them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from conftest import BAD_ANSWER, GOOD, REQUIREMENT
from fedjava.config import load_config
from fedjava.evaluation.metrics import macro_f1
from fedjava.models import load_for_training, tiny_tokenizer
from fedjava.prompts import (
    VERDICTS,
    AnswerOnlyCollator,
    build_messages,
    decision_char_spans,
    format_answer,
    load_samples,
    tokenize_sample,
    tokenize_samples,
)
from fedjava.training import DecisionTally, answer_logits, answer_loss, evaluate_loss, train_adapter

BAD = GOOD.replace("return 2 * x;", "return 2 * x")


def _feature(answer, code=BAD):
    tok = tiny_tokenizer()
    feature, _ = tokenize_sample(tok, {"messages": build_messages(REQUIREMENT, code, answer)}, 1024)
    return tok, feature


def test_decision_spans_cover_the_verdict_code_and_line_values():
    text = format_answer(BAD_ANSWER)
    spans = decision_char_spans(text)
    assert {k: text[a:b] for k, (a, b) in spans.items()} == {
        "verdict": "COMPILE_ERROR",
        "code": "compiler.err.expected",
        "line": "3",
    }
    assert set(decision_char_spans(format_answer({"verdict": "NO_ERROR", "errors": [], "score": 10}))) == {"verdict"}
    assert decision_char_spans("1) Syntax Error: missing semicolon") == {}

    tok, feature = _feature(BAD_ANSWER)
    decision = feature["decision"]
    assert decision["verdict"] == VERDICTS.index("COMPILE_ERROR")
    ids = feature["input_ids"]
    for name, value in (("verdict", "COMPILE_ERROR"), ("code", "compiler.err.expected"), ("line", "3")):
        start, end = decision["spans"][name]
        assert value in tok.decode(ids[start:end])
        assert all(feature["labels"][i] == ids[i] for i in range(start, end))  # answer tokens: they carry labels
    # The candidates are each verdict's first token, and the gold one is where the verdict starts.
    assert decision["candidates"][decision["verdict"]] == ids[decision["spans"]["verdict"][0]]
    assert len(set(decision["candidates"])) == len(VERDICTS)


def _perfect_logits(features, collator, vocab):
    """Answer-position logits of a model that always predicts the gold next token."""
    batch = collator(features)
    mask = batch["labels"][:, 1:] != -100
    targets = batch["labels"][:, 1:][mask]
    return F.one_hot(targets, vocab).float() * 10, mask, batch["input_ids"]


def test_decision_tally_scores_verdict_code_and_line_from_the_logits():
    tok, bad = _feature(BAD_ANSWER)
    _, good = _feature({"verdict": "NO_ERROR", "errors": [], "score": 10}, GOOD)
    collator = AnswerOnlyCollator(tok.pad_token_id)
    features = [bad, good, bad]
    logits, mask, ids = _perfect_logits(features, collator, len(tok))
    tally = DecisionTally()
    tally.add_batch(features, logits, mask, ids)
    m = tally.metrics()
    assert m["eval_verdict_accuracy"] == 1.0 and m["eval_verdict_macro_f1"] == 1.0
    assert m["eval_code_accuracy"] == 1.0 and m["eval_line_accuracy"] == 1.0
    assert m["eval_decision_samples"] == 3
    assert m["eval_majority_macro_f1"] == pytest.approx(macro_f1([1, 0, 1], [1, 1, 1]))

    # Make the first sample answer LOGIC_ERROR at the verdict and a wrong line: both are seen.
    rows = (torch.cumsum(mask.flatten().long(), 0) - 1).view(mask.shape)
    start = bad["decision"]["spans"]["verdict"][0]
    logits[rows[0, start - 1], bad["decision"]["candidates"][VERDICTS.index("LOGIC_ERROR")]] = 50
    line_start = bad["decision"]["spans"]["line"][0]
    logits[rows[0, line_start - 1], tok.pad_token_id] = 50
    tally = DecisionTally()
    tally.add_batch(features, logits, mask, ids)
    m = tally.metrics()
    assert tally.pred == [VERDICTS.index("LOGIC_ERROR"), 0, VERDICTS.index("COMPILE_ERROR")]
    assert m["eval_verdict_accuracy"] == pytest.approx(2 / 3)
    assert m["eval_verdict_macro_f1"] == pytest.approx(macro_f1([1, 0, 1], [3, 0, 1]))
    assert m["eval_line_accuracy"] == 0.5 and m["eval_code_accuracy"] == 1.0


def test_decision_weight_scales_the_loss_of_decision_tokens_only(tiny_overrides):
    cfg = load_config(None, tiny_overrides)
    model, tok = load_for_training(cfg)
    features, _ = tokenize_samples(tok, load_samples(cfg.data_path(cfg.train_file)), 1024)
    plain = AnswerOnlyCollator(tok.pad_token_id)(features[:4])
    weighted = AnswerOnlyCollator(tok.pad_token_id, decision_weight=5.0)(features[:4])
    with torch.no_grad():
        logits, targets, mask = answer_logits(model, plain)
        per_token = F.cross_entropy(logits, targets, reduction="none")
        w = weighted["weights"][:, 1:][mask]
        loss_sum, count = answer_loss(model, weighted)
    decision_tokens = sum(b - a for f in features[:4] for a, b in f["decision"]["spans"].values())
    assert int((w == 5.0).sum()) == decision_tokens > 0
    assert count == pytest.approx(float(mask.sum()) + 4 * decision_tokens)
    torch.testing.assert_close(loss_sum, (per_token * w).sum())
    assert "weights" not in plain


def test_training_teaches_the_decisions_and_the_history_shows_them(tiny_overrides, tmp_path):
    cfg = load_config(None, tiny_overrides + ["decision_weight=3", "num_epochs=30"])
    model, tok = load_for_training(cfg)
    train, _ = tokenize_samples(tok, load_samples(cfg.data_path(cfg.train_file)), 1024)
    valid, _ = tokenize_samples(tok, load_samples(cfg.data_path(cfg.valid_file)), 1024)
    collator = AnswerOnlyCollator(tok.pad_token_id)
    before = evaluate_loss(model, valid, collator)
    result = train_adapter(model, tok, cfg, train, valid, tmp_path / "ckpt", show_progress=False)
    after = evaluate_loss(model, valid, collator)
    assert before["eval_code_accuracy"] < 1.0
    assert after["eval_verdict_accuracy"] == after["eval_code_accuracy"] == after["eval_line_accuracy"] == 1.0
    assert after["eval_verdict_macro_f1"] == 1.0 > after["eval_majority_macro_f1"]
    assert [e["epoch"] for e in result.epochs] == list(range(1, 31))
    assert all("eval_verdict_macro_f1" in e for e in result.epochs)
    assert result.eval_metrics["eval_verdict_accuracy"] == 1.0
