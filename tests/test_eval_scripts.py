"""The evaluation scripts: the ablation copies and the explanation sheet (made from real files, scored by hand)."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BLOCK = (
    "Tool results:\njavac: compiles\ntests: 1 of 3 passed\nfirst wrong result: Solution.f(1) returned 2, expected 3"
    "\nsuspicious lines (coverage): 4, 2\nsuspicious lines (mutants): 2\na change that passes every test: line 2: x;"
)


def test_the_ablation_copy_drops_only_the_kinds_asked_for():
    ablate = _script("ablate_evidence")
    assert ablate.dropped(BLOCK, {"mutants", "verified"}) == BLOCK.rsplit("\nsuspicious lines (mutants)", 1)[0]
    without_coverage = ablate.dropped(BLOCK, {"coverage"})
    assert "coverage" not in without_coverage and "(mutants): 2" in without_coverage and "a change" in without_coverage


def test_the_sheet_has_a_row_per_chosen_error_and_the_old_labels_beside_and_scores_graded_rows(tmp_path, capsys):
    sheet = _script("explanation_sheet")
    split = ROOT / "data" / "handwritten" / "students.jsonl"
    samples = [json.loads(line) for line in split.read_text().splitlines()]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text(
        "".join(
            json.dumps({"index": i, "parsed": json.loads(s["messages"][-1]["content"])}) + "\n"
            for i, s in enumerate(samples)
        )
    )
    out = tmp_path / "sheet.csv"
    assert (
        sheet.main(
            [
                "make",
                "--predictions",
                str(predictions),
                "--split",
                str(split),
                "--out",
                str(out),
                "--old-labels",
                str(split),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(out.open()))
    assert [r["who"] for r in rows].count("model") == 20 and [r["who"] for r in rows].count("old_label") == 16
    first = next(r for r in rows if r["id"] == "st_01" and r["who"] == "model")
    assert first["fix_line"] == "4" and first["fix_line_text"] == "boolean leap = false" and first["explanation"]
    with pytest.raises(SystemExit, match="not graded"):
        sheet.main(["score", str(out)])
    for i, row in enumerate(rows):
        row.update(names_line="1", right_cause="1" if i % 2 == 0 else "0", no_false_claim="1")
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, sheet.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    assert sheet.main(["score", str(out)]) == 0
    table = capsys.readouterr().out
    model_all = next(line for line in table.splitlines() if line.split()[1:3] == ["model", "all"])
    right = sum(1 for i, r in enumerate(rows) if r["who"] == "model" and i % 2 == 0)
    assert model_all.split()[3:5] == ["20", f"{right / 20:.3f}"]
