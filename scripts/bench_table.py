"""The Markdown tables of BENCHMARKS.md from the results of scripts/bench.sh.

    python3 scripts/bench_table.py target/bench-flex.json [target/bench-ndarray.json] [torch.jsonl]

Per backend: the CPU (model, SIMD features, the fused layer's kernels it offers); ours, burn's
nn::Lstm and PyTorch side by side (medians, min–max), the ratios burn / ours and
ours / PyTorch, which kernel served ours, and each process's peak memory; on the GPU backend
also the kernels launched per run (per step for the S rows), ours / burn. A row without a
PyTorch figure says why. When ours ran with several kernels (`--kernel each`), a second table
puts them side by side. PyTorch's figures come from each row (taken right after ours,
`cargo bench --bench lstm -- --torch PYTHON`), else from a JSON-lines file of
scripts/torch_bench.py.
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


def kernels(stats):
    names = sorted({c["kernel"] for c in (stats or {}).get("kernels") or []})
    return "+".join(names) if names else "–"


def lstm_flops(layers, directions, steps, batch, inputs, hidden, train):
    """Floating-point operations of the products of a stacked LSTM over a sequence (an FMA is
    two): forward x·W_x + h·W_h; in training also dh·W_hᵀ, the weight gradients and the
    gradient of every layer's input but the first (W3's input takes none)."""
    gates, total = 4 * hidden, 0
    for layer in range(layers):
        width = inputs if layer == 0 else directions * hidden
        rows = directions * steps * batch
        total += rows * (width + hidden) * gates * 2
        if train:
            total += rows * hidden * gates * 2 * 2          # dh_{t-1}, dW_h
            total += rows * width * gates * 2               # dW_x
            total += rows * gates * width * 2 if layer > 0 else 0  # the layer's input
    return total


# The W3 rows' products, for their GFLOP/s.
FLOPS = {
    "W3-uni-train": lstm_flops(2, 1, 100, 64, 128, 256, True),
    "W3-uni-forward": lstm_flops(2, 1, 100, 64, 128, 256, False),
    "W3-bi-train": lstm_flops(2, 2, 100, 64, 128, 256, True),
    "W3-bi-forward": lstm_flops(2, 2, 100, 64, 128, 256, False),
}


def throughput(report):
    """The W3 rows' GFLOP/s (ours and PyTorch's) against the measured all-core FMA peak."""
    peaks = (report.get("cpu") or {}).get("fma_peak_gflops") or {}
    if not peaks:
        return
    best = max(figures[1] for figures in peaks.values())
    print(f"\nW3's products in GFLOP/s (medians), against the measured f32 FMA peak of all cores "
          f"({', '.join(f'{isa} {f[1]:.0f}' for isa, f in peaks.items())}; one core: "
          f"{', '.join(f'{isa} {f[0]:.0f}' for isa, f in peaks.items())}):\n")
    print("| workload | GFLOP | ours GFLOP/s | share of peak | PyTorch GFLOP/s |")
    print("| --- | --- | --- | --- | --- |")
    for row in report["rows"]:
        flops = FLOPS.get(row["workload"])
        if not flops or not row["ours"]:
            continue
        ours = flops / row["ours"]["median_ms"] / 1e6
        torch = row.get("torch")
        theirs = f"{flops / torch['median_ms'] / 1e6:.0f}" if torch else "–"
        print(f"| {row['title']} | {flops / 1e9:.1f} | {ours:.0f} | {ours / best:.0%} | {theirs} |")


def main(paths):
    torch = {}
    for path in (p for p in paths if p.endswith(".jsonl")):
        for line in open(path):
            row = json.loads(line)
            if "workload" in row:
                torch[row["workload"]] = row
    for path in (p for p in paths if p.endswith(".json")):
        report = json.load(open(path))
        cpu = report.get("cpu") or {}
        print(f"\n**{report['backend']}** on {cpu.get('model', 'an unrecorded CPU')} "
              f"({cpu.get('cores', '?')} cores; SIMD: {' '.join(cpu.get('simd', [])) or '?'}; "
              f"kernels offered: {', '.join(cpu.get('kernels', [])) or '?'}); "
              f"load average at start: {report['load_average']}, "
              f"after: {report.get('load_average_after', '?')}\n")
        counted = any((row["ours"] or {}).get("kernel_launches") is not None
                      for row in report["rows"])
        print("| workload | ours ms | kernel | burn nn::Lstm ms | burn / ours | PyTorch ms "
              "| ours / PyTorch | peak MiB ours / burn / PyTorch |"
              + (" launches ours / burn |" if counted else ""))
        print("| --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if counted else ""))
        for row in report["rows"]:
            ours, burn = row["ours"], row["burn"]
            reference = row.get("torch") or torch.get(row["workload"])
            note = row.get("torch_note") or "not measured"
            burn_ratio = f"{burn['median_ms'] / ours['median_ms']:.2f}×" if burn else "–"
            torch_ratio = f"{ours['median_ms'] / reference['median_ms']:.2f}" if reference else "–"
            torch_cell = cell(reference) if reference else f"– ({note})"
            launched = f" {launches(ours)} / {launches(burn)} |" if counted else ""
            print(f"| {row['title']} | {cell(ours)} | {kernels(ours)} | {cell(burn)} "
                  f"| {burn_ratio} | {torch_cell} | {torch_ratio} "
                  f"| {mib(ours)} / {mib(burn)} / {mib(reference)} |" + launched)
        throughput(report)
        names = report.get("kernels") or ["auto"]
        if len(names) > 1:
            print(f"\nOurs with each kernel ({report['backend']}; `auto` is the layer's measured "
                  "choice, the others forced with BURN_LSTM_KERNEL), medians in ms (min–max), "
                  "and each against PyTorch:\n")
            print("| workload | " + " | ".join(names) + " |")
            print("| --- |" + " --- |" * len(names))
            for row in report["rows"]:
                reference = row.get("torch") or torch.get(row["workload"])
                cells = []
                for name in names:
                    stats = (row.get("ours_by_kernel") or {}).get(name)
                    text = cell(stats)
                    if stats and reference:
                        text += f" · {stats['median_ms'] / reference['median_ms']:.2f}"
                    cells.append(text)
                print(f"| {row['title']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
