"""The import-layer contract: modules import only from their own layer or below, and no import
cycles. Every `import` counts, including those inside functions (a lazy import is still a
dependency). A new upward import fails this test; move the code down or the caller up."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: tuple[tuple[str, ...], ...] = (
    (  # foundations: no labelmix imports but each other
        "labelmix.errors",
        "labelmix.paths",
        "labelmix.atomic",
        "labelmix.progress",
        "labelmix.cache",
        "labelmix.metrics",
        "labelmix.seeds",
    ),
    ("labelmix.tasks", "labelmix.methods", "labelmix.labels.budget"),  # data and vocabulary
    ("labelmix.labels", "labelmix.models", "labelmix.prompts"),  # label sources, models
    ("labelmix.train",),  # schedules, the stage loop, learners, the weak labeler's training
    ("labelmix.config", "labelmix.classifier", "labelmix.result", "labelmix.run"),  # one run
    ("labelmix.api", "labelmix.sweep", "labelmix.prefetch", "labelmix.project"),  # API, sweeps
    ("labelmix.analysis",),  # reading stores
    ("labelmix.cli", "labelmix.__main__", "labelmix"),  # entry points
)


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int:
    best, rank = -1, -1
    for i, prefixes in enumerate(layers):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS"
    return rank


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    modules: dict[str, Path] = {}
    for path in (src / "labelmix").rglob("*.py"):
        parts = path.relative_to(src).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.append(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def upward_imports(
    graph: Mapping[str, set[str]], layers: tuple[tuple[str, ...], ...] = LAYERS
) -> list[str]:
    return sorted(
        f"{a} (layer {layer_of(a, layers)}) imports {b} (layer {layer_of(b, layers)})"
        for a, targets in graph.items()
        for b in targets
        if layer_of(b, layers) > layer_of(a, layers)
    )


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer() -> None:
    for module in import_graph():
        layer_of(module)


def test_no_upward_imports() -> None:
    assert upward_imports(import_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_contract_catches_a_planted_upward_import_and_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "labelmix"
    (pkg / "train").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "train" / "__init__.py").write_text("")
    (pkg / "config.py").write_text("from labelmix.train.loop import train_stage\n")
    (pkg / "train" / "loop.py").write_text(
        "def f():\n    from labelmix.config import RunConfig\n"  # lazy, still counted
    )
    graph = import_graph(tmp_path)
    assert upward_imports(graph) == [
        "labelmix.train.loop (layer 3) imports labelmix.config (layer 4)"
    ]
    assert cycles(graph) == [["labelmix.config", "labelmix.train.loop"]]
