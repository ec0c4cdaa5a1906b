"""The README's layout section, made from the tree: every source file of both crates with the
first sentence of its own documentation (`//!`), and the top-level folders.

    python3 scripts/layout.py            # rewrite the section in README.md
    python3 scripts/layout.py --check    # exit 1 when the section differs from the tree (CI)

The section lies between `<!-- layout:begin -->` and `<!-- layout:end -->`.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- layout:begin -->", "<!-- layout:end -->"
WIDTH = 96
# Folders with no source of their own to speak for them.
FOLDERS = [
    ("examples/", "the programs: sine/, language_model/, forecast/, learner.rs, import_pytorch.rs"),
    ("benches/lstm.rs", "speed and memory against burn's nn::Lstm and PyTorch (W1–W8, S, C1)"),
    ("tests/", "golden parity, kernels, gradients, backends, artifacts, bad input, programs"),
    ("tests/data/", "golden vectors, interop checkpoints, real series, with their generators"),
    ("scripts/", "benchmarks and their tables, the competition, disassembly, import graph, layout"),
    (".ci/", "run (what CI does), downstream/ (users' projects built from a fresh resolution)"),
    ("artifacts/", "where the programs write (see artifacts/README.md)"),
]


def first_sentence(path: Path) -> str:
    """The first sentence of a file's `//!` documentation (a heading skipped), cut at the
    first full stop, colon or semicolon outside brackets, at most about two lines long."""
    paragraph = []
    for line in path.read_text().splitlines():
        if not line.startswith("//!"):
            break
        text = line[3:].strip()
        if text.startswith("#"):
            continue
        if not text:
            if paragraph:
                break
            continue
        paragraph.append(text)
    text = " ".join(paragraph)
    text = re.sub(r"\[`?([^\]`]+)`?\]\([^)]*\)", r"\1", text)  # [`x`](path) -> x
    text = re.sub(r"\[`([^\]`]+)`\]", r"\1", text)  # [`x`] -> x
    depth, cut = 0, len(text)
    for i, c in enumerate(text):
        depth += c in "(["
        depth -= c in ")]"
        if depth == 0 and c in ".:;" and (i + 1 == len(text) or text[i + 1] == " "):
            cut = i
            break
    sentence = text[:cut].strip()
    if len(sentence) > 150:
        sentence = sentence[:147].rsplit(" ", 1)[0] + " …"
    return sentence or "(no module documentation)"


def entries():
    rows = []
    for crate in ["src", "programs/src"]:
        for path in sorted((ROOT / crate).rglob("*.rs")):
            rows.append((str(path.relative_to(ROOT)), first_sentence(path)))
    return rows + FOLDERS


def wrap(name: str, text: str) -> list:
    width = 32
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > WIDTH - width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    first = f"{name:<{width}}{lines[0]}" if len(name) < width else f"{name}\n{'':<{width}}{lines[0]}"
    return [first] + [f"{'':<{width}}{rest}" for rest in lines[1:]]


def section() -> str:
    body = []
    for name, text in entries():
        body.extend(wrap(name, text))
    return "\n".join([BEGIN, "```text", *body, "```", END])


def main():
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"README.md has no {BEGIN} … {END} section")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + section() + text[end:]
    if "--check" in sys.argv:
        if new != text:
            sys.exit("README.md's layout section differs from the tree: "
                     "run python3 scripts/layout.py")
        print("README.md's layout section matches the tree")
        return
    readme.write_text(new)


if __name__ == "__main__":
    main()
