"""The sine programs' two recipes in PyTorch, over several seeds, for comparison with ours.

    .venv-torch/bin/python scripts/torch_sine_recipe.py --recipe torch   # seeds 1 to 7
    .venv-torch/bin/python scripts/torch_sine_recipe.py --recipe keras --seeds 1 2 3

Each line printed is one seed's final MSE (JSON). The recipes follow ../shared/SPEC.md
(workloads 1 and 2) as examples/sine.rs does: the torch recipe trains LSTM(10) + Linear on
windows of 5 values of sin(arange(-10, 10, 0.1)) with SGD 0.01, full batch, up to 20000
epochs, a random 20 % held out; the keras recipe trains LSTM(50) + Linear on 1000
random-phase windows of 49 steps with Adam (epsilon 1e-7, as Keras) and batch 32 for 20
epochs, with PyTorch's default initialisation (Keras' own initialisers differ).
"""
import argparse
import json
import math
import time

import numpy as np
import torch
from torch import nn


class Regressor(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def torch_recipe(seed, max_epochs):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    series = np.sin(np.arange(-10, 10, 0.1)).astype(np.float32)
    window = 5
    count = len(series) - window - 1
    inputs = np.stack([series[i : i + window] for i in range(count)])[:, :, None]
    targets = series[window : window + count, None]
    order = rng.permutation(count)
    valid_count = math.ceil(0.2 * count)
    valid, train = np.sort(order[:valid_count]), np.sort(order[valid_count:])
    x, y = torch.from_numpy(inputs), torch.from_numpy(targets)
    model = Regressor(10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.MSELoss()
    epochs = 0
    for epochs in range(1, max_epochs + 1):
        optimizer.zero_grad()
        loss = loss_fn(model(x[train]), y[train])
        loss.backward()
        optimizer.step()
        if loss.item() < 1e-4:
            break
    with torch.no_grad():
        train_mse = loss_fn(model(x[train]), y[train]).item()
        valid_mse = loss_fn(model(x[valid]), y[valid]).item()
        overall = loss_fn(model(x), y).item()
    return {"epochs": epochs, "train_mse": train_mse, "valid_mse": valid_mse, "overall_mse": overall}


def keras_windows(count, rng):
    starts = rng.uniform(0, 1, count)
    seqs = np.stack([np.sin(np.linspace(s, s + 2 * np.pi, 50)) for s in starts]).astype(np.float32)
    return torch.from_numpy(seqs[:, :49, None]), torch.from_numpy(seqs[:, 49:])


def keras_recipe(seed, epochs):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, y = keras_windows(1000, rng)
    model = Regressor(50)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.MSELoss()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 32):
            batch = order[start : start + 32]
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
    with torch.no_grad():
        return {"epochs": epochs, "train_mse": loss_fn(model(x), y).item()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipe", choices=["torch", "keras"], default="torch")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 7])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for seed in args.seeds:
        start = time.perf_counter()
        if args.recipe == "torch":
            result = torch_recipe(seed, 20_000)
        else:
            result = keras_recipe(seed, 20)
        result.update(recipe=args.recipe, seed=seed, seconds=round(time.perf_counter() - start, 2))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
