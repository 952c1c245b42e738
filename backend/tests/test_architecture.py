"""The shape of `app/`: no import cycles anywhere, and the AI layer free of the web and domain layers.

The graph is grimp's (the engine of import-linter) and counts every import, including those inside functions
and under `TYPE_CHECKING`: a cycle hidden behind a lazy import is still a cycle.
"""

from __future__ import annotations

import grimp
import pytest


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("app", exclude_type_checking_imports=False)


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a sorted list of names."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(root: str) -> None:
        # Iterative, so a deep import chain cannot hit Python's recursion limit.
        work: list[tuple[str, list[str]]] = []

        def enter(module: str) -> None:
            index[module] = low[module] = len(index)
            stack.append(module)
            on_stack.add(module)
            work.append((module, sorted(graph.find_modules_directly_imported_by(module))))

        enter(root)
        while work:
            module, pending = work[-1]
            if pending:
                target = pending.pop()
                if target not in index:
                    enter(target)
                elif target in on_stack:
                    low[module] = min(low[module], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == index[module]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_app_has_no_import_cycle(graph: grimp.ImportGraph) -> None:
    assert import_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself can fail: a back import like the old `llm.py` ↔ `gigachat.py` pair is reported."""
    graph = grimp.build_graph("app", exclude_type_checking_imports=False)
    graph.add_import(importer="app.ai.types", imported="app.ai.providers.gigachat")
    assert any({"app.ai.types", "app.ai.providers.gigachat"} <= set(group) for group in import_cycles(graph))


@pytest.mark.parametrize("forbidden", ["app.services", "app.api", "app.main", "app.web", "fastapi"])
def test_ai_layer_imports_neither_web_nor_domain(forbidden: str) -> None:
    graph = grimp.build_graph("app", "fastapi", exclude_type_checking_imports=False)
    chain = graph.find_shortest_chains(importer="app.ai", imported=forbidden, as_packages=True)
    assert chain == set()
