"""Imports point one way: edge → use cases → store/surfaces → domain, never back up.

The source of `bot/` and `handlers/` is read with `ast` (nothing is imported), and every import
statement counts — at module level, inside a function, or under `TYPE_CHECKING` — since a
deferred import is still a dependency. `from package import name` counts as an import of
`package.name` when that is a module, else of `package`. The rules: the domain imports no other
package; surfaces and the store import only the domain; use cases (`bot.coach`) and scheduled
work import neither the runtime, the Slack edge, the sandbox nor the fake Slack; the edge
(`handlers`) imports neither the runtime, the sandbox nor the fake Slack; only the CLI's
`sandbox` command imports the sandbox; only the sandbox imports the fake Slack; and no two
modules import each other, directly or round a longer circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOPS = ("bot", "handlers")

USE_CASES_MAY_NOT = {"bot.runtime", "handlers", "bot.sandbox", "bot.fakeslack"}
# package -> the only other packages it may import
ONLY = {
    "bot.domain": set[str](),
    "bot.surfaces": {"bot.domain"},
    "bot.store": {"bot.domain"},
}
# package -> packages it may not import
NEVER = {
    "bot.coach": USE_CASES_MAY_NOT,
    "bot.scheduled": USE_CASES_MAY_NOT,
    "handlers": {"bot.runtime", "bot.sandbox", "bot.fakeslack"},
}


@dataclass(frozen=True)
class Import:
    importer: str  # module name, e.g. "bot.coach.wins"
    imported: str  # module name, e.g. "bot.store"
    where: str  # "bot/coach/wins.py:24"

    def __str__(self) -> str:
        return f"{self.where}: {self.importer} imports {self.imported}"


def find_modules(root: Path) -> dict[str, Path]:
    """Module name -> source file, for every module under the top-level packages."""
    modules: dict[str, Path] = {}
    for top in TOPS:
        for path in sorted((root / top).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _named(node: ast.AST, package: str, modules: dict[str, Path]) -> Iterator[str]:
    """The dotted names one import statement names (before resolving to a known module)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        for alias in node.names:
            candidate = f"{source}.{alias.name}"
            yield candidate if candidate in modules else source


def find_imports(root: Path) -> list[Import]:
    """Every import of one scanned module by another."""
    modules = find_modules(root)
    found: list[Import] = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            for target in _named(node, package, modules):
                while target and target not in modules:  # `import bot.x.Name` -> bot.x
                    target = target.rpartition(".")[0]
                if target and target != name:
                    where = f"{path.relative_to(root).as_posix()}:{getattr(node, 'lineno', 0)}"
                    found.append(Import(name, target, where))
    return list(dict.fromkeys(found))  # `from x import a, b` is one import of x


def package_of(module: str) -> str:
    """The package a module belongs to for the layer rules: `bot.<name>`, or `handlers`."""
    parts = module.split(".")
    if parts[0] == "bot" and len(parts) > 1 and not parts[1].startswith("__"):
        return ".".join(parts[:2])
    return parts[0]


def cycles(imports: list[Import]) -> list[list[str]]:
    """The groups of modules that import each other, directly or round a circle (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for item in imports:
        graph.setdefault(item.importer, set()).add(item.imported)
        graph.setdefault(item.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group: list[str] = []
            while not group or group[-1] != node:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):  # recursion depth: at most the number of modules
        if node not in index:
            visit(node)
    return groups


@pytest.fixture(scope="module", name="imports")
def _imports() -> list[Import]:
    return find_imports(ROOT)


def _report(violations: list[Import]) -> str:
    return "\n".join(str(v) for v in violations)


def test_the_scan_sees_the_packages_and_their_imports(imports: list[Import]) -> None:
    """A guard against a vacuous pass: the scan finds the packages and known imports."""
    packages = {package_of(m) for m in find_modules(ROOT)}
    assert {"bot.domain", "bot.store", "bot.coach", "bot.runtime", "handlers"} <= packages
    pairs = {(i.importer, i.imported) for i in imports}
    assert ("bot.runtime.cli", "bot.runtime.compose") in pairs
    assert ("bot.runtime.cli", "bot.sandbox") in pairs  # imported inside cmd_sandbox: counted


@pytest.mark.parametrize("package", sorted(ONLY))
def test_lower_packages_import_only_what_lies_below(imports: list[Import], package: str) -> None:
    allowed = ONLY[package] | {package}
    violations = [
        i
        for i in imports
        if package_of(i.importer) == package and package_of(i.imported) not in allowed
    ]
    assert not violations, _report(violations)


@pytest.mark.parametrize("package", sorted(NEVER))
def test_use_cases_and_the_edge_never_import_upwards(imports: list[Import], package: str) -> None:
    violations = [
        i
        for i in imports
        if package_of(i.importer) == package and package_of(i.imported) in NEVER[package]
    ]
    assert not violations, _report(violations)


def test_only_the_cli_imports_the_sandbox(imports: list[Import]) -> None:
    violations = [
        i
        for i in imports
        if package_of(i.imported) == "bot.sandbox"
        and package_of(i.importer) != "bot.sandbox"
        and i.importer != "bot.runtime.cli"
    ]
    assert not violations, _report(violations)


def test_the_product_never_imports_the_fake_slack(imports: list[Import]) -> None:
    violations = [
        i
        for i in imports
        if package_of(i.imported) == "bot.fakeslack"
        and package_of(i.importer) not in ("bot.fakeslack", "bot.sandbox")
    ]
    assert not violations, _report(violations)


def test_no_import_cycle_between_modules(imports: list[Import]) -> None:
    groups = cycles(imports)
    lines = []
    for group in groups:
        members = set(group)
        lines.append(" <-> ".join(group))
        lines += [f"    {i}" for i in imports if i.importer in members and i.imported in members]
    assert not groups, "\n".join(lines)


def test_the_scan_finds_a_planted_circle_and_a_wrong_way_import(tmp_path: Path) -> None:
    """The oracle itself: a relative import round a circle, and a domain module reaching up."""
    files = {
        "bot/__init__.py": "",
        "bot/domain/__init__.py": "",
        "bot/domain/a.py": "from . import b\n",
        "bot/domain/b.py": "def f():\n    from bot.domain.a import g\n    return g\n",
        "bot/domain/c.py": "import bot.runtime.x\n",
        "bot/runtime/__init__.py": "",
        "bot/runtime/x.py": "from bot.domain import c\n",
        "handlers/__init__.py": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = find_imports(tmp_path)
    assert sorted(cycles(found)) == [
        ["bot.domain.a", "bot.domain.b"],
        ["bot.domain.c", "bot.runtime.x"],
    ]
    upwards = [str(i) for i in found if package_of(i.importer) == "bot.domain"]
    assert "bot/domain/c.py:1: bot.domain.c imports bot.runtime.x" in upwards
