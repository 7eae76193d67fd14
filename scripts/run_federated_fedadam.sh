#!/usr/bin/env bash
# Federated LoRA fine-tuning with FedAdam on Flower, as in the training guide:
#   bash scripts/run_federated_fedadam.sh --mode simulation [--clients N] [--rounds R] [--local-epochs E] \
#        [--gpus N] [--config PRESET] [--resume] [key=value ...]
#   bash scripts/run_federated_fedadam.sh --mode server [--port 9092] [--clients N] [--rounds R] [--certs DIR] \
#        [--client-keys DIR] [--insecure] [--resume] [key=value ...]           # on the server machine
#   bash scripts/run_federated_fedadam.sh --mode client --client-id I [--server HOST:PORT] [--data FILE] \
#        [--ca FILE] [--key FILE] [--insecure]                                 # on each client machine
#   bash scripts/run_federated_fedadam.sh --mode distributed -n 2 [--port 9092] [--rounds R] [key=value ...]
#        # quick check on one machine: a server and N clients as separate processes, over TLS with
#        # client keys made for the occasion (in a temporary folder)
# FedAdam's knobs are config keys: fedadam_eta, fedadam_beta1, fedadam_beta2, fedadam_tau.
# Client i trains on data/client_i.json: make the shards first with `fedjava data split --clients N`.
# Several machines: see docs/DEPLOYMENT.md.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/run_federated_fedadam.sh --mode simulation|server|client|distributed [options] [key=value ...]
  simulation:  [--clients N] [--rounds R] [--local-epochs E] [--gpus N] [--config PRESET] [--resume]
  server:      [--port P] [--clients N] [--rounds R] [--certs DIR] [--client-keys DIR] [--insecure] [--resume]
  client:      --client-id I [--server HOST:PORT (default localhost:9092)] [--data FILE] [--ca FILE] [--key FILE]
  distributed: -n N [--port P] [--rounds R] [--local-epochs E] [--config PRESET]"
mode=simulation
args=()
clients=""
port=9092
while (($#)); do
  case "$1" in
    --mode) mode="$2"; shift 2 ;;
    --mode=*) mode="${1#*=}"; shift ;;
    -n|--clients) clients="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --rounds|--local-epochs|--config) args+=("$1" "$2"); shift 2 ;;
    --gpus) args+=("num_gpus=$2"); shift 2 ;;
    --gpus=*) args+=("num_gpus=${1#*=}"); shift ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -x .venv/bin/fedjava ]]; then fedjava=.venv/bin/fedjava; else fedjava=fedjava; fi
with_clients=()
[[ -n "$clients" ]] && with_clients=(--clients "$clients")
case "$mode" in
  simulation)
    exec "$fedjava" federate --algorithm fedadam "${with_clients[@]}" "${args[@]}" ;;
  server)
    exec "$fedjava" server --algorithm fedadam --port "$port" "${with_clients[@]}" "${args[@]}" ;;
  client)
    [[ " ${args[*]} " == *" --server "* ]] || args+=(--server "localhost:$port")
    exec "$fedjava" client "${args[@]}" ;;
  distributed)
    n="${clients:-2}"
    data_dir=data  # the clients read <data_dir>/client_I.json, as in the simulation
    for arg in "${args[@]}"; do [[ "$arg" == data_dir=* ]] && data_dir="${arg#data_dir=}"; done
    work="$(mktemp -d)"
    pids=()
    cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait || true; rm -rf "$work"; }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    keys=()
    for ((i = 0; i < n; i++)); do keys+=(--client-key "client$i"); done
    "$fedjava" certs --hosts localhost,127.0.0.1 --out "$work/certs" >/dev/null
    "$fedjava" certs "${keys[@]}" --out "$work/keys" >/dev/null
    mkdir "$work/registered" && cp "$work"/keys/*.pub "$work/registered/"
    echo "distributed check on this machine: 1 server + $n client(s) on port $port, TLS and client keys in $work"
    for ((i = 0; i < n; i++)); do
      "$fedjava" client --client-id "$i" --server "localhost:$port" --ca "$work/certs/ca.crt" \
        --key "$work/keys/client$i.key" --data "$data_dir/client_$i.json" > >(sed -u "s/^/[client $i] /") 2>&1 &
      pids+=($!)
    done
    status=0
    "$fedjava" server --algorithm fedadam --port "$port" --clients "$n" --certs "$work/certs" --client-keys "$work/registered" \
      "${args[@]}" || status=$?
    exit "$status" ;;
  *)
    echo "error: unknown --mode '$mode' (simulation, server, client or distributed)" >&2
    echo "$usage" >&2
    exit 2 ;;
esac
