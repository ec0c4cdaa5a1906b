#!/usr/bin/env bash
# Runs the speed benchmarks side by side in one session: ours against burn's nn::Lstm on flex
# and on ndarray (cargo bench), then PyTorch's reference timings of the same workloads.
# Results: target/bench-flex.json, target/bench-ndarray.json, target/bench-torch.jsonl.
#
#   scripts/bench.sh            # full runs
#   scripts/bench.sh --quick    # under a minute per backend
#
# PyTorch comes from a virtual environment in .venv-torch (created on first use: the PyPI
# wheel with its CUDA dependencies, about 4 GB, which runs on the CPU here).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --bench lstm -- --backend flex --out target/bench-flex.json $quick
cargo bench --bench lstm -- --backend ndarray --out target/bench-ndarray.json $quick
if [ ! -x .venv-torch/bin/python ]; then
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install --quiet torch numpy
fi
runs=10
[ "$quick" = "--quick" ] && runs=3
.venv-torch/bin/python ../shared/bench/torch_reference.py --threads "$(nproc)" --runs "$runs" | tee target/bench-torch.jsonl
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
