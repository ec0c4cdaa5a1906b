#!/usr/bin/env bash
# The GPU check in two halves, for a GPU machine with no Rust toolchain and no network.
#
#   scripts/gpu_check.sh build        # here: builds what the check runs into .gpu-check/
#   scripts/gpu_check.sh run OUTDIR   # there (or here, on lavapipe): the check itself
#
#   GPU_CHECK_PROFILE=ci scripts/gpu_check.sh build     # a rehearsal's build: CI's profile
#   GPU_CHECK_ROWS="S" scripts/gpu_check.sh run OUTDIR  # a rehearsal on lavapipe: fewer rows
#
# build: the golden test binary and the bench binary with the GPU backend (`--features wgpu`),
# stripped and compressed, and the Vulkan loader packages a bare container may lack, into
# .gpu-check/ (ignored by git: carry it to the GPU machine). The repository's own files
# (tests/data, scripts/torch_bench.py) travel with the working tree.
#
# run: prints the GPU (`nvidia-smi`, and the Vulkan devices where `vulkaninfo` is there); runs the f32 golden
# cases on the GPU backend (the CubeCL kernels and the composed operations); then the bench
# rows W1, W3 (uni and bi, train and forward), W4 and the S rows on wgpu, burn's nn::Lstm
# beside, and PyTorch on CUDA (cuDNN) where python3 has torch with CUDA. Everything it prints
# is also written to OUTDIR (log, bench JSON). It is meant to finish inside 8 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.gpu-check
profile=${GPU_CHECK_PROFILE:-release}
rows=${GPU_CHECK_ROWS:-W1 W3 W4 S}

build() {
  grep -qx "/$dir/" .git/info/exclude 2>/dev/null || echo "/$dir/" >>.git/info/exclude
  rm -rf "$dir" && mkdir -p "$dir/debs"
  local messages
  messages=$(mktemp)
  cargo test --profile "$profile" --features wgpu --test golden --no-run \
    --message-format=json >"$messages"
  cargo build --profile "$profile" --features wgpu --bench lstm --message-format=json >>"$messages"
  python3 - "$messages" "$dir" <<'EOF'
import json, shutil, sys
messages, out = sys.argv[1], sys.argv[2]
for line in open(messages):
    try:
        message = json.loads(line)
    except ValueError:
        continue
    target = message.get("target", {})
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and target.get("name") in ("golden", "lstm"):
        shutil.copy(message["executable"], f"{out}/{target['name']}")
EOF
  rm -f "$messages"
  for binary in golden lstm; do
    [ -f "$dir/$binary" ] || { echo "error: the $binary binary was not built" >&2; exit 1; }
    strip "$dir/$binary"
    xz -T0 -6 -f "$dir/$binary"
  done
  # The Vulkan loader (the GPU machine's driver supplies the ICD) and what it links.
  (cd "$dir/debs" && apt-get download libvulkan1 >/dev/null)
  du -sh "$dir"/* | sed 's/^/   /'
}

run() {
  local out=${1:?usage: scripts/gpu_check.sh run OUTDIR}
  mkdir -p "$out"
  exec > >(tee "$out/gpu-check.log") 2>&1
  local start
  start=$(date +%s)
  if ! grep -q libvulkan.so.1 <<<"$(ldconfig -p)"; then
    for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" /; done
    ldconfig
  fi
  local bin
  bin=$(mktemp -d)
  for binary in golden lstm; do
    xz -dc "$dir/$binary.xz" >"$bin/$binary"
    chmod +x "$bin/$binary"
  done
  echo "== the GPU"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null \
    || echo "no nvidia-smi: not an NVIDIA machine (a rehearsal on lavapipe?)"
  if command -v vulkaninfo >/dev/null; then
    vulkaninfo --summary 2>/dev/null | grep -E "deviceName|driverName" || true
  fi
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/runtime-$(id -u)}"
  mkdir -p -m 700 "$XDG_RUNTIME_DIR"
  # The test binary reads the golden files from the crate's directory.
  export CARGO_MANIFEST_DIR=$PWD
  echo "== the f32 golden cases on wgpu: the CubeCL kernels, then the composed operations"
  "$bin/golden" golden_f32_cases_on_wgpu --exact --nocapture --test-threads 1
  echo "== the bench rows on wgpu, burn's nn::Lstm beside; PyTorch on CUDA where it runs"
  local torch=()
  if python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    torch=(--torch python3)
  else
    echo "   (no PyTorch with CUDA here: its column stays empty)"
  fi
  for row in $rows; do
    "$bin/lstm" --backend wgpu --quick --only "$row" "${torch[@]}" --out "$out/bench-$row.json"
  done
  echo "== the GPU check took $(( $(date +%s) - start )) s"
}

case "${1:-}" in
  build) build ;;
  run) run "${2:-}" ;;
  *) echo "usage: scripts/gpu_check.sh build | run OUTDIR" >&2; exit 2 ;;
esac
