#!/usr/bin/env python
"""Check that builtin:gemma-3-270m converts to the same token ids, weights and logits under another transformers.

transformers 5.17's own GGUF tokenizer converter split "public static int" into `public ▁st at ic ▁int`,
and nothing warned. fedjava now builds that tokenizer itself; this script proves the result is the same
under an older transformers. It installs transformers==VERSION with ``pip install --target TMP --no-deps``
(plus whichever of its requirements the current environment does not satisfy, e.g. huggingface_hub<2),
converts the built-in model with it into a temporary cache (that transformers first on sys.path), does the
same with the current transformers (its usual cache, converted only when stale; --fresh for a new one), and
compares the reference ids, the tokens of training samples, the weight fingerprint and the logits.

    python scripts/check_builtin_model.py                        # transformers 5.17.0 vs the installed one
    python scripts/check_builtin_model.py --version 5.0.0 --keep /tmp/check5.0

Prints what it compared and PASS or FAIL; the exit code is 0 on PASS. Needs the package index (pip) and
about 5-10 minutes on 2 CPU cores (two conversions of about a minute each when the machine is idle).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # this checkout's fedjava, also where an older one is installed
SAMPLES = 20  # training samples whose tokens are counted and compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", default="5.17.0", help="the transformers version to compare (default 5.17.0)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="convert with the current transformers too, into a temporary cache, instead of using the usual cache",
    )
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)  # internal: the child process's report
    args = parser.parse_args(argv)
    if args.probe:
        return probe(args.probe)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return check(args.version, args.keep, args.fresh)
    with tempfile.TemporaryDirectory(prefix="check_builtin_") as work:
        return check(args.version, Path(work), args.fresh)


def check(version: str, work: Path, fresh: bool) -> int:
    """Install ``version``, probe the conversion under it and under the current transformers, compare."""
    site = work / f"transformers-{version}"
    install(version, site)
    old = run_probe(work / "old", [site], cache=work / "old" / "cache")
    new = run_probe(work / "new", [], cache=work / "new" / "cache" if fresh else None)
    return report(old, new)


def install(version: str, site: Path) -> None:
    """transformers==version into ``site``, and the requirements the current environment does not meet."""
    pip(site, [f"transformers=={version}"])
    for _ in range(3):  # what got installed may need more (huggingface_hub 1.x needs a newer click, ...)
        missing = unmet_requirements(site)
        if not missing:
            return
        print(f"installing into {site} too: {', '.join(missing)}")
        pip(site, missing)
    raise SystemExit(f"requirements still unmet in {site}: {', '.join(unmet_requirements(site))}")


def pip(site: Path, requirements: list[str]) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(site),
        "--no-deps",
        "--upgrade",
        *requirements,
    ]
    subprocess.run(command, check=True)


def unmet_requirements(site: Path) -> list[str]:
    """Requirements of the packages in ``site`` that neither ``site`` nor the current environment satisfies."""
    from importlib import metadata

    from packaging.requirements import Requirement

    installed = {
        d.metadata["Name"].lower().replace("_", "-"): d.version for d in metadata.distributions(path=[str(site)])
    }
    unmet = []
    for dist in metadata.distributions(path=[str(site)]):
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = requirement.name.lower().replace("_", "-")
            try:
                have = installed.get(name) or metadata.version(name)
            except metadata.PackageNotFoundError:
                have = None
            if have is None or not requirement.specifier.contains(have, prereleases=True):
                unmet.append(f"{requirement.name}{requirement.specifier}")
    return sorted(set(unmet))


def run_probe(out: Path, first_on_path: list[Path], cache: Path | None) -> dict:
    """Run :func:`probe` in a child Python whose sys.path starts with ``first_on_path`` and this checkout."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=os.pathsep.join([*map(str, first_on_path), str(REPO / "src")]),
    )
    if cache is not None:
        env["FEDJAVA_CACHE"] = str(cache)
    subprocess.run([sys.executable, __file__, "--probe", str(out / "report.json")], env=env, check=True)
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


