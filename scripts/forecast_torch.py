"""The forecast program's model and data handling written in PyTorch, for the forecasting
table: does the crate train as well as PyTorch does?

    .venv-torch/bin/python scripts/forecast_torch.py --run target/forecast/airline [--part test]

It reads the run's `config.json` (written by `cargo run --release --example forecast`) and
does what the program does with the same settings: the same split, window, horizon, season,
logarithms and window anchors (the last value, the window's own change deviation floored at a
quarter of the training part's), the same model (an LSTM, a linear head on its final hidden
state, a bias-free linear map of the window's values added), the same pinball loss, Adam at
the same rate, the same batches per epoch, early stopping with the same patience and the best
epoch restored, the same ensemble size, the interval calibrated on the validation part the same
way, and the backtest from the same origins. It prints one JSON line: MASE, sMAPE, coverage.
"""
import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn


def read_series(config):
    """The targets and covariates of the run's file, in its (time) order."""
    with open(config["csv"]) as file:
        rows = list(csv.DictReader(file))
    columns = config["columns"]
    targets = np.array([[float(r[c]) for r in rows] for c in columns["targets"]])
    covariates = np.array([[float(r[c]) for r in rows] for c in columns["covariates"]])
    return targets, covariates.reshape(len(columns["covariates"]), len(rows))


class Features:
    def __init__(self, config, targets, covariates):
        f = config["features"]
        self.window, self.horizon, self.season = f["window"], f["horizon"], f["season"]
        self.scales = np.array(f["target_scales"])
        self.means = np.array(f["covariate_means"])
        self.covariate_scales = np.array(f["covariate_scales"])
        self.log = f.get("log", False)
        self.targets = np.log(targets) if self.log else targets
        self.covariates = covariates

    def width(self):
        return len(self.scales) + len(self.means) + (2 if self.season else 0)

    def anchors(self, end):
        window = self.targets[:, end - self.window:end]
        changes = np.diff(window, axis=1).std(axis=1)
        return window[:, -1], np.maximum(changes, 0.25 * self.scales)

    def input(self, end):
        level, scale = self.anchors(end)
        rows = range(end - self.window, end)
        parts = [((self.targets[:, rows] - level[:, None]) / scale[:, None]).T]
        if len(self.means):
            parts.append(((self.covariates[:, rows] - self.means[:, None])
                          / self.covariate_scales[:, None]).T)
        if self.season:
            phase = 2 * math.pi * (np.array(rows) % self.season) / self.season
            parts.append(np.stack([np.sin(phase), np.cos(phase)], axis=1))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def future(self, end):
        level, scale = self.anchors(end)
        rows = range(end, end + self.horizon)
        return ((self.targets[:, rows] - level[:, None]) / scale[:, None]).T.astype(np.float32)

    def to_units(self, end, output):
        """`output` [horizon, targets, q] in the model's units → the series' units."""
        level, scale = self.anchors(end)
        values = level[None, :, None] + output * scale[None, :, None]
        return np.exp(values) if self.log else values


class Forecaster(nn.Module):
    def __init__(self, config, width):
        super().__init__()
        m = config["model"]
        lstm = m["lstm"]
        self.horizon, self.targets, self.q = m["horizon"], m["targets"], len(m["quantiles"])
        self.lstm = nn.LSTM(width, lstm["hidden_size"], lstm["num_layers"], batch_first=True)
        outputs = self.horizon * self.targets * self.q
        self.head = nn.Linear(lstm["hidden_size"], outputs)
        self.linear = nn.Linear(m["window"] * self.targets, outputs, bias=False)

    def forward(self, x):
        batch = x.shape[0]
        _, (h, _) = self.lstm(x)
        values = x[:, :, :self.targets].reshape(batch, -1)
        out = self.head(h[-1]) + self.linear(values)
        return out.reshape(batch, self.horizon, self.targets, self.q)


def pinball(predicted, actual, quantiles):
    error = actual.unsqueeze(3) - predicted
    return torch.maximum(error * quantiles, error * (quantiles - 1)).mean()


