"""Checked fixes (:mod:`fedjava.evaluation.verify`): the answer's fix is run through javac and the task's tests, other
fixes the model samples are tried where it fails, and the one that passes is kept with where it goes."""

from __future__ import annotations

import json

import pytest
from tests.conftest import BAD, BAD_ANSWER, GOOD

from fedjava.evaluation.fixcheck import jdk_available, placements
from fedjava.evaluation.verify import (
    Proposal,
    VerifyItem,
    decode_fix,
    fix_prefix,
    lead,
    propose_fixes,
    ranked_fixes,
    runaway_indent,
    sample_branches,
    sample_rows,
    string_end,
    verify_answers,
)

needs_jdk = pytest.mark.skipif(not jdk_available(), reason="needs javac and java")

CODE = "class A {\n  int f(int x) {\n    int y = x * 3;\n    int z = 0;\n    z = z + 1;\n    return y + z;\n  }\n}\n"


def test_placements_try_a_checked_fix_line_first_and_similar_lines_in_the_window():
    error = {"line": 6, "explanation": "", "fix": "    int y = x * 2;"}
    plain = placements(CODE, error)
    # line 3 is 3 lines from the anchor: beyond the plain check's ±2 neighbourhood, inside a window of 3
    assert not any(p.line == 3 and p.action == "replace" for p in plain)
    wide = placements(CODE, error, window=3)
    assert [p for p in wide if p.line == 3][0].code == CODE.replace("x * 3", "x * 2")
    placed = placements(CODE, {**error, "fix_line": 3, "fix_action": "replace"})
    assert (placed[0].line, placed[0].action) == (3, "replace")
    # an import goes at the top of the file (after a package line), wherever the error is
    top = placements("package p;\n" + CODE, {"line": 4, "explanation": "", "fix": "    import java.util.List;"})
    assert (top[0].line, top[0].action) == (2, "insert")
    assert top[0].code == "package p;\nimport java.util.List;\n" + CODE
    deleted = placements(CODE, {"line": 5, "explanation": "", "fix": ""})
    assert [(p.line, p.action) for p in deleted] == [(5, "delete")]
    assert "z = z + 1" not in deleted[0].code
    # another fix for the same error: the error's own checked place is not used for it
    other = placements(CODE, {**error, "fix_line": 3, "fix_action": "replace"}, fix="    return y;")
    assert other[0].line == 6


def test_fix_strings_end_at_their_closing_quote():
    assert string_end('return \\"a\\";", "next": 1') == 13
    assert string_end("int x = 1") == -1
    assert decode_fix('    s += \\"\\\\n\\";"}]') == '    s += "\\n";'
    assert decode_fix("never closed") is None
    assert fix_prefix('{"errors": [{"line": 3, "fix": "  ret') == '{"errors": [{"line": 3, "fix": "'
    assert fix_prefix('{"verdict": "NO_ERROR", "errors": []}') is None
    # the first answer's fix, then the sampled ones most often sampled first; blanks do not make a new fix
    assert ranked_fixes("a;", ["b;", "c;", "  c;", " a;", "b;", "c;"]) == ["a;", "c;", "b;"]
    assert ranked_fixes(None, ["x"]) == ["x"]
    assert [
        lead(t)
        for t in (
            "\t\tfor (int i = 0; i <= n; i--) {",
            "    int[] sums = null;",
            "  int bottom;",
            "    } else if (x) {",
        )
    ] == ["\t\tfor (", "    int[] sums =", "  int bottom", "    } else if ("]


