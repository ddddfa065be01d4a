"""The package is laid out by purpose, and its imports say the flow: config -> data ->
models -> training -> evaluation -> tracking -> one run -> sweeps -> the commands and the
Python API on top. No module imports one above it (lazy imports inside functions included),
and there is no import circle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from conftest import PROJECT_ROOT

SRC = PROJECT_ROOT / "src"
# Lowest first; a module may import its own layer and those below.
LAYERS = [
    ["lstmlab.errors"],
    ["lstmlab.targets"],
    ["lstmlab.config"],
    ["lstmlab.data"],
    ["lstmlab.models"],
    ["lstmlab.training"],
    ["lstmlab.evaluation"],
    ["lstmlab.tracking"],
    ["lstmlab.experiment"],
    ["lstmlab.sweeps"],
    ["lstmlab.reference", "lstmlab.help", "lstmlab.serving"],
    ["lstmlab.cli"],
    ["lstmlab.api"],
    ["lstmlab.__main__", "lstmlab"],
]


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_name(p): p for p in (SRC / "lstmlab").rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # from lstmlab.models import fcn: the submodule, not the package.
                subs = [f"{node.module}.{a.name}" for a in node.names]
                targets = [s for s in subs if s in modules] or [node.module]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def _layer(module: str) -> int:
    for i, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(f"{top}.") for top in layer):
            if module == "lstmlab" and "lstmlab" not in layer:
                continue
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_every_module_has_a_layer():
    for module in _graph():
        _layer(module)


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{m} -> {t}" for m, targets in graph.items() for t in targets
                  if _layer(t) > _layer(m))  # fmt: skip


def test_nothing_imports_a_module_above_it():
    upward = _upward(_graph())
    assert not upward, "imports upward:\n" + "\n".join(upward)


def _circles(graph: dict[str, set[str]]) -> list[str]:
    state: dict[str, str] = {}
    circles: list[str] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return circles


def test_there_is_no_import_circle():
    circles = _circles(_graph())
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_checks_see_an_upward_import_and_a_circle():
    # The real graph is read (experiment imports the run log), and each check catches its
    # fault on a graph that has it.
    assert "lstmlab.tracking.runs" in _graph()["lstmlab.experiment"]
    assert _upward({"lstmlab.tracking.runs": {"lstmlab.cli"}}) == [
        "lstmlab.tracking.runs -> lstmlab.cli"
    ]
    looped = {"lstmlab.evaluation.a": {"lstmlab.evaluation.b"},
              "lstmlab.evaluation.b": {"lstmlab.evaluation.a"}}  # fmt: skip
    assert _circles(looped) == [
        "lstmlab.evaluation.a -> lstmlab.evaluation.b -> lstmlab.evaluation.a"
    ]
