#!/usr/bin/env bash
# Centralized LoRA fine-tuning, as in the training guide:
#   bash scripts/run_centralized.sh --framework hf|unsloth [--gpu N] [--config PRESET] [key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
framework=hf
args=()
while (($#)); do
  case "$1" in
    --framework) framework="$2"; shift 2 ;;
    --framework=*) framework="${1#*=}"; shift ;;
    --gpu) export CUDA_VISIBLE_DEVICES="$2"; shift 2 ;;
    --gpu=*) export CUDA_VISIBLE_DEVICES="${1#*=}"; shift ;;
    -h|--help) echo "usage: bash scripts/run_centralized.sh --framework hf|unsloth [--gpu N] [--config PRESET] [key=value ...]"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ -x .venv/bin/fedjava ]]; then fedjava=.venv/bin/fedjava; else fedjava=fedjava; fi
exec "$fedjava" train --framework "$framework" "${args[@]}"
