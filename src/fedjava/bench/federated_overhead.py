"""What federating costs, in one run: federated rounds against the same clients' local training alone.

    python -m fedjava.bench.federated_overhead [--model builtin:gemma-3-270m] [--clients 2] [--samples 4]
                                               [--rounds 2] [--data data/handwritten/train.jsonl]

(a) ``fedjava federate``'s simulation (Flower + Ray, clients in parallel, ``client_num_cpus`` threads
    each): each round's wall time from sending the global adapter to the aggregated result;
(b) the same clients' local training alone: each client's shard, seed and thread count, every client in
    its own process, all at once (as in a round), through the same ``train_adapter``, without Flower.

Prints round wall time / slowest client's local training time (round 1 includes starting the Ray
workers and loading the base model in each; later rounds show the steady state), and the bytes each
client sends and receives per round as a fraction of the full model's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fedjava.config import Config, load_config
from fedjava.dataset.split import run_split
from fedjava.federated.common import cached_model, local_config, shard_path
from fedjava.prompts import load_samples, tokenize_samples, write_samples


def bench_overrides(args: argparse.Namespace, data_dir: Path, results: Path) -> list[str]:
    return [
        f"model_name={args.model}",
        f"data_dir={data_dir}",
        f"results_dir={results}",
        "batch_size=1",
        "gradient_accumulation_steps=1",
        "warmup_ratio=0",
        "lr_scheduler=constant",
        "save_strategy=no",
        "eval_strategy=no",
        f"max_seq_length={args.max_seq_length}",
        "logging_steps=1000",
        "report_to=none",
        f"num_clients={args.clients}",
        f"num_rounds={args.rounds}",
        "local_epochs=1",
        "algorithm=fedavg",
        f"client_num_cpus={args.threads}",
        "num_gpus=0",
        f"max_eval_samples={args.eval_samples}",
    ]


def run_local_client(overrides: list[str], client_id: int, rounds: int) -> dict:
    """One client's local training for rounds 1..R, as the ClientApp trains it, without Flower.

    Like a simulation worker, the process loads the model once and trains once per round, so round 1 is
    cold here too (first use of the weights) and later rounds are warm.
    """
    import torch

    from fedjava.training import train_adapter

    cfg = load_config(None, overrides, check_files=False)
    torch.set_num_threads(max(1, int(cfg.client_num_cpus)))
    model, tokenizer, initial, load_seconds = cached_model(cfg)
    features = tokenize_samples(
        tokenizer, load_samples(shard_path(cfg, client_id)), cfg.max_seq_length, cfg.truncation
    )[0]
    seconds = []
    for server_round in range(1, rounds + 1):
        result = train_adapter(
            model,
            tokenizer,
            local_config(cfg, server_round, client_id),
            features,
            None,
            Path(tempfile.mkdtemp(prefix="fedjava-bench-")),
            num_epochs=cfg.local_epochs,
            show_progress=False,
        )
        seconds.append(result.seconds)
    return {"client": client_id, "seconds": seconds, "load_seconds": load_seconds, "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.local:
        print(json.dumps(run_local_client(json.loads(args.local[0]), int(args.local[1]), int(args.local[2]))))
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.clients)

    work = Path(tempfile.mkdtemp(prefix="fedjava-fedbench-"))
    data_dir = work / "data"
    if not _write_client_data(args, data_dir):
        return 2
    overrides = bench_overrides(args, data_dir, work / "results")
    cfg = load_config(None, overrides, check_files=False)

    print(
        f"(a) federated: {args.rounds} round(s) of {args.clients} clients in the Flower simulation ...",
        file=sys.stderr,
        flush=True,
    )
    summary, federated_seconds, rounds = _run_federated_rounds(cfg, work / "results")

    print(f"(b) local training alone: {args.clients} clients in parallel, no Flower ...", file=sys.stderr, flush=True)
    local = _run_clients_alone(overrides, args.clients, len(rounds))
    if local is None:
        return 1

    _print_report(args, rounds, local, summary, federated_seconds)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="builtin:gemma-3-270m")
    parser.add_argument("--data", default="data/handwritten/train.jsonl", help="samples to deal to the clients")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--samples", type=int, default=4, help="samples (= steps of batch 1) per client per round")
    parser.add_argument("--rounds", type=int, default=2, help="federated rounds (the first one is cold)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per client (0 = cores / clients)")
    parser.add_argument("--max-seq-length", type=int, default=1024)
    parser.add_argument("--eval-samples", type=int, default=2, help="validation samples the server evaluates")
    parser.add_argument("--local", nargs=3, metavar=("OVERRIDES_JSON", "CLIENT", "ROUNDS"), help=argparse.SUPPRESS)
    return parser


def _write_client_data(args: argparse.Namespace, data_dir: Path) -> bool:
    """Write train/valid files and the clients' shards to data_dir; False (said on stderr) if --data is too small."""

    samples = load_samples(args.data)[: args.clients * args.samples]
    if len(samples) < args.clients * args.samples:
        print(
            f"error: {args.data} has {len(samples)} samples, fewer than {args.clients} x {args.samples}",
            file=sys.stderr,
        )
        return False
    write_samples(samples, data_dir / "train.jsonl")
    write_samples(samples[: args.eval_samples], data_dir / "valid.jsonl")
    run_split(data_dir, args.clients)
    return True


