"""The package's import graph, read from the source with ``ast``: no cycles, and the CLI
on top (nothing in the library imports ``llmx._cli``).

Every import counts, wherever it is written (inside functions and ``TYPE_CHECKING``
blocks too): a lazy import still makes one module depend on the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "llmx"

#: modules left out of the graph (none: the process pool that formed a cycle with the
#: runner is gone; a module that must be left out is named here with the reason)
BEING_REMOVED: set[str] = set()

#: ``python -m llmx``: the entry point, like ``[project.scripts]``, may start the CLI
CLI_ENTRY_POINTS = {"llmx.__main__"}


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    names: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """For each module of the package, the modules of the package it imports."""

    def known(name: str) -> str | None:
        """``name`` if it is a module, else the module that defines it."""
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    top = min(modules, key=len)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names if a.name.startswith(top))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, *([node.module] if node.module else [])])
                else:
                    base = node.module or ""
                if base == top or base.startswith(f"{top}."):
                    # ``from pkg import mod`` imports the module; ``from mod import x``, mod
                    targets.update(known(f"{base}.{a.name}") or known(base) for a in node.names)
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def library_graph() -> dict[str, set[str]]:
    graph = import_graph(module_names())
    return {
        name: targets - BEING_REMOVED
        for name, targets in graph.items()
        if name not in BEING_REMOVED
    }


def test_the_package_has_no_import_cycle() -> None:
    cycle = find_cycle(library_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_nothing_below_the_cli_imports_it() -> None:
    graph = library_graph()
    importers = {
        name: sorted(t for t in targets if t == "llmx._cli" or t.startswith("llmx._cli."))
        for name, targets in graph.items()
        if not (name == "llmx._cli" or name.startswith("llmx._cli."))
        and name not in CLI_ENTRY_POINTS
    }
    assert {name: cli for name, cli in importers.items() if cli} == {}


def test_the_graph_sees_imports_of_every_kind(tmp_path: Path) -> None:
    """The checks above read real edges: lazy, relative, ``TYPE_CHECKING`` and
    ``from package import module``; and a cycle among them is found."""
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.sub import b\nfrom pkg import c as see\n",
        "pkg/c.py": "def f() -> None:\n    import pkg.d\n",
        "pkg/d.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.e import X\n"
        ),
        "pkg/e.py": "X = 1\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/b.py": "from ..c import f\nfrom . import g\n",
        "pkg/sub/g.py": "import json\n",
    }
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source, encoding="utf-8")
    graph = import_graph(module_names(tmp_path / "pkg"))
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.sub.b", "pkg.c"},
        "pkg.c": {"pkg.d"},
        "pkg.d": {"pkg.e"},
        "pkg.e": set(),
        "pkg.sub": set(),
        "pkg.sub.b": {"pkg.c", "pkg.sub.g"},
        "pkg.sub.g": set(),
    }
    assert find_cycle(graph) is None
    (tmp_path / "pkg/e.py").write_text("from pkg.a import see\n", encoding="utf-8")
    cycle = find_cycle(import_graph(module_names(tmp_path / "pkg")))
    assert cycle == ["pkg.a", "pkg.c", "pkg.d", "pkg.e", "pkg.a"]