def windows(features, ends):
    return (torch.tensor(np.stack([features.input(e) for e in ends])),
            torch.tensor(np.stack([features.future(e) for e in ends])))


def train_member(config, features, train, valid, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    training = config["training"]
    quantiles = torch.tensor(config["model"]["quantiles"], dtype=torch.float32)
    model = Forecaster(config, features.width())
    optimizer = torch.optim.Adam(model.parameters(), lr=training["learning_rate"]["initial"])
    batch = config["batch_size"]
    batches = min(max(math.ceil(len(train[0]) / batch), 10), 20)
    best, best_state, since = math.inf, None, 0
    for _ in range(training["epochs"]):
        order = np.concatenate([rng.permutation(len(train[0]))
                                for _ in range(math.ceil(batches * batch / len(train[0])) + 1)])
        model.train()
        for b in range(batches):
            idx = order[b * batch:(b + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            pinball(model(train[0][idx]), train[1][idx], quantiles).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            loss = pinball(model(valid[0]), valid[1], quantiles).item()
        if loss < best:
            best, since = loss, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            since += 1
            if since >= training["patience"]:
                break
    model.load_state_dict(best_state)
    model.eval()
    return model


def origins(split, horizon, part, most=40):
    first, last = ((split["train_end"], split["valid_end"] - horizon) if part == "validation"
                   else (split["valid_end"], split["len"] - horizon))
    count = last + 1 - first
    stride = max(math.ceil(count / most), 1)
    return sorted(range(last, first - 1, -stride))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="the program's artifacts directory")
    parser.add_argument("--part", choices=["test", "validation"], default="test")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = json.loads((Path(args.run) / "config.json").read_text())
    targets, covariates = read_series(config)
    features = Features(config, targets, covariates)
    split, horizon, window = config["split"], features.horizon, features.window
    train = windows(features, range(window, split["train_end"] - horizon + 1))
    valid_ends = list(range(max(split["train_end"], window), split["valid_end"] - horizon + 1))
    valid = windows(features, valid_ends)
    started = time.perf_counter()
    members = [train_member(config, features, train, valid, config["training"]["seed"] + k)
               for k in range(config["ensemble"])]
    seconds = time.perf_counter() - started
    quantiles = config["model"]["quantiles"]

    def predict(x):
        with torch.no_grad():
            return torch.stack([m(x) for m in members]).mean(0).numpy()

    # The interval's calibration on the validation part (conformalised quantile regression).
    widening = 0.0
    if len(quantiles) > 1:
        out = predict(valid[0])
        actual = valid[1].numpy()
        distances = np.maximum(out[..., 0] - actual, actual - out[..., -1]).ravel()
        distances.sort()
        rank = min(max(math.ceil((quantiles[-1] - quantiles[0]) * (len(distances) + 1)), 1),
                   len(distances))
        widening = distances[rank - 1]
    ends = origins(split, horizon, args.part)
    x = torch.tensor(np.stack([features.input(e) for e in ends]))
    out = predict(x)
    if len(quantiles) > 1:
        out[..., 0] -= widening
        out[..., -1] += widening
    point = quantiles.index(0.5) if 0.5 in quantiles else len(quantiles) // 2
    values = targets[0]
    season = features.season or 1
    train_values = values[:split["train_end"]]
    scale = np.mean(np.abs(train_values[season:] - train_values[:-season])) or 1.0
    errors, smapes, inside = [], [], []
    for i, end in enumerate(ends):
        forecast = features.to_units(end, out[i])[:, 0, :]
        actual = values[end:end + horizon]
        errors.extend(np.abs(actual - forecast[:, point]))
        smapes.extend(200 * np.abs(actual - forecast[:, point])
                      / np.maximum(np.abs(actual) + np.abs(forecast[:, point]), 1e-12))
        if len(quantiles) > 1:
            inside.extend((forecast[:, 0] <= actual) & (actual <= forecast[:, -1]))
    print(json.dumps({"mase": float(np.mean(errors) / scale), "smape": float(np.mean(smapes)),
                      "coverage": float(np.mean(inside)) if inside else None,
                      "train_seconds": seconds, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
