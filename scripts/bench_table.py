"""Turns the results of scripts/bench.sh into the Markdown tables of BENCHMARKS.md.

    python3 scripts/bench_table.py target/bench-flex.json target/bench-ndarray.json target/bench-torch.jsonl
"""
import json
import sys

# Our workload rows → PyTorch's reference rows (and the factor that makes them comparable).
TORCH = {
    "W1": ("W1-epoch", 1.0),
    "W2 1000": ("W2-1000-epochs", 1.0),
    "W2 100": ("W2-1000-epochs", 0.1),
    "W3 uni train": ("W3-uni-train", 1.0),
    "W3 uni forward": ("W3-uni-forward", 1.0),
    "W3 bi train": ("W3-bi-train", 1.0),
    "W3 bi forward": ("W3-bi-forward", 1.0),
    "W4": ("W4-ptb-small-step", 1.0),
}


def torch_row(workload, torch):
    for prefix, (name, factor) in TORCH.items():
        if workload.startswith(prefix) and name in torch:
            return torch[name]["median_ms"] * factor
    return None


def main(paths):
    torch = {}
    for path in paths:
        if path.endswith(".jsonl"):
            for line in open(path):
                row = json.loads(line)
                if "workload" in row:
                    torch[row["workload"]] = row
    for path in paths:
        if not path.endswith(".json"):
            continue
        report = json.load(open(path))
        print(f"\n**{report['backend']}** (load average at start: {report['load_average']})\n")
        print("| workload | ours ms (min–max) | burn nn::Lstm ms (min–max) | burn / ours | PyTorch ms | ours / PyTorch | peak MiB ours / burn |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for row in report["rows"]:
            ours, burn = row["ours"], row["burn"]
            cell = lambda s: f"{s['median_ms']:.1f} ({s['min_ms']:.1f}–{s['max_ms']:.1f})"
            reference = torch_row(row["workload"], torch)
            mem = lambda s: f"{s['peak_rss_mib']:.0f}" if s and s.get("peak_rss_mib") else "–"
            torch_cell = f"{reference:.1f}" if reference else "–"
            versus = f"{ours['median_ms'] / reference:.2f}×" if reference else "–"
            burn_cell = cell(burn) if burn else "–"
            print(
                f"| {row['workload']} | {cell(ours)} | {burn_cell} | {row['burn_over_ours']:.2f}× | "
                f"{torch_cell} | {versus} | {mem(ours)} / {mem(burn)} |"
            )
            if row["note"]:
                print(f"|  ↳ {row['note']} | | | | | | |")


if __name__ == "__main__":
    main(sys.argv[1:])
