"""The layers of docs/development.md (layout), checked on the source: every import of every module
(imports inside functions too) points to the same package or a lower layer, and no two project
modules import each other in a cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Bottom to top; packages on one rank are siblings and must not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("common",),
    ("scenes",),
    ("mirror_model", "eembed_model"),
    ("analysis",),
    ("demos",),
    ("app",),
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def project_modules() -> dict[str, Path]:
    modules = {"app": ROOT / "app.py"}
    for package in RANK:
        folder = ROOT / package
        if folder.is_dir():
            for path in sorted(folder.rglob("*.py")):
                name = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
                modules[name.removesuffix(".__init__")] = path
    return modules


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported anywhere in the file (absolute and relative, at any depth)."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                stem = f"{base}.{node.module}" if node.module else base
            else:
                stem = node.module or ""
            targets = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in modules:  # a name inside a module: keep the module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_the_checker_sees_imports_inside_functions_and_relative_ones():
    modules = project_modules()
    assert "common.depth_io" in imports_of("analysis.ablation", modules["analysis.ablation"], modules)
    assert "mirror_model.clip_backbone" in imports_of("mirror_model.model", modules["mirror_model.model"], modules)
    assert len(modules) > 60


def test_every_import_points_down_or_within_its_package(graph):
    upward = []
    for module, imported in graph.items():
        package = module.split(".")[0]
        for target in imported:
            target_package = target.split(".")[0]
            if target_package != package and RANK[target_package] >= RANK[package]:
                upward.append(f"{module} imports {target}")
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(upward))


def test_no_import_cycles_between_project_modules(graph):
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"
