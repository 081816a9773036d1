"""No import cycles anywhere, and the packages import one way only.

Static: every module of the repo's packages is parsed (``ast``) and every import statement counts, including
the ones inside functions. A lazy import still closes a cycle, it only postpones the partially initialised
module to whoever calls that function first; a cycle is also a sign that a fact lives on the wrong side of a
boundary (the algorithm-name check in export that imported the SAC module, which imported export).

Layering, lowest first: ``{common, robot, resources} <- sim <- {policies, calibration} <- so101_deploy``.
A package may import its own layer's packages and lower ones, never a higher one. Packages not created yet are
simply absent from the walk.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {
    "common": 0,
    "robot": 0,
    "resources": 0,
    "sim": 1,
    "policies": 2,
    "calibration": 2,
    "so101_deploy": 3,
}


def repo_modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every package in LAYERS that exists in this checkout."""
    modules = {}
    for package in LAYERS:
        if not (ROOT / package / "__init__.py").is_file():
            continue
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The repo modules that ``name`` imports anywhere in its source (function bodies included)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # ``from pkg import mod`` imports the submodule; ``from mod import name`` imports mod
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # ``import a.b.attr`` style: the longest module prefix
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = repo_modules()
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walk_sees_the_repo():
    graph = import_graph()
    assert {"sim.env", "policies.export", "so101_deploy.cli"} <= set(graph)
    assert "policies.contract" in graph["policies.export"]
    assert "so101_deploy.commands.train" in graph["so101_deploy.cli"]


def test_cycle_finder_finds_a_lazy_import_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_packages_import_their_own_layer_or_lower_only():
    upward = []
    for module, targets in import_graph().items():
        layer = LAYERS[module.split(".")[0]]
        for target in sorted(targets):
            if LAYERS[target.split(".")[0]] > layer:
                upward.append(f"{module} imports {target}")
    assert not upward, "imports against the layering: " + "; ".join(upward)


def test_same_layer_packages_do_not_import_each_other_both_ways():
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        packages.setdefault(module.split(".")[0], set()).update(t.split(".")[0] for t in targets)
    both = sorted(
        f"{a} <-> {b}" for a, uses in packages.items() for b in uses if a < b and a in packages.get(b, ())
    )
    assert not both, "package cycles: " + ", ".join(both)
