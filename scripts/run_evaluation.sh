#!/usr/bin/env bash
# Evaluate the trained adapters and baselines on the test split, then write the comparison report:
#   bash scripts/run_evaluation.sh --type all|centralized|federated|fewshot [--results-dir DIR] \
#        [--max-samples N] [--few-shot K] [--config PRESET] [key=value ...]
# centralized: every <results_dir>/centralized_*/final_model; federated: every other run's final_model;
# fewshot: the base model zero-shot and with K examples (default 3) plus the majority baseline;
# all: the three. Each run's metrics.json lands beside its adapter; then `fedjava compare` writes
# <results_dir>/report.md and report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash scripts/run_evaluation.sh --type all|centralized|federated|fewshot [--results-dir DIR] [--max-samples N] [--few-shot K] [--config PRESET] [key=value ...]"
type=all
results=java_error_federated_results
shots=3
args=()
while (($#)); do
  case "$1" in
    --type) type="$2"; shift 2 ;;
    --type=*) type="${1#*=}"; shift ;;
    --results-dir) results="$2"; shift 2 ;;
    --few-shot) shots="$2"; shift 2 ;;
    --max-samples|--max-new-tokens|--batch-size|--config) args+=("$1" "$2"); shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$type" in all|centralized|federated|fewshot) ;; *) echo "error: unknown --type '$type'" >&2; echo "$usage" >&2; exit 2 ;; esac
if [[ -x .venv/bin/fedjava ]]; then fedjava=.venv/bin/fedjava; else fedjava=fedjava; fi
args+=("results_dir=$results")
found=0
for adapter in "$results"/*/final_model; do
  [[ -f "$adapter/adapter_config.json" ]] || continue
  run=$(basename "$(dirname "$adapter")")
  case "$run" in centralized*) kind=centralized ;; *) kind=federated ;; esac
  if [[ "$type" == all || "$type" == "$kind" ]]; then
    echo "== $run"
    "$fedjava" evaluate --adapter "$adapter" "${args[@]}"
    found=1
  fi
done
if [[ "$type" == all || "$type" == fewshot ]]; then
  echo "== base"; "$fedjava" evaluate --base "${args[@]}"
  echo "== base, $shots-shot"; "$fedjava" evaluate --base --few-shot "$shots" "${args[@]}"
  echo "== majority"; "$fedjava" evaluate --majority "${args[@]}"
  found=1
fi
if [[ "$found" == 0 ]]; then
  echo "error: no $type adapter in $results (train first: fedjava train / fedjava federate)" >&2
  exit 2
fi
exec "$fedjava" compare "$results"
