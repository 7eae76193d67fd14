"""The explanation sheet: the rows a person grades by hand, and the score of a graded sheet.

    python scripts/explanation_sheet.py make --predictions RUN/predictions.jsonl --split data/test.jsonl \\
        --per-kind 20 --out data/explanations/test.csv [--old-labels OLD/test.jsonl]
    python scripts/explanation_sheet.py make --predictions RUN/predictions_novices.jsonl \\
        --split data/handwritten/novices.jsonl --out data/explanations/novices.csv
    python scripts/explanation_sheet.py score data/explanations/*.csv

``make`` writes one row per chosen sample with an error (``--per-kind`` seeded rows of each of COMPILE_ERROR,
RUNTIME_ERROR and LOGIC_ERROR, or every sample), and for every correct program of a hand-written split: what was
wrong (the line the fix goes on, its text, the reference explanation: the teacher's for hand-written programs, else
the label's), what the model answered (verdict, line, explanation) and, with ``--old-labels``, the explanation the
old label templates gave the same program. The three judgement columns are left empty for a person to fill, by the
rule in data/explanations/RULE.md: ``names_line``, ``right_cause``, ``no_false_claim`` (1 or 0), and ``who`` is
``model`` or ``old_label`` (a row for each). ``score`` counts a row right when all three are 1, with a seeded
bootstrap 95% interval, per file, per who and per kind of error.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path

import numpy as np

KINDS = ("COMPILE_ERROR", "RUNTIME_ERROR", "LOGIC_ERROR")
COLUMNS = (
    "id",
    "who",
    "verdict",
    "fix_line",
    "fix_line_text",
    "reference",
    "answer_verdict",
    "answer_line",
    "explanation",
    "names_line",
    "right_cause",
    "no_false_claim",
    "note",
)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _code(sample: dict) -> list[str]:
    from fedjava.prompts import split_user_prompt

    user = next(m for m in reversed(sample["messages"]) if m["role"] == "user")["content"]
    return split_user_prompt(user)[1].rstrip("\n").split("\n")


def make(args: argparse.Namespace) -> int:
    samples = _rows(Path(args.split))
    predictions = {p["index"]: p for p in _rows(Path(args.predictions))}
    if len(predictions) != len(samples):
        sys.exit(
            f"{args.predictions} has {len(predictions)} rows and {args.split} {len(samples)}: run the "
            "evaluation on the whole split (no --max-samples)"
        )
    old = _rows(Path(args.old_labels)) if args.old_labels else None
    chosen = []
    rng = random.Random(args.seed)
    for kind in KINDS:
        of_kind = [i for i, s in enumerate(samples) if json.loads(s["messages"][-1]["content"])["verdict"] == kind]
        chosen += sorted(rng.sample(of_kind, min(args.per_kind, len(of_kind)))) if args.per_kind else of_kind
    if not args.per_kind:  # a hand-written split: its correct programs too (an error claimed there is false)
        chosen += [
            i for i, s in enumerate(samples) if json.loads(s["messages"][-1]["content"])["verdict"] == "NO_ERROR"
        ]
    out = []
    for i in chosen:
        sample, gold = samples[i], json.loads(samples[i]["messages"][-1]["content"])
        meta, lines = sample.get("meta") or {}, _code(sample)
        error = gold["errors"][0] if gold["errors"] else {}
        fix_line = meta.get("fix_line") or error.get("line") or ""
        base = {
            "id": meta.get("id") or f"{Path(args.split).stem}:{i}",
            "verdict": gold["verdict"],
            "fix_line": fix_line,
            "fix_line_text": lines[fix_line - 1].strip()
            if isinstance(fix_line, int) and 0 < fix_line <= len(lines)
            else "",
            "reference": meta.get("reference_explanation") or error.get("explanation", ""),
        }
        parsed = predictions[i].get("parsed") or {}
        first = (parsed.get("errors") or [{}])[0]
        out.append(
            {
                **base,
                "who": "model",
                "answer_verdict": parsed.get("verdict", "INVALID"),
                "answer_line": first.get("line", ""),
                "explanation": first.get("explanation", ""),
            }
        )
        if old is not None and gold["errors"]:
            old_error = json.loads(old[i]["messages"][-1]["content"])["errors"][0]
            out.append(
                {
                    **base,
                    "who": "old_label",
                    "answer_verdict": gold["verdict"],
                    "answer_line": old_error["line"],
                    "explanation": old_error["explanation"],
                }
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, COLUMNS)
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in COLUMNS} for row in out)
    print(f"wrote {len(out)} rows to {args.out}")
    return 0


def _interval(values: list[int], seed: int = 0, n_boot: int = 2000) -> tuple[float, float]:
    arr = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    draws = [float(np.mean(arr[rng.integers(0, len(arr), len(arr))])) for _ in range(n_boot)]
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def score(args: argparse.Namespace) -> int:
    groups: dict[tuple[str, str, str], list[int]] = {}
    for path in args.sheets:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                marks = [row[k].strip() for k in ("names_line", "right_cause", "no_false_claim")]
                if any(m not in ("0", "1") for m in marks):
                    sys.exit(
                        f"{path}: row {row['id']} ({row['who']}) is not graded (each of names_line, "
                        "right_cause, no_false_claim must be 0 or 1)"
                    )
                right = int(all(m == "1" for m in marks))
                for kind in (row["verdict"], "all"):
                    groups.setdefault((Path(path).stem, row["who"], kind), []).append(right)
    print(f"{'sheet':12s} {'who':10s} {'kind':14s} {'n':>4s} {'right':>6s}  95% interval")
    for (sheet, who, kind), values in sorted(groups.items()):
        low, high = _interval(values)
        print(f"{sheet:12s} {who:10s} {kind:14s} {len(values):4d} {np.mean(values):6.3f}  [{low:.3f}, {high:.3f}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    mk = sub.add_parser("make", help="write the rows to grade")
    mk.add_argument("--predictions", required=True)
    mk.add_argument("--split", required=True)
    mk.add_argument("--per-kind", type=int, default=0, help="seeded rows of each kind of error (0: every sample)")
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--old-labels", help="the same split as the old label templates wrote it")
    mk.add_argument("--out", required=True)
    mk.set_defaults(func=make)
    sc = sub.add_parser("score", help="count the graded rows")
    sc.add_argument("sheets", nargs="+")
    sc.set_defaults(func=score)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
