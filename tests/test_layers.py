"""The layers import downward only (DESIGN.md, "Layers"): qa/ never imports ui/; ui/ never
imports cli, server or main; and no two parts of autoglm_demo import each other, directly or
through others. Read from the source with ast, so a lazy import inside a function counts."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "autoglm_demo"
FORBIDDEN = {"qa": {"ui"}, "ui": {"cli", "server", "main"}}


def imported_parts(source: Path) -> set[str]:
    """The top-level parts of autoglm_demo (a package or module name) `source` imports."""
    parts = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            # `from autoglm_demo import ui` imports the part named after `import`.
            names = (
                [f"{module}.{a.name}" for a in node.names] if module == "autoglm_demo" else [module]
            )
        else:
            continue
        parts.update(name.split(".")[1] for name in names if name.startswith("autoglm_demo."))
    return parts


def import_graph() -> dict[str, dict[str, list[str]]]:
    """part -> imported part -> the files that import it."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for source in sorted(PACKAGE.rglob("*.py")):
        part = source.relative_to(PACKAGE).with_suffix("").parts[0]
        for imported in imported_parts(source) - {part}:
            graph[part][imported].append(str(source.relative_to(PACKAGE.parent)))
    return graph


def reachable(graph: dict[str, dict[str, list[str]]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), {}):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_layer_imports_one_above_it() -> None:
    graph = import_graph()
    upward = [
        f"{source} imports autoglm_demo.{above}"
        for part, banned in FORBIDDEN.items()
        for above in sorted(banned)
        for source in graph.get(part, {}).get(above, [])
    ]
    assert upward == []


def test_no_two_parts_import_each_other() -> None:
    graph = import_graph()
    cycles = sorted(
        f"{a} <-> {b}"
        for a in list(graph)
        for b in reachable(graph, a)
        if a < b and a in reachable(graph, b)
    )
    assert cycles == []


def test_the_checks_see_imports_in_every_form(tmp_path: Path) -> None:
    """The checks above could pass by seeing nothing; these imports must all be seen."""
    source = tmp_path / "sample.py"
    source.write_text(
        "import autoglm_demo.server.api\n"
        "from autoglm_demo import ui\n"
        "from autoglm_demo.qa.store import QaStore\n"
        "from . import relative\n"
        "def later():\n    from autoglm_demo.main import build_pool\n"
    )
    assert imported_parts(source) == {"server", "ui", "qa", "main"}
    graph = import_graph()
    assert "ui" in graph["page_assembly"] and "qa" in graph["ui"] and "client" in graph["answering"]
