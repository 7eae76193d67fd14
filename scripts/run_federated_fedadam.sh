#!/usr/bin/env bash
# Federated LoRA fine-tuning with FedAdam on Flower, as in the training guide:
#   bash scripts/run_federated_fedadam.sh --mode simulation [--clients N] [--rounds R] [--local-epochs E] \
#        [--gpus N] [--config PRESET] [--resume] [key=value ...]
# FedAdam's knobs are config keys: fedadam_eta, fedadam_beta1, fedadam_beta2, fedadam_tau.
# Client i trains on data/client_i.json: make the shards first with `fedjava data split --clients N`.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/run_federated_fedadam.sh --mode simulation [--clients N] [--rounds R] [--local-epochs E] [--gpus N] [--config PRESET] [--resume] [key=value ...]"
mode=simulation
args=()
while (($#)); do
  case "$1" in
    --mode) mode="$2"; shift 2 ;;
    --mode=*) mode="${1#*=}"; shift ;;
    --clients|--rounds|--local-epochs|--config) args+=("$1" "$2"); shift 2 ;;
    --gpus) args+=("num_gpus=$2"); shift 2 ;;
    --gpus=*) args+=("num_gpus=${1#*=}"); shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -x .venv/bin/fedjava ]]; then fedjava=.venv/bin/fedjava; else fedjava=fedjava; fi
case "$mode" in
  simulation)
    exec "$fedjava" federate --algorithm fedadam "${args[@]}" ;;
  server|client|distributed)
    echo "error: --mode $mode (clients on several machines) is not implemented yet; use --mode simulation" >&2
    exit 2 ;;
  *)
    echo "error: unknown --mode '$mode' (simulation; server, client and distributed are planned)" >&2
    echo "$usage" >&2
    exit 2 ;;
esac
