"""``fedjava export``: a trained adapter merged into its base model (:mod:`fedjava.export`), optionally as GGUF too."""

from __future__ import annotations

import argparse
from pathlib import Path

from fedjava.cli.common import add_adapter_option
from fedjava.export import GGUF_TYPES, export_merged, ordinary_modes
from fedjava.export_gguf import ExportError, converter_dir, write_gguf
from fedjava.files import writable_dir

EXPORT_EPILOG = """examples:
  fedjava export --adapter java_error_federated_results/fedavg/final_model --out grader_merged
  fedjava export --out grader_merged --gguf        # the shipped grader, plus grader_merged/model.gguf
"""


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    export = sub.add_parser(
        "export",
        help="merge an adapter into its base model and save a folder plain transformers loads",
        description="Load a trained adapter on its base model, merge it into the weights and save the result "
        "with save_pretrained (safetensors, config, generation config, tokenizer with its chat "
        "template) plus the prompt format, so that transformers alone can run it. --gguf also writes "
        "model.gguf with llama.cpp's converter.",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_adapter_option(export, answer_length=False)
    export.add_argument("--out", metavar="DIR", required=True, help="a new (or empty) folder for the merged model")
    export.add_argument(
        "--gguf",
        action="store_true",
        help="also write DIR/model.gguf with llama.cpp's converter (installed apart: see docs/grading.md, Export)",
    )
    export.add_argument("--gguf-type", default="f16", choices=GGUF_TYPES, help="the GGUF's weight type (default f16)")
    export.add_argument("--force", action="store_true", help="write into --out even if it is not empty")
    export.set_defaults(func=cmd_export)
    return export


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():  # --force writes into a folder; it cannot make a file one
        raise ExportError(f"{out}: is a file, not a folder; choose a new folder for --out")
    if out.exists() and any(out.iterdir()) and not args.force:
        raise ExportError(f"{out}: exists and is not an empty folder; choose a new --out or add --force")
    if args.gguf:
        converter_dir()  # a missing converter is said before minutes of merging
    writable_dir(out, "--out", ExportError)
    folder = export_merged(args.adapter, out)
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    print(
        f"Wrote the merged model to {folder} ({size / 1e6:.1f} MB); load it with "
        f"AutoModelForCausalLM.from_pretrained('{folder}')"
    )
    if args.gguf:
        gguf = folder / "model.gguf"
        arch, tensors = write_gguf(folder, gguf, args.gguf_type)
        ordinary_modes(folder)
        print(
            f"Wrote {gguf} ({gguf.stat().st_size / 1e6:.1f} MB, {args.gguf_type}); read back: architecture {arch}, "
            f"{tensors} tensors, as the merged model"
        )
    return 0
