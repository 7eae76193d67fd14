"""``fedjava train`` and ``fedjava federate``: centralized and simulated federated fine-tuning."""

from __future__ import annotations

import argparse
import sys

from fedjava.cli.common import (
    EXIT_INTERRUPTED,
    add_config_args,
    add_federation_args,
    add_run_folder_args,
    error,
    federated_config,
)

TRAIN_EPILOG = """examples:
  fedjava train --framework hf --config demo_cpu
  fedjava train --framework hf model_name=/models/Qwen3-8B-Base num_epochs=3 learning_rate=1e-4
  fedjava train --framework unsloth --config centralized_qwen3_8b use_4bit=true
  fedjava train --config demo_cpu --resume          # continue from the last checkpoint in the output folder
"""


FEDERATE_EPILOG = """examples:
  fedjava data split --clients 2                      # first: data/client_0.json, client_1.json, valid.json
  fedjava federate --algorithm fedavg --clients 2 --rounds 3
  fedjava federate --algorithm fedprox --clients 4 --rounds 5 --local-epochs 2 fedprox_mu=0.1
  fedjava federate --algorithm fedadam --config demo_cpu fedadam_eta=0.02
  fedjava federate --algorithm fedadam --rounds 5 --resume   # continue after the last completed round
"""


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and ``federate`` to the ``fedjava`` sub-commands."""
    train = sub.add_parser(
        "train",
        help="centralized LoRA fine-tuning (HF Trainer or Unsloth)",
        description="Centralized LoRA fine-tuning on data/train.jsonl, evaluated on data/valid.jsonl.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--framework",
        choices=["hf", "unsloth"],
        default="hf",
        help="hf: transformers Trainer + PEFT (CPU or GPU); unsloth: Unsloth (NVIDIA GPU only)",
    )
    add_run_folder_args(train, "last checkpoint")
    add_config_args(train)
    train.set_defaults(func=cmd_train)
    federate = sub.add_parser(
        "federate",
        help="federated LoRA fine-tuning on Flower (simulation, clients in parallel)",
        description="Federated LoRA fine-tuning: client i trains on data/client_i.json, the server aggregates "
        "with the chosen algorithm and evaluates on data/valid.json after every round. Outputs go to "
        "<results_dir>/<algorithm>/.",
        epilog=FEDERATE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_federation_args(federate)
    federate.set_defaults(func=cmd_federate)


def cmd_train(args: argparse.Namespace) -> int:
    from fedjava.config import load_config, warnings_for

    cfg = load_config(args.preset, args.overrides)
    for note in warnings_for(cfg):
        print(f"warning: {note}", file=sys.stderr)
    from fedjava.centralized import run_centralized
    from fedjava.training import NonFiniteLossError

    try:
        run_centralized(cfg, framework=args.framework, resume=args.resume, overwrite=args.overwrite)
    except NonFiniteLossError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_federate(args: argparse.Namespace) -> int:
    cfg = federated_config(args)
    from fedjava.federated.common import FederatedSetupError, check_federated_data

    try:
        check_federated_data(cfg)  # before Flower and Ray start
        from fedjava.federated.simulation import run_federated

        summary = run_federated(cfg, resume=args.resume, verbose=args.verbose, overwrite=args.overwrite)
    except FederatedSetupError as exc:
        return error(str(exc))
    except KeyboardInterrupt:
        from fedjava.federated.simulation import mute_flower, stop_process

        mute_flower()  # Flower's threads would report each Ray actor that Ctrl-C ended, with a traceback
        print(
            "\nerror: interrupted; the completed rounds' checkpoints are kept: continue with --resume", file=sys.stderr
        )
        stop_process(EXIT_INTERRUPTED)
    if summary["rounds_aggregated"] == 0 and summary["num_rounds"] > 0:
        print(
            "error: no round aggregated any client update (every client failed or was rejected; "
            "see the reasons above and in training.log)",
            file=sys.stderr,
        )
        return 1
    return 0
