"""The Markdown tables of BENCHMARKS.md from the results of scripts/bench.sh.

    python3 scripts/bench_table.py target/bench-flex.json [target/bench-ndarray.json] [torch.jsonl]

Per backend: ours, burn's nn::Lstm and PyTorch side by side (medians, min–max), the ratios
burn / ours and ours / PyTorch, and each process's peak memory; on the GPU backend also the
kernels launched per run (per step for the S rows), ours / burn. PyTorch's figures come from
each row (taken right after ours, `cargo bench --bench lstm -- --torch PYTHON`), else from a
JSON-lines file of scripts/torch_bench.py.
"""
import json
import sys


def cell(stats):
    if not stats:
        return "–"
    return f"{stats['median_ms']:.2f} ({stats['min_ms']:.2f}–{stats['max_ms']:.2f})"


def mib(stats):
    return f"{stats['peak_rss_mib']:.0f}" if stats and stats.get("peak_rss_mib") else "–"


def launches(stats):
    count = stats.get("kernel_launches") if stats else None
    return "–" if count is None else f"{count:.1f}"


def main(paths):
    torch = {}
    for path in (p for p in paths if p.endswith(".jsonl")):
        for line in open(path):
            row = json.loads(line)
            if "workload" in row:
                torch[row["workload"]] = row
    for path in (p for p in paths if p.endswith(".json")):
        report = json.load(open(path))
        print(f"\n**{report['backend']}** (load average at start: {report['load_average']})\n")
        counted = any((row["ours"] or {}).get("kernel_launches") is not None
                      for row in report["rows"])
        print("| workload | ours ms | burn nn::Lstm ms | burn / ours | PyTorch ms | ours / PyTorch "
              "| peak MiB ours / burn / PyTorch |" + (" launches ours / burn |" if counted else ""))
        print("| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if counted else ""))
        for row in report["rows"]:
            ours, burn = row["ours"], row["burn"]
            reference = row.get("torch") or torch.get(row["workload"])
            burn_ratio = f"{burn['median_ms'] / ours['median_ms']:.2f}×" if burn else "–"
            torch_ratio = f"{ours['median_ms'] / reference['median_ms']:.2f}" if reference else "–"
            launched = f" {launches(ours)} / {launches(burn)} |" if counted else ""
            print(f"| {row['title']} | {cell(ours)} | {cell(burn)} | {burn_ratio} | "
                  f"{cell(reference)} | {torch_ratio} | {mib(ours)} / {mib(burn)} / {mib(reference)} |"
                  + launched)


if __name__ == "__main__":
    main(sys.argv[1:])
