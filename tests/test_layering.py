"""The package's layers, read from its source: every import, top-level or inside a function, is an edge.

- **core**: the method and its plain data (answers, voting, mask and rewards, curriculum, prompts, config, data
  generators and loaders, the generation contract). Imports no heavy library, not even lazily.
- **engine**: what runs models (rollout engines, model sources, backends, training, evaluation, difficulty and
  generation jobs, the GPU planner).
- **apps**: commands built on the engine (repro, report, export).
- **cli**: parsing only.

A module may import its own layer or a lower one, never a higher one; and the whole import graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cuma_lite"
HEAVY = {
    "torch",
    "trl",
    "transformers",
    "vllm",
    "unsloth",
    "unsloth_zoo",
    "peft",
    "accelerate",
    "bitsandbytes",
}
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "cuma_lite", "cuma_lite.errors", "cuma_lite.answers", "cuma_lite.extraction",
            "cuma_lite.numeric_signatures", "cuma_lite.voting", "cuma_lite.rewards", "cuma_lite.curriculum",
            "cuma_lite.prompts", "cuma_lite.config", "cuma_lite.shaping", "cuma_lite.forecast", "cuma_lite.benchmarks", "cuma_lite.data.io",
            "cuma_lite.data.loaders", "cuma_lite.data.synthetic", "cuma_lite.data.families", "cuma_lite.data.splits",
            "cuma_lite.data.dedup", "cuma_lite.data.stats", "cuma_lite.data", "cuma_lite.rollout.contract",
            "cuma_lite.rollout.fake", "cuma_lite.rollout",
        ),
    ),
    (
        "engine",
        (
            "cuma_lite.rollout.hf", "cuma_lite.rollout.vllm", "cuma_lite.models", "cuma_lite.backends",
            "cuma_lite.training", "cuma_lite.evaluation", "cuma_lite.data.difficulty", "cuma_lite.data.generate",
            "cuma_lite.gpu", "cuma_lite.probe", "cuma_lite.transfer",
        ),
    ),
    ("apps", ("cuma_lite.repro", "cuma_lite.grid_stats", "cuma_lite.report", "cuma_lite.export")),
    ("cli", ("cuma_lite.cli", "cuma_lite.__main__")),
]  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer_of(module: str) -> int:
    """The layer of the longest matching prefix (``cuma_lite.data.io`` before ``cuma_lite.data``)."""
    best, rank = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            below = (
                module.startswith(prefix + ".") and prefix != "cuma_lite"
            )  # the root package is itself only
            if (module == prefix or below) and len(prefix) > best:
                best, rank = len(prefix), i
    if rank is None:
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {Path(__file__).name}")
    return rank


def imports(module: str) -> set[str]:
    """Every module ``module`` imports (ours resolved to module names, others to their top-level package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in MODULES else node.module)
    return {m if m.startswith("cuma_lite") else m.split(".")[0] for m in found}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) == 0))
def test_the_core_imports_no_heavy_library(module):
    assert not imports(module) & HEAVY, f"{module} imports {sorted(imports(module) & HEAVY)}"


def test_no_module_imports_a_layer_above_it():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {other} ({LAYERS[layer_of(other)][0]})"
        for module in MODULES
        for other in imports(module)
        if other in MODULES and layer_of(other) > layer_of(module)
    ]
    assert not upward, "\n".join(upward)


def test_the_import_graph_has_no_cycle():
    graph = {m: {o for o in imports(m) if o in MODULES and o != m} for m in MODULES}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
