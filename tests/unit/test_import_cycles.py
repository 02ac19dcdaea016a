"""No package of postback imports one that imports it back.

The graph is read from the source with :mod:`ast`: every import counts, at module level,
inside a function (a lazy import) or under ``TYPE_CHECKING`` (a cycle there still means
the two packages cannot be understood, changed or moved apart).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path

import postback

SRC = Path(postback.__file__).parent
Graph = Mapping[str, Mapping[str, str]]  # package -> package it imports -> where


def _unit(parts: tuple[str, ...]) -> str:
    """The package (``storage``) or top-level module (``conditions``, ``__main__``) a path
    is in; the root package's ``__init__.py`` is ``postback``."""
    return "postback" if parts == ("__init__.py",) else parts[0].removesuffix(".py")


def _units(src: Path = SRC) -> set[str]:
    return {_unit(p.relative_to(src).parts) for p in src.rglob("*.py")}


def _imported(node: ast.Import | ast.ImportFrom, package: list[str]) -> Iterator[str]:
    """The dotted names an import statement reaches (relative ones resolved)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = package[: len(package) - node.level + 1] if node.level else []
    module = ".".join([*base, *([node.module] if node.module else [])])
    yield module
    yield from (f"{module}.{alias.name}" for alias in node.names)  # from pkg import module


def import_graph(src: Path = SRC) -> dict[str, dict[str, str]]:
    """Which package imports which, with one place (file:line) that does."""
    units = _units(src)
    graph: dict[str, dict[str, str]] = {}
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src).parts
        source = _unit(parts)
        package = ["postback", *parts[:-1]]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(node, package):
                dotted = name.split(".")
                if dotted[0] != "postback":
                    continue
                # postback.storage..., or a name of the root package (__version__)
                target = dotted[1] if len(dotted) > 1 and dotted[1] in units else "postback"
                if target != source:
                    where = f"{'/'.join(parts)}:{node.lineno}"
                    graph.setdefault(source, {}).setdefault(target, where)
    return graph


def find_cycle(graph: Graph) -> list[str] | None:
    """A path that comes back to where it started (``[a, b, a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done, no cycle through it
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
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


def _explain(graph: Graph, cycle: list[str]) -> str:
    return "; ".join(f"{a} -> {b} at {graph[a][b]}" for a, b in itertools.pairwise(cycle))


def test_no_package_imports_one_that_imports_it_back() -> None:
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, _explain(graph, cycle)


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph()
    assert graph["service"]["storage"].startswith("service/")  # from postback.storage ...
    assert "delivery" in graph["storage"]  # the queue port storage implements
    assert "service" in graph["api"]  # under TYPE_CHECKING in schemas.py, and the routes
    assert "domain" not in graph.get("errors", {})
    assert graph["__main__"] == {"cli": "__main__.py:5"}
    assert "postback" in graph["api"]  # from postback import __version__
    assert set(graph) <= _units()


def test_a_cycle_is_found_and_shown() -> None:
    looped = {"a": {"b": "a.py:1"}, "b": {"c": "b.py:2"}, "c": {"a": "c.py:3"}, "d": {}}
    assert find_cycle(looped) == ["a", "b", "c", "a"]
    assert _explain(looped, ["a", "b", "c", "a"]) == (
        "a -> b at a.py:1; b -> c at b.py:2; c -> a at c.py:3"
    )
    assert find_cycle({"a": {"b": "x"}, "b": {"c": "y"}, "d": {"c": "z"}}) is None


def test_relative_and_lazy_imports_count(tmp_path: Path) -> None:
    for name, text in {
        "one/__init__.py": "",
        "one/a.py": "def f():\n    from ..two import b\n",
        "two/__init__.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    import postback.one.a\n",
        "two/b.py": "",
    }.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path)
    assert graph == {"one": {"two": "one/a.py:2"}, "two": {"one": "two/__init__.py:3"}}
    assert find_cycle(graph) == ["one", "two", "one"]
