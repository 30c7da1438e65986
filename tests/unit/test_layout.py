"""The rules of the house, read from the import statements of the package (no code is run).

The folders of ``harness/`` follow the model: ``plugin -> (workloads, faults, stack, report) ->
judging -> history``, with ``history``, ``errors`` and the Toxiproxy client on the ground floor.
Every failure names the file, the line and the import that breaks a rule.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "harness"
GROUND_FLOOR = {"harness.history", "harness.errors"}
ENGINE_AND_STORE_CLIENTS = ("docker", "psycopg", "redis", "testcontainers", "elasticsearch", "requests",
                            "toxiproxy")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(name: str) -> bool:
    return (ROOT / Path(*name.split(".")) / "__init__.py").is_file()


def imports_of(path: Path, here: str | None = None) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports, anywhere in the file (functions and TYPE_CHECKING included)."""
    here = here or module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                # "from harness import faults" imports the module harness.faults, not a name
                is_module = is_package(child) or (ROOT / Path(*child.split("."))).with_suffix(".py").is_file()
                yield node.lineno, child if is_module else base


def harness_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def folder_of(module: str) -> str:
    """``harness.stack.core`` -> ``harness.stack``; a ground-floor file is its own room."""
    parts = module.split(".")
    return ".".join(parts[:2])


def internal_edges() -> list[tuple[str, str, str]]:
    """(importer module, imported harness module, 'file:line') for imports within the package."""
    edges = []
    for path in harness_files():
        for line, target in imports_of(path):
            if target == "harness" or target.startswith("harness."):
                edges.append((module_name(path), target, f"{rel(path)}:{line}"))
    return edges


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _explain(cycle: list[str], where: dict[tuple[str, str], str]) -> str:
    return "; ".join(f"{a} -> {b} ({where[a, b]})" for a, b in zip(cycle, cycle[1:]))


def _graph(room: Callable[[str], str], skip: Callable[[str, str], bool]) -> tuple[dict, dict]:
    """The import graph between rooms (``room`` maps a module to its room), and where each arrow is."""
    graph: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for src, dst, loc in internal_edges():
        a, b = room(src), room(dst)
        if "harness" in (a, b) or a == b or skip(src, dst):
            continue
        graph.setdefault(a, set()).add(b)
        where.setdefault((a, b), loc)
    return graph, where


def test_no_import_circle_between_files():
    """No module of harness/ reaches itself through imports (the package facade aside)."""
    # importing a submodule runs its package's __init__, which is the package's own affair
    graph, where = _graph(lambda m: m, lambda src, dst: src.startswith(dst + "."))
    cycle = find_cycle(graph)
    assert cycle is None, f"import circle between files: {_explain(cycle, where)}"


def test_no_import_circle_between_folders():
    """The folders of harness/ (and its ground-floor files) import each other one way only."""
    graph, where = _graph(folder_of, lambda src, dst: False)
    cycle = find_cycle(graph)
    assert cycle is None, f"import circle between folders: {_explain(cycle, where)}"


def test_nothing_inside_the_package_imports_its_facade():
    """``from harness import Stack`` is for users; inside harness/ it would tie every module to all."""
    bad = [f"{loc} imports the package facade 'harness'" for src, dst, loc in internal_edges()
           if dst == "harness" and src != "harness"]
    assert bad == []


@pytest.mark.parametrize("room", ["harness.judging", "harness.history"])
def test_judging_and_history_touch_no_engine_or_store(room: str):
    """Checkers and the history are pure: no Docker, database, Redis or HTTP client in them."""
    bad = []
    for path in harness_files():
        if not (module_name(path) == room or module_name(path).startswith(room + ".")):
            continue
        for line, target in imports_of(path):
            if target.split(".")[0] in ENGINE_AND_STORE_CLIENTS:
                bad.append(f"{rel(path)}:{line} imports {target}")
    assert bad == []


def test_judging_uses_only_history_errors_and_itself():
    """The arrows end at judging -> history: judging never reaches up into stack, faults or plugin."""
    bad = [f"{loc} imports {dst}" for src, dst, loc in internal_edges()
           if src.startswith("harness.judging") and not dst.startswith("harness.judging")
           and dst not in GROUND_FLOOR]
    assert bad == []


def test_ground_floor_imports_nothing_of_the_harness():
    """history.py and errors.py are used by everything, so they use nothing of the harness."""
    bad = [f"{loc} imports {dst}" for src, dst, loc in internal_edges() if src in GROUND_FLOOR]
    assert bad == []


def test_no_folder_imports_the_plugin():
    """The pytest plugin is the top floor: only its own modules import harness.plugin."""
    bad = [f"{loc} imports {dst}" for src, dst, loc in internal_edges()
           if dst.startswith("harness.plugin") and not src.startswith("harness.plugin")]
    assert bad == []


def test_compat_server_imports_nothing_of_the_harness():
    """toxiproxy_compat/ stands alone: it is copied into an image that has no harness in it."""
    bad = [f"{rel(path)}:{line} imports {target}"
           for path in sorted((ROOT / "toxiproxy_compat").rglob("*.py"))
           for line, target in imports_of(path) if target.split(".")[0] == "harness"]
    assert bad == []


def test_the_rules_see_a_broken_rule(tmp_path: Path):
    """The import reader finds imports inside functions and TYPE_CHECKING blocks, and cycles."""
    probe = ROOT / "harness" / "judging" / "checkers.py"
    found = {target for _, target in imports_of(probe)}
    assert "harness.history" in found and "harness.judging.phases" in found
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    import docker\n\nif False:\n    from harness.stack import core\n"
                      "from ..history import History\n")
    targets = {target for _, target in imports_of(sneaky, "harness.judging.sneaky")}
    assert {"docker", "harness.stack.core", "harness.history"} <= targets


def test_app_and_harness_do_not_import_each_other():
    """app/ is the service under test, copied alone into its image; the harness only runs it."""
    bad = [f"{rel(path)}:{line} imports {target}"
           for path in sorted((ROOT / "app").rglob("*.py"))
           for line, target in imports_of(path) if target.split(".")[0] == "harness"]
    bad += [f"{rel(path)}:{line} imports {target}"
            for path in harness_files()
            for line, target in imports_of(path) if target.split(".")[0] == "app"]
    assert bad == []


def test_nothing_imports_the_command_line():
    """The dr-harness command (harness/cli/) is a top floor beside the plugin: only it and
    ``python -m harness`` import it."""
    bad = [f"{loc} imports {dst}" for src, dst, loc in internal_edges()
           if dst.startswith("harness.cli") and not src.startswith("harness.cli") and src != "harness.__main__"]
    assert bad == []
