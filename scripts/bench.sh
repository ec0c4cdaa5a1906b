#!/usr/bin/env bash
# The speed and memory table in one session: ours and burn's nn::Lstm on flex and on ndarray
# (cargo bench: every figure in a process of its own), then PyTorch's side of the same
# workloads (scripts/torch_bench.py), then the table (scripts/bench_table.py).
# Results: target/bench-flex.json, target/bench-ndarray.json, target/bench-torch.jsonl.
#
#   scripts/bench.sh                # full runs
#   scripts/bench.sh --quick        # fewer runs
#   scripts/bench.sh --only W3      # the workloads whose id starts with W3
#
# PyTorch comes from a virtual environment in .venv-torch (created on first use: the PyPI
# wheel with its CUDA libraries, about 4 GB, which runs on the CPU here). Run it on a quiet
# machine: a build beside it skews every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
args=("$@")
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench --bench lstm -- --backend flex --out target/bench-flex.json "${args[@]}"
cargo bench --bench lstm -- --backend ndarray --out target/bench-ndarray.json "${args[@]}"
if [ ! -x .venv-torch/bin/python ]; then
  python3 -m venv .venv-torch
  .venv-torch/bin/pip install --quiet torch numpy
fi
.venv-torch/bin/python scripts/torch_bench.py --threads "$(nproc)" "${args[@]}" | tee target/bench-torch.jsonl
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 scripts/bench_table.py target/bench-flex.json target/bench-ndarray.json target/bench-torch.jsonl
