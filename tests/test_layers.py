"""The layout rule (DESIGN.md), kept true by tests: import-linter's layers contract and
no import cycle between any two modules of the package."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def module_graph() -> dict[str, set[str]]:
    g = grimp.build_graph("jpegai_eval")
    return {m: set(g.find_modules_directly_imported_by(m)) for m in g.modules}


def test_tarjan_finds_a_planted_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    """Lazy imports inside functions count too: a cycle is a cycle of the design."""
    graph = module_graph()
    assert len(graph) > 40 and "jpegai_eval.framework.run.evaluator" in graph
    cycles = strongly_connected(graph)
    assert cycles == [], f"import cycles: {cycles}"


def test_framework_imports_nothing_above_it():
    """Not even the package root (the plugin API, which stands on framework/)."""
    graph = module_graph()
    upward = sorted(
        (m, t)
        for m, targets in graph.items()
        if m.startswith("jpegai_eval.framework")
        for t in targets
        if (t.startswith("jpegai_eval.") or t == "jpegai_eval")
        and not t.startswith("jpegai_eval.framework")
    )
    assert upward == []


def test_no_framework_module_imports_click():
    """The command line lives in jpegai_eval/cli/; framework/ does not know click."""
    framework = ROOT / "jpegai_eval" / "framework"
    importing = sorted(
        str(path.relative_to(ROOT))
        for path in framework.rglob("*.py")
        if re.search(r"^\s*(import click|from click\b)", path.read_text(), re.MULTILINE)
    )
    assert importing == []


def test_import_linter_contracts_pass():
    exe = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(exe), "--config", str(ROOT / ".importlinter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_lazy_command_points_at_a_real_module():
    import importlib.util

    from jpegai_eval.cli.lazy import LazyCommand
    from jpegai_eval.cli.registration import plugin_commands
    from jpegai_eval.framework.api.plugins import make_plugin_manager

    lazy = [
        r.command
        for r in plugin_commands(make_plugin_manager(load_external=False))
        if isinstance(r.command, LazyCommand)
    ]
    assert len(lazy) >= 9
    for command in lazy:
        module, attribute = command.target.split(":")
        assert importlib.util.find_spec(module) is not None, (command.name, module)
