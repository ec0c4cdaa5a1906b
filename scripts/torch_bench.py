"""PyTorch's side of the benchmark: the workloads of benches/lstm.rs, timed the same way
(warm-up runs, then timed runs; median, min and max in ms), each in a process of its own so
its peak resident memory is its own.

    python3 -m venv .venv-torch && .venv-torch/bin/pip install torch numpy
    .venv-torch/bin/python scripts/torch_bench.py [--threads N] [--quick] [--only W3]
    .venv-torch/bin/python scripts/torch_bench.py --device cuda    # on a GPU: cuDNN

Prints one JSON object per workload on its own line, with the ids benches/lstm.rs uses:
    {"workload": "W3-uni-train", "median_ms": ..., "min_ms": ..., "max_ms": ..., "runs": ...,
     "peak_rss_mib": ...}

Workloads (float32, batch-first; BENCHMARKS.md describes them):
    W1  one epoch of the Keras sine recipe: 1000 windows, B32, T49, I1, H50, Adam 1e-3
    W2  1000 full-batch epochs of the PyTorch sine recipe: B155, T5, I1, H10, SGD 0.01
    W3  a training step (forward, sum, backward) and a forward of 2 x LSTM(256), B64, T100,
        I128, one and two directions
    W4  a training step of the PTB small language model: B20, T20, vocabulary 10000, embedding
        200, 2 x LSTM(200), SGD lr 1, global clipping at 5, state carried
    W5  W3 with per-row lengths spread over 10..=100 in a shuffled order: packed sequences
        (pack_padded_sequence, enforce_sorted=False)
    W6  W3 with proj_size 128
    W8  200 tokens generated one at a time from the W4 model, each sampled from the softmax;
        the time per token
    S   W3's training step (one direction) at 50, 200 and 800 steps; the time per step
(W7, recurrent dropout, has no PyTorch equivalent.)
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

WORKLOADS = [
    "W1-epoch", "W2-1000-epochs", "W3-uni-train", "W3-uni-forward", "W3-bi-train",
    "W3-bi-forward", "W4-ptb-small-step", "W5-padded-train", "W5-padded-forward",
    "W6-proj-train", "W6-proj-forward", "W8-generate-token", "S-T50-train", "S-T200-train",
    "S-T800-train", "S-T50-small-train", "S-T200-small-train", "S-T800-small-train",
]


# Where the workloads run: "cpu", or "cuda" (cuDNN's LSTM), set by --device.
DEVICE = "cpu"


def synchronize():
    """Waits for the GPU's queued work, so that a time covers it."""
    if DEVICE != "cpu":
        import torch
        torch.cuda.synchronize()


def timed(fn, warmup, runs, per=1.0):
    for _ in range(warmup):
        fn()
    synchronize()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        synchronize()
        times.append((time.perf_counter() - start) * 1000.0 / per)
    return times


