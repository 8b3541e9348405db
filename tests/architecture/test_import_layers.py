"""The package's layers depend downward only, and no module imports itself back through others.

    base (errors, findings, fileio, walk, names, _data, _version)
      → syntax → models (postfix, milter) → keys, dns, reports, edits → system → setup
      → doctor → cli

The facade ``mailconf/__init__`` sits beside ``cli``: it may import anything (lazily), nothing in
the package imports it.  Every ``import`` statement counts, at module level or inside a function:
a function-level import that points upward is the same dependency, only hidden.  A kind's model
and its lint module are tied together by name in ``syntax.kinds`` (a registry of strings), so the
model never imports its linter.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "mailconf"

LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "mailconf._version",
        "mailconf._data",
        "mailconf.errors",
        "mailconf.findings",
        "mailconf.fileio",
        "mailconf.walk",
        "mailconf.rootpath",
        "mailconf.diff",
        "mailconf.names",
    ),
    ("mailconf.syntax",),
    ("mailconf.postfix", "mailconf.milter"),
    ("mailconf.keys", "mailconf.dns", "mailconf.reports", "mailconf.edits"),
    ("mailconf.system",),
    ("mailconf.setup",),
    ("mailconf.doctor",),
    ("mailconf.cli", "mailconf.__main__"),
)
FACADE = "mailconf"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _imports(module: str) -> Iterator[str]:
    """The mailconf modules ``module`` imports (``from x import y`` names module ``x.y`` if it is
    one, else ``x``)."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        yield from (name for name in names if name == FACADE or name.startswith(FACADE + "."))


GRAPH = {module: sorted(set(_imports(module)) - {module}) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        if module != FACADE:
            _layer(module)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != FACADE))
def test_imports_point_down_and_never_at_the_facade(module: str) -> None:
    upward = [
        target for target in GRAPH[module] if target == FACADE or _layer(target) > _layer(module)
    ]
    assert upward == [], f"{module} imports upward: {upward}"


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components over every import edge (package ``__init__``
    modules that only re-export their own submodules excepted)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def edges(module: str) -> list[str]:
        return [
            target
            for target in GRAPH[module]
            if target in MODULES and not target.startswith(module + ".")
        ]

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in MODULES:
        if module not in index:
            visit(module)
    assert cycles == []
