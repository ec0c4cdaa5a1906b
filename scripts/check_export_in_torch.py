"""Checks that an LSTM exported by burn-lstm loads into PyTorch's nn.LSTM and computes the
same outputs as the Rust side printed.

    cargo run --release --example import_pytorch -- tests/data/interop/torch_bi2.pt \
        --export /tmp/bi2_back.safetensors --seq 6 --batch 2 > /tmp/rust_bi2.txt
    .venv-torch/bin/python scripts/check_export_in_torch.py /tmp/bi2_back.safetensors /tmp/rust_bi2.txt
"""
import math
import re
import sys

import torch
from safetensors.torch import load_file


def main(exported, rust_output):
    state = load_file(exported)
    layers = len({k for k in state if k.startswith("weight_ih_l") and not k.endswith("reverse")})
    hidden = state["weight_hh_l0"].shape[1] if "weight_hr_l0" not in state else state["weight_hr_l0"].shape[1]
    proj = state["weight_hr_l0"].shape[0] if "weight_hr_l0" in state else 0
    lstm = torch.nn.LSTM(state["weight_ih_l0"].shape[1], state["weight_ih_l0"].shape[0] // 4, num_layers=layers,
                         bidirectional="weight_ih_l0_reverse" in state, proj_size=proj, batch_first=True)
    lstm.load_state_dict(state)  # strict: every name and shape must match
    text = open(rust_output).read()
    batch, seq = map(int, re.search(r"input \[batch (\d+), seq (\d+)", text).groups())
    features = lstm.input_size
    x = torch.tensor([[[math.sin(0.7 * t + 0.3 * f + b) for f in range(features)] for t in range(seq)]
                      for b in range(batch)], dtype=torch.float32)
    with torch.no_grad():
        out, _ = lstm(x)
    block = text.split("output [")[1].split("data:")[1].split("shape:")[0]
    rust = torch.tensor([float(v) for v in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", block)]).reshape(out.shape)
    error = (rust - out).abs().max().item()
    print(f"nn.LSTM.load_state_dict accepted {exported}; max |rust - torch| = {error:.2e}")
    assert error < 1e-5


if __name__ == "__main__":
    main(*sys.argv[1:])