def probe(report_path: Path) -> int:
    """In the child: convert (or find) the built-in model and write what the parent compares."""
    import torch
    import transformers

    from fedjava.gguf_convert import ConversionCheckError, read_marker, weights_sha256
    from fedjava.models import GEMMA3_270M, builtin_gemma_dir

    result = {"transformers": transformers.__version__, "transformers_file": transformers.__file__}
    print(f"[probe] transformers {transformers.__version__} from {Path(transformers.__file__).parent}", flush=True)
    try:
        folder = builtin_gemma_dir()
    except ConversionCheckError as exc:
        result["refused"] = str(exc)
        report_path.write_text(json.dumps(result, indent=2), encoding="utf-8")
        return 0
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    marker = read_marker(folder)
    result.update(
        folder=str(folder),
        marker=marker,
        tokenizer_class=type(tokenizer).__name__,
        reference_ids=[list(tokenizer(t, add_special_tokens=s)["input_ids"]) for t, s, _ in GEMMA3_270M.token_ids],
        public_static_int=tokenizer.tokenize("public static int"),
        samples=sample_ids(tokenizer),
        transformers_own_gguf_tokenizer=transformers_own_tokenizer(marker["gguf_path"]),
    )
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    result["weights_sha256"] = weights_sha256(model.state_dict())
    ids = torch.tensor([[i for _, _, ids in GEMMA3_270M.token_ids for i in ids]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    torch.save(logits, report_path.with_name("logits.pt"))
    result["logits"] = str(report_path.with_name("logits.pt"))
    report_path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def sample_ids(tokenizer) -> list[list[int]]:
    """The token ids of the first training samples, tokenized as training does."""
    from fedjava.prompts import load_samples, tokenize_sample

    samples = load_samples(REPO / "data" / "train.jsonl")[:SAMPLES]
    return [list(tokenize_sample(tokenizer, sample, 100_000)[0]["input_ids"]) for sample in samples]


def transformers_own_tokenizer(gguf_path: str) -> dict:
    """What this transformers' GGUF tokenizer converter would have given (fedjava no longer uses it)."""
    from transformers import AutoTokenizer

    from fedjava.gguf_convert import GEMMA_CHAT_TEMPLATE

    path = Path(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    counts = [len(ids) for ids in sample_ids(tokenizer)]
    return {
        "public_static_int": tokenizer.tokenize("public static int"),
        "mean_sample_tokens": sum(counts) / len(counts),
    }


def report(old: dict, new: dict) -> int:
    """Print each comparison, then PASS or FAIL; returns the exit code."""
    from fedjava.models import GEMMA3_270M

    print(f"\nold: transformers {old['transformers']}    new: transformers {new['transformers']}")
    for side in (old, new):
        if "refused" in side:
            print(f"transformers {side['transformers']} refused the conversion: {side['refused']}\nFAIL")
            return 1
    reference = [list(ids) for _, _, ids in GEMMA3_270M.token_ids]
    rows = [
        ("tokenizer class loaded", old["tokenizer_class"], new["tokenizer_class"], True),
        (
            "'public static int' tokens",
            old["public_static_int"],
            new["public_static_int"],
            old["public_static_int"] == new["public_static_int"],
        ),
        (
            "reference ids (fedjava.models.GEMMA3_270M)",
            _same(old["reference_ids"], reference),
            _same(new["reference_ids"], reference),
            old["reference_ids"] == reference == new["reference_ids"],
        ),
        (
            f"token ids of {SAMPLES} training samples, as training tokenizes them (mean length)",
            _mean(old["samples"]),
            _mean(new["samples"]),
            old["samples"] == new["samples"],
        ),
        (
            "  transformers' own GGUF tokenizer (unused)",
            old["transformers_own_gguf_tokenizer"],
            new["transformers_own_gguf_tokenizer"],
            True,
        ),
        (
            "weights sha256",
            old["weights_sha256"],
            new["weights_sha256"],
            old["weights_sha256"] == new["weights_sha256"] == GEMMA3_270M.weights_sha256,
        ),
        (
            "weights sha256 in the marker",
            old["marker"]["weights_sha256"],
            new["marker"]["weights_sha256"],
            old["marker"]["weights_sha256"] == new["marker"]["weights_sha256"],
        ),
        ("converted by (marker)", old["marker"]["transformers"], new["marker"]["transformers"], True),
        ("tokenizer origin (marker)", old["marker"]["tokenizer"], new["marker"]["tokenizer"], True),
    ]
    rows.append(_logits_row(old["logits"], new["logits"]))
    for what, left, right, ok in rows:
        print(f"{'ok  ' if ok else 'DIFF'} {what}\n       old: {left}\n       new: {right}")
    passed = all(ok for *_, ok in rows)
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


def _logits_row(old_path: str, new_path: str) -> tuple:
    import torch

    old, new = torch.load(old_path), torch.load(new_path)
    diff = (old - new).abs().max().item()
    what = f"logits of the model on the reference ids, shape {tuple(old.shape)}: max |old - new| = {diff}"
    return what, f"sum {old.sum().item():.4f}", f"sum {new.sum().item():.4f}", torch.equal(old, new)


def _same(ids: list, reference: list) -> str:
    return "as stored" if ids == reference else f"DIFFERENT: {ids}"


def _mean(samples: list) -> str:
    return f"{sum(map(len, samples)) / len(samples):.1f} tokens"


if __name__ == "__main__":
    sys.exit(main())
