"""A copy of a sample file with some localisation facts taken out of every sample's evidence: the ablation rows.

    python scripts/ablate_evidence.py data/test.jsonl /tmp/test_no_mutants.jsonl --drop mutants verified
    python scripts/ablate_evidence.py data/test.jsonl /tmp/test_no_coverage.jsonl --drop coverage

``--drop`` takes any of ``coverage`` (suspicious lines by coverage), ``mutants`` (suspicious lines by mutants) and
``verified`` (the change that passes every test). Evaluating one model on the copies (``fedjava evaluate --split
FILE``) says what each kind of evidence contributes to its answers without training again.
"""

from __future__ import annotations

import argparse
import sys

from fedjava.java.evidence import Evidence, SuspiciousLines, VerifiedChange
from fedjava.prompts import load_samples, write_samples

KINDS = ("coverage", "mutants", "verified")


def dropped(block: str, drop: set[str]) -> str:
    """``block`` without the facts of the kinds in ``drop``."""
    kept = [
        f
        for f in Evidence.parse(block).facts
        if not (isinstance(f, SuspiciousLines) and f.method in drop)
        and not (isinstance(f, VerifiedChange) and "verified" in drop)
    ]
    return Evidence(tuple(kept)).render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--drop", nargs="+", choices=KINDS, required=True)
    args = parser.parse_args(argv)
    samples = load_samples(args.source)
    for sample in samples:
        sample["meta"]["evidence"] = dropped(sample["meta"]["evidence"], set(args.drop))
    write_samples(samples, args.out)
    print(f"wrote {len(samples)} samples to {args.out} without {', '.join(args.drop)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