def regressor(torch, nn, hidden):
    class LastStep(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(1, hidden, batch_first=True)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    return LastStep()


def w1(torch, nn, quick):
    import numpy as np
    rng = np.random.default_rng(0)
    starts = rng.random(1000)
    seqs = np.stack([np.sin(np.linspace(s, s + 2 * np.pi, 50)) for s in starts]).astype(np.float32)
    x, y = torch.from_numpy(seqs[:, :49, None]), torch.from_numpy(seqs[:, 49:])
    x, y = x.to(DEVICE), y.to(DEVICE)
    model = regressor(torch, nn, 50).to(DEVICE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def epoch():
        order = torch.randperm(1000)
        for b in range(0, 1000, 32):
            idx = order[b:b + 32]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()

    return timed(epoch, 1, 2 if quick else 5)


def w2(torch, nn, quick):
    data = torch.sin(torch.arange(-10, 10, 0.1, device=DEVICE))
    windows = len(data) - 5 - 1
    x = torch.stack([data[i:i + 5] for i in range(windows)]).unsqueeze(-1)[:155]
    y = torch.stack([data[i + 5] for i in range(windows)]).unsqueeze(-1)[:155]
    model = regressor(torch, nn, 10).to(DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()

    def thousand_epochs():
        for _ in range(1000):
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

    return timed(thousand_epochs, 0, 1 if quick else 3)


def padded_lengths(batch):
    """Lengths spread evenly over 10..=100, shuffled as benches/lstm.rs shuffles them."""
    lengths = [10 + i * 90 // (batch - 1) for i in range(batch)]
    for i in range(batch):
        j = (i * 37 + 11) % batch
        lengths[i], lengths[j] = lengths[j], lengths[i]
    return lengths


def w3(torch, nn, workload, quick):
    """W3 and its variants; S-T<seq>-train: W3's other sizes at `seq` steps, time per step
    (S-T<seq>-small-train: batch 8, 16 inputs, 32 units)."""
    batch, features, hidden = (8, 16, 32) if "-small-" in workload else (64, 128, 256)
    seq = int(workload.split("-")[1][1:]) if workload.startswith("S-") else 100
    per = seq if workload.startswith("S-") else 1.0
    x = torch.randn(batch, seq, features, device=DEVICE)
    options = {"num_layers": 2, "batch_first": True,
               "bidirectional": workload.startswith("W3-bi")}
    if workload.startswith("W6"):
        options["proj_size"] = 128
    lstm = nn.LSTM(features, hidden, **options).to(DEVICE)
    if workload.startswith("W5"):
        lengths = torch.tensor(padded_lengths(batch))
        pack = nn.utils.rnn.pack_padded_sequence
        unpack = nn.utils.rnn.pad_packed_sequence

        def run():
            packed = pack(x, lengths, batch_first=True, enforce_sorted=False)
            out, _ = lstm(packed)
            return unpack(out, batch_first=True, total_length=seq)[0]
    else:
        def run():
            return lstm(x)[0]

    if workload.endswith("train"):
        def step():
            lstm.zero_grad(set_to_none=True)
            run().sum().backward()
    else:
        def step():
            with torch.no_grad():
                run()
    return timed(step, 1, 3 if quick else 7, per=per)


def language_model(torch, nn, vocab=10000, size=200):
    class PtbSmall(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, size)
            self.lstm = nn.LSTM(size, size, num_layers=2, batch_first=True)
            self.head = nn.Linear(size, vocab)
            for p in self.parameters():
                nn.init.uniform_(p, -0.1, 0.1)

        def forward(self, tokens, state):
            out, state = self.lstm(self.embed(tokens), state)
            return self.head(out), state

    return PtbSmall()


def w4(torch, nn, quick):
    model = language_model(torch, nn).to(DEVICE)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    tokens = torch.randint(0, 10000, (20, 21), device=DEVICE)
    state = [None]

    def step():
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        if state[0] is not None:
            state[0] = tuple(s.detach() for s in state[0])
        logits, state[0] = model(inputs, state[0])
        # Zaremba's scaling: summed over the time steps, averaged over the batch.
        loss = nn.functional.cross_entropy(logits.reshape(-1, 10000), targets.reshape(-1)) * 20
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()

    return timed(step, 2, 3 if quick else 10)


def w8(torch, nn, quick):
    model = language_model(torch, nn).to(DEVICE).eval()
    length = 200
    generator = torch.Generator(device=DEVICE).manual_seed(1)

    def generate():
        with torch.no_grad():
            token, state = torch.tensor([[1]], device=DEVICE), None
            for _ in range(length):
                logits, state = model(token, state)
                probabilities = torch.softmax(logits[0, -1], dim=0)
                token = torch.multinomial(probabilities, 1, generator=generator).view(1, 1)

    return timed(generate, 1, 2 if quick else 5, per=length)


def measure(workload, threads, quick):
    import torch
    from torch import nn
    if DEVICE != "cpu" and not torch.cuda.is_available():
        sys.exit(f"--device {DEVICE}: PyTorch sees no CUDA GPU")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if workload == "W1-epoch":
        times = w1(torch, nn, quick)
    elif workload == "W2-1000-epochs":
        times = w2(torch, nn, quick)
    elif workload == "W4-ptb-small-step":
        times = w4(torch, nn, quick)
    elif workload == "W8-generate-token":
        times = w8(torch, nn, quick)
    else:
        times = w3(torch, nn, workload, quick)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {"workload": workload, "median_ms": round(statistics.median(times), 3),
            "min_ms": round(min(times), 3), "max_ms": round(max(times), 3), "runs": len(times),
            "peak_rss_mib": round(peak_mib, 1), "threads": threads, "device": DEVICE}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--only", default=None, help="workloads whose id starts with this")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where to run: the CPU (oneDNN) or a CUDA GPU (cuDNN)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if args.child:
        print(json.dumps(measure(args.child, args.threads, args.quick)), flush=True)
        return
    import torch
    print(json.dumps({"torch": torch.__version__, "threads": args.threads,
                      "mkldnn": torch.backends.mkldnn.is_available()}), flush=True)
    for workload in WORKLOADS:
        if args.only and not workload.lower().startswith(args.only.lower()):
            continue
        command = [sys.executable, __file__, "--child", workload, "--threads", str(args.threads),
                   "--device", args.device]
        if args.quick:
            command.append("--quick")
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"{workload} failed:\n{result.stderr}")
        print(result.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
