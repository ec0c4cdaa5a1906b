"""The file-level import graph of a crate's sources, any loop in it, and any leaf that imports
the module above it.

    python3 scripts/import_graph.py [SRC_DIR ...]

A file imports another when it names it in a `use` (or a path) as `crate::a::b`,
`super::b` or `self::b`; a module file that only declares its children (`mod x;`) does not
import them. Prints each file's imports, then the loops, then the leaves (files without
children) that import their own parent module's file (`a/mod.rs` imported by `a/b.rs`): a leaf
takes what it needs from its siblings or elsewhere, and its parent only gathers and re-exports
(none of either is the goal).
"""
import re
import sys
from pathlib import Path


def module_of(path: Path, root: Path):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def resolve(module, modules):
    """The longest prefix of `module` that is a file's module."""
    for end in range(len(module), 0, -1):
        if module[:end] in modules:
            return module[:end]
    return None


def imports(path: Path, module, modules):
    text = re.sub(r"//[^\n]*", "", path.read_text())
    # Strip test modules: what the tests import is not the code's structure.
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
    found = set()
    for match in re.finditer(r"\b(crate|super|self)((?:::\w+)+)", text):
        head, tail = match.group(1), match.group(2).strip(":").split("::")
        if head == "crate":
            base = []
        elif head == "super":
            is_mod = path.stem in ("mod", "lib")
            base = list(module) if is_mod else list(module[:-1])
            # each further `super::` climbs one more
            while tail and tail[0] == "super":
                base, tail = base[:-1], tail[1:]
        else:
            base = list(module)
        target = resolve(tuple(base + tail), modules)
        if target is not None and target != module and target != tuple(base):
            found.add(target)
    return found


def main(roots):
    graph = {}
    for root in map(Path, roots or ["src"]):
        files = sorted(root.rglob("*.rs"))
        modules = {module_of(f, root): f for f in files}
        for module, path in modules.items():
            name = "::".join(module) or "lib"
            graph[(root, name)] = {"::".join(t) for t in imports(path, module, modules)}
    loops = []
    for (root, name), targets in sorted(graph.items()):
        print(f"{root}/{name or 'lib'} -> {', '.join(sorted(targets)) or '-'}")
        for target in targets:
            if name in graph.get((root, target), set()):
                loops.append(tuple(sorted((name, target))))
    loops = sorted(set(loops))
    print(f"\nloops (two files that import each other): {len(loops)}")
    for a, b in loops:
        print(f"  {a} <-> {b}")
    # Longer cycles, by a depth-first search.
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = 1
        for target in graph.get(node, ()):
            key = (node[0], target)
            if state.get(key) == 1:
                cycle = stack[stack.index(key):] + [key]
                cycles.append(" -> ".join(n[1] for n in cycle))
            elif key in graph and state.get(key) is None:
                visit(key, stack + [key])
        state[node] = 2

    for node in graph:
        if state.get(node) is None:
            visit(node, [node])
    print(f"cycles of any length: {len(cycles)}")
    for cycle in cycles:
        print(f"  {cycle}")
    # A leaf (a module no other module lies under) importing its own parent module.
    parents = []
    for (root, name), targets in sorted(graph.items()):
        parts = name.split("::") if name else []
        is_leaf = not any(other.startswith(name + "::") for (r, other) in graph if r == root and name)
        if len(parts) >= 2 and is_leaf and "::".join(parts[:-1]) in targets:
            parents.append(f"{name} -> {'::'.join(parts[:-1])}")
    print(f"leaves importing their parent: {len(parents)}")
    for line in parents:
        print(f"  {line}")


if __name__ == "__main__":
    main(sys.argv[1:])