def _run_federated_rounds(cfg: Config, results: Path) -> tuple[dict, float, list[dict]]:
    """(a): the simulation's summary, its whole wall time, and the history of its training rounds."""
    from fedjava.federated.simulation import run_federated

    started = time.perf_counter()
    summary = run_federated(cfg, printer=lambda line: print(line, file=sys.stderr))
    federated_seconds = time.perf_counter() - started
    history = json.loads((results / "fedavg" / "training_history.json").read_text())
    rounds = [r for r in history["rounds"] if r.get("round", 0) > 0]
    return summary, federated_seconds, rounds


def _run_clients_alone(overrides: list[str], clients: int, rounds: int) -> list[dict] | None:
    """(b): every client's :func:`run_local_client` in its own process, all at once; None (stderr shown) if one fails."""
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fedjava.bench.federated_overhead",
                "--local",
                json.dumps(overrides),
                str(client),
                str(rounds),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for client in range(clients)
    ]
    local = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            print(err[-3000:], file=sys.stderr)
            return None
        local.append(json.loads(out.strip().splitlines()[-1]))
    return local


def _print_report(
    args: argparse.Namespace, rounds: list[dict], local: list[dict], summary: dict, federated_seconds: float
) -> None:
    print(
        f"\nmodel {args.model}, {args.clients} clients x {args.samples} samples (batch 1: {args.samples} steps "
        f"per client per round), {args.threads} thread(s) per client, {os.cpu_count()} cores"
    )
    ratios = _print_round_table(rounds, local)
    print(
        f"\nround wall time / slowest client's local time: {ratios[-1]:.2f} (round {rounds[-1]['round']}, "
        f"warm; target <= 1.15)"
    )
    client = rounds[-1]["clients"][0]
    model_bytes = summary["model_bytes"]
    print(
        f"bytes per client per round: {client['bytes_sent'] / 1e6:.2f} MB to the client, "
        f"{client['bytes_received'] / 1e6:.2f} MB back; full model {model_bytes / 1e9:.3f} GB: "
        f"{client['bytes_sent'] / model_bytes:.2%} each way"
    )
    print(f"whole federated run (Ray start, {args.rounds} round(s), evaluations, saving): {federated_seconds:.1f} s")


def _print_round_table(rounds: list[dict], local: list[dict]) -> list[float]:
    """One line per round, federated against alone; returns each round's wall time / slowest client alone."""
    print(
        f"{'round':<14s} {'round wall s':>12s} {'slowest in round s':>19s} {'slowest alone s':>16s} "
        f"{'wall / alone':>13s}"
    )
    ratios = []
    for i, r in enumerate(rounds):
        in_round = max(c["train_seconds"] for c in r["clients"])
        alone = max(c["seconds"][i] for c in local)
        ratios.append(r["train_phase_seconds"] / alone)
        kind = f"{r['round']} ({'cold' if i == 0 else 'warm'})"
        print(f"{kind:<14s} {r['train_phase_seconds']:12.1f} {in_round:19.1f} {alone:16.1f} {ratios[-1]:13.2f}")
    print(
        "(round 1: the simulation also starts its Ray workers, and every process, federated or alone, loads "
        "the model and touches its weights for the first time)"
    )
    return ratios


if __name__ == "__main__":
    sys.exit(main())
