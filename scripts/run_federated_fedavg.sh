#!/usr/bin/env bash
# Federated LoRA fine-tuning with FedAvg or FedProx on Flower (simulation, clients in parallel), as in
# the training guide:
#   bash scripts/run_federated_fedavg.sh --algorithm fedavg|fedprox --clients 2 --rounds 3 \
#        [--local-epochs E] [--gpus N] [--config PRESET] [--resume] [key=value ...]
# Client i trains on data/client_i.json: make the shards first with `fedjava data split --clients N`
# (the run stops with that command when they are missing or were made for another N).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/run_federated_fedavg.sh --algorithm fedavg|fedprox [--clients N] [--rounds R] [--local-epochs E] [--gpus N] [--config PRESET] [--resume] [key=value ...]"
algorithm=fedavg
args=()
while (($#)); do
  case "$1" in
    --algorithm) algorithm="$2"; shift 2 ;;
    --algorithm=*) algorithm="${1#*=}"; shift ;;
    --clients|--rounds|--local-epochs|--config) args+=("$1" "$2"); shift 2 ;;
    --gpus) args+=("num_gpus=$2"); shift 2 ;;
    --gpus=*) args+=("num_gpus=${1#*=}"); shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$algorithm" in
  fedavg|fedprox) ;;
  fedadam) echo "error: for FedAdam use: bash scripts/run_federated_fedadam.sh --mode simulation" >&2; exit 2 ;;
  *) echo "error: this script runs fedavg or fedprox, not '$algorithm' (for any algorithm: fedjava federate --algorithm NAME)" >&2; echo "$usage" >&2; exit 2 ;;
esac
if [[ -x .venv/bin/fedjava ]]; then fedjava=.venv/bin/fedjava; else fedjava=fedjava; fi
exec "$fedjava" federate --algorithm "$algorithm" "${args[@]}"
