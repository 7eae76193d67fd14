"""Turn the hand-written, tool-checked samples into the chat files training reads.

    python scripts/make_handwritten_data.py [--source data/handwritten/samples.yaml] [--out data/handwritten]

The first 48 records become data/handwritten/train.jsonl, the rest data/handwritten/valid.jsonl (the
records are ordered so that the validation tasks do not appear in training). These 60 samples were
written by hand and checked with javac and java; the main dataset is built by ``fedjava data build``.
Train on them with ``data_dir=data/handwritten``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from fedjava.prompts import build_messages, write_samples

TRAIN_COUNT = 48


def convert(records: list[dict]) -> list[dict]:
    return [
        {
            "messages": build_messages(r["requirement"], r["code"], r["answer"]),
            "meta": {"id": r["id"], "source": "handwritten", "evidence": r.get("evidence", "")},
        }
        for r in records
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="data/handwritten/samples.yaml")
    parser.add_argument("--out", default="data/handwritten")
    args = parser.parse_args()
    records = yaml.safe_load(Path(args.source).read_text(encoding="utf-8"))
    samples = convert(records)
    write_samples(samples[:TRAIN_COUNT], Path(args.out) / "train.jsonl")
    write_samples(samples[TRAIN_COUNT:], Path(args.out) / "valid.jsonl")
    print(f"wrote {min(len(samples), TRAIN_COUNT)} training and {max(len(samples) - TRAIN_COUNT, 0)} validation samples")


if __name__ == "__main__":
    main()