@pytest.mark.parametrize("family", ["qwen3", "gemma3"])
def test_sampled_rows_share_one_prefill_and_at_temperature_zero_are_greedy(family):
    import torch
    from tests.test_evaluation import _tiny_gemma3

    from fedjava.evaluation.generate import _hf_generate
    from fedjava.models import build_tiny_qwen3

    model, tok = build_tiny_qwen3()
    if family == "gemma3":
        model = _tiny_gemma3(tok, sliding_window=6)  # the prompt is longer than the window
    model.eval()
    ids = tok("public static int sum(int[] a) { int total = 0; for", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        greedy = _hf_generate(
            model,
            tok,
            torch.tensor([ids]),
            torch.ones(1, len(ids), dtype=torch.long),
            12,
            tok.pad_token_id,
            [tok.eos_token_id],
            False,
        )[0]
    rows = sample_rows(model, tok, ids, 3, 12, temperature=0)
    assert rows == [greedy] * 3
    hot = sample_rows(model, tok, ids, 6, 12, temperature=1.5, top_p=1.0, seed=7)
    assert hot == sample_rows(model, tok, ids, 6, 12, temperature=1.5, top_p=1.0, seed=7)  # seeded
    assert len({tuple(r) for r in hot}) > 1  # the rows are sampled independently
    stopped = sample_rows(model, tok, ids, 2, 12, temperature=0, done=lambda text: len(text) > 0)
    assert [len(r) for r in stopped] == [1, 1]
    # branches that share a prefix: prefilled once, each branch's rows are its own greedy continuation
    branches = [ids, ids + tok(" (int i", add_special_tokens=False)["input_ids"], ids[:-3]]
    with torch.no_grad():
        alone = [
            _hf_generate(
                model,
                tok,
                torch.tensor([b]),
                torch.ones(1, len(b), dtype=torch.long),
                8,
                tok.pad_token_id,
                [tok.eos_token_id],
                False,
            )[0]
            for b in branches
        ]
    assert sample_branches(model, tok, branches, 2, 8, temperature=0) == [[a, a] for a in alone]
    # rows that finish at different steps leave the batch: each remaining row still reads its own cache, so every
    # token it samples is in the nucleus of its own sequence's next-token distribution (checked without a cache)
    mixed = sample_rows(model, tok, ids, 6, 12, temperature=1.0, top_p=0.3, seed=1, done=lambda text: len(text) >= 12)
    assert len({len(r) for r in mixed}) > 1
    with torch.no_grad():
        for row in mixed:
            probs = model(input_ids=torch.tensor([ids + row])).logits[0, len(ids) - 1 : -1].float().softmax(-1)
            for k, token in enumerate(row):
                ahead = probs[k][probs[k] > probs[k][token]].sum()
                assert ahead < 0.3 + 1e-4, (row, k)  # the tokens more likely than it hold less than top_p


def _catalogue_task_and_bug():
    """A shipped task, its solution with one return line's value changed (a logic error), and that line."""
    from fedjava.java.tasks import load_tasks

    for task in load_tasks():
        lines = task.solution.split("\n")
        for i, line in enumerate(lines):
            if line.strip().startswith("return ") and line.rstrip().endswith(";") and "(" not in line:
                wrong = lines[:]
                wrong[i] = line.rstrip()[:-1] + " + 1;"
                return task, "\n".join(wrong) + "\n", i + 1, line
    raise AssertionError("no task with a plain return line")


@needs_jdk
def test_verify_answers_keeps_the_first_fix_that_passes_and_says_where_it_goes():
    task, buggy, line, right = _catalogue_task_and_bug()
    wrong = right.replace(";", " - 2;")

    def logic(at, fix):
        return {
            "verdict": "LOGIC_ERROR",
            "score": 4,
            "errors": [
                {
                    "type": "Logical Error",
                    "code": "wrong_output",
                    "line": at,
                    "message": "m",
                    "explanation": "e",
                    "fix": fix,
                }
            ],
        }

    raw = '{"verdict": "LOGIC_ERROR", "errors": [{"line": 1, "fix": "'
    items = [
        VerifyItem(task, buggy, "p", raw, logic(line, right)),  # right at once
        VerifyItem(task, buggy, "p", raw, logic(line + 3, wrong)),  # wrong fix, 3 lines off: a sample fixes it
        VerifyItem(task, buggy, "p", raw, logic(line, wrong)),  # the samples are wrong too
        VerifyItem(task, buggy, "p", '{"verdict": "NO_ERROR"', {"verdict": "NO_ERROR", "errors": [], "score": 10}),
        VerifyItem(None, BAD, "p", raw, BAD_ANSWER),  # no task: javac alone decides
        VerifyItem(task, buggy, "p", raw, logic(line + 1, "    x++;")),  # right only as a rewrite of a cause line
    ]
    asked = []

    def sampler(item, seed):
        asked.append(item.answer["errors"][0]["line"])
        if item.answer["errors"][0]["fix"] == "    x++;":
            return [Proposal(wrong), Proposal(wrong, line), Proposal(right, line)]
        fixes = [wrong, "    return 0;", right] if item.answer["errors"][0]["line"] == line + 3 else [wrong, "  x"]
        return [Proposal(f) for f in fixes]

    got = verify_answers(None, None, items, samples=3, sampler=sampler)
    assert [v.status for v in got] == ["first", "sampled", "failed", "no_fix", "first", "sampled"]
    assert asked == [line + 3, line, line + 1]  # only the answers whose first fix failed are sampled
    rewrite = got[5].answer["errors"][0]
    assert (rewrite["line"], rewrite["fix_line"], rewrite["fix"]) == (line, line, right) and got[5].fixes_tried == 4
    found = got[1].answer["errors"][0]
    # a logic error's line becomes where its fix goes; the fix is the sampled one that passed
    assert (found["line"], found["fix_line"], found["fix_action"], found["fix"]) == (line, line, "replace", right)
    assert got[1].tests == len(task.tests) and got[1].fixes_tried == 3 and got[1].passed
    assert got[2].answer == items[2].answer and not got[2].passed  # nothing passed: the answer is unchanged
    assert got[4].tests == 0 and got[4].answer["errors"][0]["line"] == 3  # a compile error keeps javac's line
    # the checked answer passes the plain fix check too, at the place it names
    from fedjava.evaluation.fixcheck import check_fixes

    assert check_fixes([(task.id, buggy, got[1].answer), (task.id, buggy, items[1].answer)]) == [True, False]


def test_review_says_whether_the_fix_was_checked():
    from fedjava.review import format_review

    answer = json.loads(json.dumps(BAD_ANSWER))
    answer["errors"][0].update(fix_line=3, fix_action="replace")
    first = format_review(
        answer,
        BAD,
        "Solution.java",
        "t",
        False,
        fix_check={"status": "first", "tests": 5, "fixes_tried": 1, "programs": 3},
    )
    assert (
        "  Fix (line 3 becomes):" in first
        and "Checked: with this fix the file compiles and passes all 5 test(s)." in first
    )
    answer["errors"][0].update(fix_line=2, fix_action="insert")
    sampled = format_review(
        answer,
        BAD,
        "Solution.java",
        "t",
        False,
        fix_check={"status": "sampled", "tests": 0, "fixes_tried": 4, "programs": 9},
    )
    assert "  Fix (insert before line 2):" in sampled
    # only javac ran: a fix that compiles may still be wrong (issue 24), so it is not called checked
    assert (
        "Compiles with this fix (the model's first did not work; this is one of 4 it proposed); no test ran, so "
        "whether it is right is not checked: treat it as a hint."
        in sampled
        and "Checked" not in sampled
    )
    failed = format_review(
        BAD_ANSWER,
        GOOD,
        "Solution.java",
        "t",
        False,
        fix_check={"status": "failed", "tests": 5, "fixes_tried": 3, "programs": 9},
    )
    assert (
        "Not confirmed: with this fix (or any of the 2 other(s) the model proposed) the file does not compile "
        "and pass every test; treat it as a hint." in failed
    )


@needs_jdk
def test_the_reviewer_checks_the_fix_of_grounded_reviews_only():
    from pathlib import Path

    from tests.conftest import TINY_ADAPTER

    from fedjava.config import load_config
    from fedjava.models import build_tiny_qwen3
    from fedjava.reviewer import Prepared, Review, Reviewer

    model, tok = build_tiny_qwen3()
    wrong = json.loads(json.dumps(BAD_ANSWER))
    wrong["errors"][0]["fix"] = "        return 2 * x +;"

    def reviews():
        return [
            Review("a", BAD, json.loads(json.dumps(BAD_ANSWER)), "{}"),
            Review("b", BAD, wrong, "{}"),  # no fix prefix in the raw text: nothing to sample after
            Review("c", GOOD, None, "not json"),
        ]

    prepared = [Prepared(r.label, r.code, "p", 1) for r in reviews()]
    for mode, expected in (("grounded", ["first", "failed", None]), ("code_only", [None, None, None])):
        cfg = load_config(None, [*TINY_ADAPTER, f"prompt_mode={mode}"], check_files=False)
        checked = Reviewer(Path("x"), cfg, model, tok).check_fixes(prepared, reviews(), samples=2)
        assert [(r.fix_check or {}).get("status") for r in checked] == expected
    assert checked[0].answer == BAD_ANSWER  # unchecked answers are left as they were


def test_a_fix_that_runs_away_in_its_indentation_is_sampled_from_the_reported_lines_indentation():
    code = "class A {\n\tint f() {\n\t\treturn 1\n\t}\n}\n"
    answer = {"verdict": "COMPILE_ERROR", "errors": [{"line": 3, "fix": None}]}
    head = '{"verdict": "COMPILE_ERROR", "errors": [{"line": 3, "fix": "'
    assert runaway_indent(VerifyItem(None, code, "p", head + "\\t" * 40, answer)) == "\t\t"
    assert runaway_indent(VerifyItem(None, code, "p", head + "\\t\\tint x", answer)) == "\t\t"  # never closed
    assert runaway_indent(VerifyItem(None, code, "p", head + '\\t\\treturn 1;"}]}', answer)) == ""
    assert runaway_indent(VerifyItem(None, code, "p", '{"verdict": "NO_ERROR"', answer)) == ""


def test_proposals_start_where_they_are_forced_and_an_import_is_inserted(monkeypatch):
    from fedjava.evaluation import verify
    from fedjava.models import build_tiny_qwen3

    _, tok = build_tiny_qwen3()
    code = "class Solution {\n\tstatic List<Integer> xs() {\n\t\treturn null;\n\t}\n}\n"
    block = (
        "javac: error at line 2: compiler.err.cant.resolve.location: cannot find symbol symbol: class List "
        "location: class Solution"
    )
    raw = '{"verdict": "COMPILE_ERROR", "errors": [{"line": 2, "fix": "' + "\\t" * 30
    item = VerifyItem(None, code, "PROMPT ", raw, {"errors": [{"line": 2, "fix": None}]}, block)
    seen = []

    def fake_branches(model, tokenizer, branches, n, *args, **kwargs):
        seen.extend(tokenizer.decode(ids) for ids in branches)
        return [[tokenizer(' java.util.List;"}]', add_special_tokens=False)["input_ids"]] * n for _ in branches]

    monkeypatch.setattr(verify, "sample_branches", fake_branches)
    got = propose_fixes(None, tok, item, samples=2)
    prefix = '{"verdict": "COMPILE_ERROR", "errors": [{"line": 2, "fix": "'
    assert seen == ["PROMPT " + prefix + "\\t", "PROMPT " + prefix + "import"]
    assert got == [Proposal("\t java.util.List;")] * 2 + [Proposal("import java.util.List;", 1, "insert")] * 2


@needs_jdk
def test_an_inserted_import_is_placed_before_the_line_it_names():
    code = "class Solution {\n    static int n() {\n        return new ArrayList<Integer>().size();\n    }\n}\n"
    answer = {
        "verdict": "COMPILE_ERROR",
        "score": 0,
        "errors": [
            {
                "type": "Syntax Error",
                "code": "compiler.err.cant.resolve.location",
                "line": 3,
                "message": "m",
                "explanation": "e",
                "fix": "        return new ArrayList<>().size();",
            }
        ],
    }
    raw = '{"verdict": "COMPILE_ERROR", "errors": [{"line": 3, "fix": "'
    item = VerifyItem(None, code, "p", raw, answer)
    got = verify_answers(
        None,
        None,
        [item],
        samples=1,
        sampler=lambda item, seed: [
            Proposal("import java.util.Lisst;", 1, "insert"),
            Proposal("import java.util.ArrayList;", 1, "insert"),
        ],
    )
    error = got[0].answer["errors"][0]
    assert got[0].status == "sampled"
    assert (error["fix"], error["fix_line"], error["fix_action"], error["line"]) == (
        "import java.util.ArrayList;",
        1,
        "insert",
        3,
    )


def test_the_lines_the_localisation_singles_out_are_rewritten_too(monkeypatch):
    from fedjava.evaluation import verify
    from fedjava.evaluation.verify import suspicious_lines
    from fedjava.models import build_tiny_qwen3

    _, tok = build_tiny_qwen3()
    code = (
        "class Solution {\n    static int f(int[] xs) {\n        int t = 0;\n        for (int x : xs) {\n"
        "            t = t - x;\n        }\n        return t;\n    }\n}\n"
    )
    block = (
        "Tool results:\njavac: compiles\ntests: 1 of 3 passed\nfirst wrong result: Solution.f(...) returned -3, "
        "expected 3\nsuspicious lines (coverage): 7, 5, 4\nsuspicious lines (mutants): 5, 3\n"
        "a change that passes every test: line 5: t = t + x;"
    )
    assert suspicious_lines(block) == [5, 7, 3]
    assert suspicious_lines("Tool results:\njavac: compiles\ntests: 3 of 3 passed") == []
    raw = '{"verdict": "LOGIC_ERROR", "errors": [{"line": 7, "fix": "'
    item = VerifyItem(None, code, "P ", raw, {"errors": [{"line": 7, "fix": None}]}, block)
    seen = []

    def fake_branches(model, tokenizer, branches, n, *args, **kwargs):
        seen.extend(tokenizer.decode(ids)[len("P ") + len(raw) :] for ids in branches)
        return [[tokenizer(' x;"}]', add_special_tokens=False)["input_ids"]] * n for _ in branches]

    monkeypatch.setattr(verify, "sample_branches", fake_branches)
    got = propose_fixes(None, tok, item, samples=1)
    assert seen == ["        ", "            t =", "        return t", "        int t ="]
    assert [(p.line, p.action) for p in got] == [(None, "replace"), (5, "replace"), (7, "replace"), (3, "replace")]
