"""The forecasting table: the forecast program and its baselines on six real series (the
committed files of tests/data/series, from PyPI wheels: scripts/make_series.py), with one set
of default settings for every series.

    python3 scripts/forecast_table.py                    # build, run all, print the table
    python3 scripts/forecast_table.py --part validation  # the validation part's scores instead
    python3 scripts/forecast_table.py --only airline

Per series: MASE and sMAPE (%) on the test part's rolling-origin backtest of ours, persistence,
seasonal naive, the linear autoregression on the same window, ETS (augurs), Holt-Winters,
Theta; ours' 80% interval coverage; the program's wall time. Then the medians over the series
and the targets. Results in target/forecast/<series>/ (metrics.json, forecast.csv, plots).
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "series"

# The series and their questions: the file, its columns, the horizon (M4's for the
# frequency: monthly 18 is cut to a year here, quarterly 8, yearly 6; a day for half-hourly).
SERIES = [
    {"name": "airline", "csv": "airline.csv", "time": "month", "target": "passengers", "horizon": 12},
    {"name": "wine", "csv": "wine.csv", "time": "month", "target": "sales", "horizon": 12},
    {"name": "electricity", "csv": "electricity.csv", "time": "time", "target": "demand", "horizon": 48},
    {"name": "lynx", "csv": "lynx.csv", "time": "year", "target": "trappings", "horizon": 6},
    {"name": "nile", "csv": "nile.csv", "time": "year", "target": "volume", "horizon": 6},
    {"name": "macro", "csv": "macro.csv", "time": "quarter", "target": "unemp", "horizon": 8,
     "covariates": "infl,tbilrate"},
]
BASELINES = ["persistence", "seasonal naive", "linear AR", "ETS", "Holt-Winters", "Theta"]


def run_ours(series, out, extra):
    command = [str(ROOT / "target/release/examples/forecast"), "--csv", str(DATA / series["csv"]),
               "--time", series["time"], "--target", series["target"],
               "--horizon", str(series["horizon"]), "--progress", "none",
               "--artifacts", str(out)] + extra
    if "covariates" in series:
        command += ["--covariates", series["covariates"]]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{series['name']}: {result.stderr}")
    return time.perf_counter() - started, json.loads((out / "metrics.json").read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["test", "validation"], default="test")
    parser.add_argument("--only", default=None)
    parser.add_argument("--no-build", action="store_true")
    parser.add_argument("extra", nargs="*", help="flags passed to every run of the program")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--example", "forecast"], cwd=ROOT,
                       check=True, capture_output=True)
    rows = []
    for series in SERIES:
        if args.only and series["name"] != args.only:
            continue
        out = ROOT / "target" / "forecast" / series["name"]
        seconds, metrics = run_ours(series, out, args.extra)
        target = metrics[args.part][0]
        scores = {m["method"]: m["scores"] for m in target["methods"]}
        rows.append((series, metrics, scores, seconds))
    print_table(rows, args.part)


def cell(scores):
    return f"{scores['mase']:.3f} / {scores['smape']:.1f}" if scores else "–"


def print_table(rows, part):
    print(f"\nMASE / sMAPE % on the {part} part (rolling origins; lower is better)\n")
    print("| series | n | H | season | ours | " + " | ".join(BASELINES)
          + " | ours' 80% coverage | wall s |")
    print("| --- |" + " --- |" * (6 + len(BASELINES)))
    for series, metrics, scores, seconds in rows:
        ours = scores["LSTM (ours)"]
        coverage = f"{100 * ours['coverage']:.0f}%" if ours.get("coverage") is not None else "–"
        season = metrics["seasons"][0]
        print(f"| {series['name']} | {season['rows']} | {metrics['horizon']} "
              f"| {season['season'] or '–'} | **{cell(ours)}** | "
              + " | ".join(cell(scores.get(b)) for b in BASELINES)
              + f" | {coverage} | {seconds:.1f} |")
    if not rows:
        return
    median = lambda name: statistics.median(s[name]["mase"] for _, _, s, _ in rows if name in s)
    best = {b: median(b) for b in BASELINES}
    ours = median("LSTM (ours)")
    print(f"\nmedian MASE: ours {ours:.3f}; " + ", ".join(f"{b} {v:.3f}" for b, v in best.items()))
    beats = all(s["LSTM (ours)"]["mase"] < min(s["persistence"]["mase"], s["seasonal naive"]["mase"])
                for _, _, s, _ in rows)
    print(f"ours beats persistence and seasonal naive on every series: {beats}")
    print(f"ours within 10% of the best baseline's median MASE ({min(best.values()):.3f}): "
          f"{ours <= 1.1 * min(best.values())}")
    coverages = [s["LSTM (ours)"]["coverage"] for _, _, s, _ in rows]
    print("80% interval coverage: " + ", ".join(f"{100 * c:.0f}%" for c in coverages))


if __name__ == "__main__":
    main()
