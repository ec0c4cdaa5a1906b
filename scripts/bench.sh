#!/usr/bin/env bash
# The speed and memory table in one session: for each workload, ours, burn's nn::Lstm and
# PyTorch's (scripts/torch_bench.py) one after the other, every figure in a process of its
# own, on flex and on ndarray; then the table (scripts/bench_table.py).
# Results: target/bench-flex.json, target/bench-ndarray.json.
#
#   scripts/bench.sh                # full runs
#   scripts/bench.sh --quick        # fewer runs
#   scripts/bench.sh --only W3      # the workloads whose id starts with W3
#
# On flex, ours runs once with the layer's measured kernel choice and once with each CPU
# kernel forced (`--kernel each`); on ndarray with the measured choice.
#
# PyTorch comes from a virtual environment in .venv-torch (created on first use: the PyPI
# wheel with its CUDA libraries, about 4 GB, which runs on the CPU here). Run it on a quiet
# machine: a build beside it skews every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
if [ ! -x .venv-torch/bin/python ]; then
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install --quiet torch numpy
fi
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Each workload: ours, burn's, then PyTorch's figure, one after the other.
lscpu | grep -E "Model name|Flags" | sed -E 's/^Flags: *(.*)/SIMD: \1/' | tr -s ' ' | cut -c1-400
for backend in flex ndarray; do
  kernels=auto
  [ "$backend" = flex ] && kernels=each
  cargo bench --features ndarray --bench lstm -- --backend "$backend" --out "target/bench-$backend.json" \
    --torch .venv-torch/bin/python --kernel "$kernels" "${args[@]}"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 scripts/bench_table.py target/bench-flex.json target/bench-ndarray.json
