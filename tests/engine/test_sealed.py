"""The engine is sealed: it imports only itself and the standard library, at module level, in no circle.

Read from the source (ast), so a new import anywhere in trading/engine/ is caught without running it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "trading" / "engine"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ENGINE.parent.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, ast.stmt, bool]]:
    """(absolute module imported, the statement, at module level?) for every import in the file."""
    tree = ast.parse(path.read_text())
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    top = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if node.module is None or node.level and not node.module:
                # `from . import x`: x may be a submodule
                out += [(f"{target}.{a.name}", node, id(node) in top) for a in node.names]
            else:
                out.append((target, node, id(node) in top))
    return out


def _engine_files() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


def test_the_engine_imports_only_itself_and_the_standard_library():
    foreign = []
    for path in _engine_files():
        for target, node, _ in _imports(path):
            root = target.split(".")[0]
            if target.startswith("trading.engine") or root in sys.stdlib_module_names or root == "__future__":
                continue
            foreign.append(f"{path.relative_to(ENGINE)}:{node.lineno} imports {target}")
    assert foreign == []


def test_the_engine_has_no_function_level_imports():
    late = [f"{path.relative_to(ENGINE)}:{node.lineno}" for path in _engine_files()
            for _target, node, at_top in _imports(path) if not at_top]
    assert late == []


def test_the_engine_modules_import_each_other_in_one_direction():
    modules = {_module_name(p): p for p in _engine_files()}
    graph = {m: {t for t, _, _ in _imports(p) if t in modules and t != m} for m, p in modules.items()}
    # a package's __init__ re-exporting its own submodules is not a cycle between modules
    for m in graph:
        graph[m] = {t for t in graph[m] if not (m.startswith(t + ".") and modules[t].name == "__init__.py")}
    cycles = []
    state: dict[str, int] = {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(" -> ".join([*stack[stack.index(t):], t]))
            elif t not in state:
                visit(t, [*stack, t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []
    assert "trading.engine.fills" not in graph["trading.engine.wallet"]


def test_feeds_take_their_bar_from_the_engine():
    from trading.engine.types import Bar
    from trading.feeds import Bar as FeedBar

    assert FeedBar is Bar
