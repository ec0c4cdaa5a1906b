"""The disassembly evidence for the host kernels: for each SIMD kernel in a built binary (the
bench by default), its FMA loops (a backward jump whose body holds FMAs) and what they do with
the stack, beside counts over the whole function.

    python3 scripts/disassembly.py [BINARY]

Columns: instructions; FMAs; the FMA loops, and vector-register moves to or from the stack
(`%ymm`/`%zmm` against `(%rsp)`: spills and reloads) inside them and in the whole function;
gathers (`vgather*`, the auto-vectoriser's sign of vectorising across rows); calls (an
intrinsic that stayed a call shows up here; the asserts' panic calls count too). The FMA
loops are the innermost loops holding FMAs: the tiles' loops over `k`, the element-wise
passes' loops over a row's vectors. A tile is spill-free when its FMA loops show 0 stack moves.
"""
import re
import subprocess
import sys
from pathlib import Path

STACK = re.compile(r"%[xyz]mm\d+,[^,]*\(%rsp\)|\(%rsp\)[^,]*,%[xyz]mm\d+")
JUMP = re.compile(r"^j[a-z]+\s+([0-9a-f]+)\b")


def binary_path():
    if len(sys.argv) > 1:
        return sys.argv[1]
    candidates = [p for p in Path("target/release/deps").glob("lstm-*") if p.suffix != ".d"]
    if not candidates:
        sys.exit("error: build the bench first (cargo bench --bench lstm --no-run)")
    return str(max(candidates, key=lambda p: p.stat().st_mtime))


def kernels(binary):
    symbols = subprocess.run(["nm", "-C", "-S", binary], capture_output=True, text=True).stdout
    for line in symbols.splitlines():
        parts = line.split(maxsplit=3)
        # Each instruction set's work is compiled inside its `#[target_feature]` entry
        # (`InstructionSet::run`): one symbol of that name per kind of work, told apart here
        # by the instruction set and the address.
        match = len(parts) == 4 and re.match(
            r"<burn_lstm::cpu::isa::(\w+)::\w+ as burn_lstm::cpu::simd::InstructionSet>"
            r"::run::with_features", parts[3])
        if match:
            name = f"{match.group(1)} InstructionSet::run at {parts[0].lstrip('0')}"
            yield name, int(parts[0], 16), int(parts[1], 16)


def instructions(binary, start, size):
    text = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", f"--start-address={start}",
         f"--stop-address={start + size}", binary], capture_output=True, text=True).stdout
    for line in text.splitlines():
        match = re.match(r"\s+([0-9a-f]+):\s+(.*)", line)
        if match:
            yield int(match.group(1), 16), match.group(2)


def main():
    binary = binary_path()
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), "unknown")
    print(f"binary: {binary}\nCPU: {model}\n")
    print("| kernel | instructions | FMAs | FMA loops | stack moves in FMA loops "
          "| stack moves in all | gathers | calls |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, start, size in sorted(kernels(binary)):
        code = list(instructions(binary, start, size))
        # Innermost loops (no other backward jump inside) that hold FMAs: the tiles' k loops
        # and the element-wise passes' vector loops.
        backward = [(int(j.group(1), 16), a) for a, t in code
                    if (j := JUMP.search(t)) and int(j.group(1), 16) < a]
        loops = []
        for target, end in backward:
            inner = any(target <= t2 and e2 < end or target < t2 and e2 <= end
                        for t2, e2 in backward if (t2, e2) != (target, end))
            body = [(a, t) for a, t in code if target <= a <= end]
            if not inner and any("vfmadd" in t for _, t in body):
                loops.append(body)
        in_loops = len({a for body in loops for a, t in body if STACK.search(t)})
        print(f"| {name} | {len(code)} | {sum('vfmadd' in t for _, t in code)} | {len(loops)} "
              f"| {in_loops} | {sum(bool(STACK.search(t)) for _, t in code)} "
              f"| {sum('vgather' in t for _, t in code)} "
              f"| {sum(t.startswith('call') for _, t in code)} |")


if __name__ == "__main__":
    main()
