"""The longest functions of a crate's sources, by lines from `fn` to its closing brace.

    python3 scripts/longest_functions.py [--top N] [DIR ...]

Counts every `fn` (free, method, nested, in macros' bodies too), tests and `#[cfg(test)]`
modules excluded; a function's length is its lines including signature and doc-less body.
"""
import re
import sys
from pathlib import Path


def functions(path: Path):
    text = path.read_text()
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?"
                         r"(?:extern\s+\"[^\"]+\"\s+)?fn\s+(\w+)", line)
        if not match:
            continue
        depth, opened = 0, False
        for end in range(index, len(lines)):
            code = re.sub(r"//.*", "", lines[end])
            code = re.sub(r'"(?:\\.|[^"\\])*"', '""', code)
            code = re.sub(r"'(?:\\.|[^'\\])'", "''", code)
            if not opened and ";" in code and "{" not in code:
                break  # a declaration without a body
            depth += code.count("{") - code.count("}")
            opened = opened or "{" in code
            if opened and depth <= 0:
                yield match.group(1), index + 1, end - index + 1
                break


def main(args):
    top = 10
    if args[:1] == ["--top"]:
        top, args = int(args[1]), args[2:]
    rows = []
    for root in map(Path, args or ["src"]):
        for path in sorted(root.rglob("*.rs")):
            rows += [(length, f"{path}:{line}", name) for name, line, length in functions(path)]
    rows.sort(reverse=True)
    print("| lines | function | where |\n| --- | --- | --- |")
    for length, where, name in rows[:top]:
        print(f"| {length} | `{name}` | {where} |")


if __name__ == "__main__":
    main(sys.argv[1:])
