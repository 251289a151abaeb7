"""The package's import graph: no cycle, and every module imports only from its own layer or the ones below.

Every import counts, also one inside a function (a lazy import that goes back up is a cycle all the
same). Layers, bottom first: what a module may see is exactly what its layer and those under it hold.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gradsign_fast"

# Bottom first. A name is a module or a package (all its modules).
LAYERS = [
    ("errors", "options", "_version"),         # foundation: no gradsign_fast imports at all
    ("ops",),                                  # sign-reduction backends: a leaf
    ("sums", "semantics", "checks", "model_state"),
    ("engines",),
    ("dispatch",),
    ("api",),
    ("reference", "distributed", "info", "__init__"),  # the face and its neighbours
    ("data", "safe_pickle"),
    ("nas", "integrations"),                   # integrations: measures for zero-cost-nas and NASLib
    ("cli", "__main__"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
EXTENSIONS = {"gradsign_fast._C", "gradsign_fast._C_cuda"}  # compiled kernels: import nothing of ours


def _resolve(name: str) -> str | None:
    """The module a dotted name refers to (an attribute of a module refers to that module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """Every gradsign_fast module `module` imports, anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + ([base] if node.module else [])
        else:
            continue
        for target in targets:
            if target in EXTENSIONS or not target.startswith("gradsign_fast"):
                continue
            resolved = _resolve(target)
            if resolved and resolved != module:
                found.add(resolved)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def _layer(module: str) -> int:
    local = module.split(".")[1] if "." in module else "__init__"
    for rank, names in enumerate(LAYERS):
        if local in names:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_every_module_has_a_layer():
    for module in MODULES:
        _layer(module)


def test_no_module_imports_from_a_layer_above_its_own():
    upward = [f"{m} -> {t}" for m, targets in GRAPH.items() for t in targets if _layer(t) > _layer(m)]
    assert not upward, "imports that run up the layers:\n" + "\n".join(sorted(upward))


def test_ops_imports_nothing_of_the_package_outside_it_but_the_foundation():
    outside = [f"{m} -> {t}" for m, targets in GRAPH.items() if _layer(m) == 1 for t in targets
               if _layer(t) > 0 and not t.startswith("gradsign_fast.ops")]
    assert not outside, outside


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state:
            cycle = visit(module)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_is_read_correctly():
    assert "gradsign_fast.ops.registry" in GRAPH["gradsign_fast.ops"]
    assert "gradsign_fast.engines.batched" in GRAPH["gradsign_fast.engines"]
    assert "gradsign_fast.errors" in GRAPH["gradsign_fast.engines.batched"]
